"""Minibatch training of a VQC on the simulator, seeded and reproducible.

Reproducibility: the epoch-e batch order is ``default_rng([seed, e]).permutation(N)``, a pure
function of (seed, epoch), so a run resumed at any step of any epoch replays the same batches
without storing generator state; same seeds → bit-identical parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from compvqc.errors import TrainingError
from compvqc.model.readout import correct, softmax_cross_entropy
from compvqc.train.optim import Adam, apply_updates


@dataclass(frozen=True)
class Event:
    """What a callback sees after each step (``kind='step'``) and each epoch (``'epoch'``)."""

    kind: str
    epoch: int
    step: int  # global step count
    loss: float  # batch loss (step) or mean training loss (epoch)
    theta: np.ndarray
    metrics: dict = field(default_factory=dict)  # epoch: val_loss / val_accuracy if val given
    opt_state: tuple | None = None  # optimizer state after this step (what a checkpoint saves)
    step_in_epoch: int = 0  # batches of ``epoch`` done (step events); a resume point


@dataclass
class TrainResult:
    theta: np.ndarray
    opt_state: tuple
    epochs: int
    steps: int
    history: list[dict]
    resumed_from: int | None = None  # the global step a resumed run continued from
    onchip: dict | None = None  # on-chip runs: executions, gradient selection and history, devices
    save_policy: dict | None = None  # an automatic save interval: what it chose and saw


def batch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def evaluate(model, theta, x, y, batch_size: int = 4096) -> tuple[float, float]:
    """(mean loss, accuracy) of θ on (x, y)."""
    if len(y) == 0:
        raise TrainingError("cannot evaluate on an empty split")
    total_loss, right = 0.0, 0
    for start in range(0, len(y), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        logits = model.logits(theta, xb)
        loss, _ = softmax_cross_entropy(logits, yb)
        total_loss += loss * len(yb)
        right += correct(logits, yb)
    return total_loss / len(y), right / len(y)


def fit(model, theta: np.ndarray, x: np.ndarray, y: np.ndarray, *, epochs: int, seed: int, batch_size: int = 32,
        optimizer=None, opt_state=None, frozen=None, val: tuple[np.ndarray, np.ndarray] | None = None,
        callback: Callable[[Event], object] | None = None, loss_and_grad: Callable | None = None,
        start_epoch: int = 0, start_step: int = 0, progress: bool | None = None) -> TrainResult:
    """Train θ for ``epochs`` epochs of minibatch descent; returns the new θ and optimizer state.

    ``loss_and_grad(theta, xb, yb)`` defaults to the model's exact simulator gradient; pass
    another (an ADMM-penalized loss, a shot-based estimator) to reuse the loop. One with
    ``wants_step = True`` is called as ``loss_and_grad(theta, xb, yb, step=global_step)`` and
    returns ``(loss, grad, skipped)``: the parameters it did not evaluate stay put this step. A callback that
    returns ``False`` stops training after the current step. ``start_epoch``/``start_step``
    resume a run: batches before ``start_step`` in ``start_epoch`` are skipped.
    ``progress=None`` shows a bar only on a terminal.
    """
    if epochs < 0 or batch_size < 1:
        raise TrainingError("epochs must be ≥ 0 and batch_size ≥ 1")
    if len(y) == 0:
        raise TrainingError("the training split is empty")
    optimizer = optimizer or Adam()
    theta = np.array(theta, dtype=np.float64)
    state = opt_state if opt_state is not None else optimizer.init(theta)
    loss_and_grad = loss_and_grad or model.loss_and_grad
    n = len(y)
    per_epoch = -(-n // batch_size)
    step = start_epoch * per_epoch + start_step
    history: list[dict] = []
    stop = False
    epoch = start_epoch
    with tqdm(total=epochs * per_epoch, initial=step, disable=(None if progress is None else not progress),
              desc="train", unit="step", leave=False) as bar:
        for epoch in range(start_epoch, epochs):
            order = batch_order(seed, epoch, n)
            losses = []
            first = start_step if epoch == start_epoch else 0
            for b in range(first, per_epoch):
                idx = order[b * batch_size : (b + 1) * batch_size]
                if getattr(loss_and_grad, "wants_step", False):  # on-chip: seeds and selection per step
                    loss, grad, skipped = loss_and_grad(theta, x[idx], y[idx], step=step)
                    mask = skipped if frozen is None else np.asarray(frozen, dtype=bool) | skipped
                else:
                    (loss, grad), mask = loss_and_grad(theta, x[idx], y[idx]), frozen
                updates, state = optimizer.update(grad, state, mask)
                theta = apply_updates(theta, updates)
                step += 1
                losses.append(loss)
                bar.update(1)
                if callback and callback(Event("step", epoch, step, float(loss), theta, opt_state=state,
                                               step_in_epoch=b + 1)) is False:
                    stop = True
                    break
            if stop and b + 1 < per_epoch:  # stopped mid-epoch: no epoch record, no epoch event
                break
            record = {"epoch": epoch + 1, "step": step, "loss": float(np.mean(losses)) if losses else float("nan")}
            if val is not None:
                record["val_loss"], record["val_accuracy"] = evaluate(model, theta, *val)
            history.append(record)
            bar.set_postfix({k: round(v, 4) for k, v in record.items() if k != "step" and isinstance(v, float)})
            stopping = callback and callback(Event("epoch", epoch + 1, step, record["loss"], theta, record,
                                                   opt_state=state)) is False
            if stop or stopping:  # a step that stopped on the epoch's last batch still sends its epoch event
                break
    return TrainResult(theta, state, epoch + 1 if history else start_epoch, step, history)
