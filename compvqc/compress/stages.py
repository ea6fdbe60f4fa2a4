"""Compression as explicit stages over one run record: levels → ADMM → finalize → retrain → measure.

``levels`` (the method's ``select``, else ReCL) is a pure function of the trained θ, the data
and the LUT, so a resume recomputes it instead of storing it. ``admm`` and
``retrain`` each advance a :class:`RunRecord` — a frozen dataclass of arrays that names the
stage it is in — and hand every record worth keeping to one ``persist`` hook: that is all a
checkpoint needs, and a resumed run passes the record it read back as ``restored`` and goes on
from the stage recorded (``STAGES[record.stage]``). Finalizing — masked gates hard-set to their
level's exact LUT float and frozen — is the step from ``admm`` into ``retrain``; measuring
(accuracy and the true TCD of the result) ends :func:`compress`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from compvqc.compile.estimate import Estimator
from compvqc.compile.cost import best_compilation
from compvqc.compile.objective import costs_for
from compvqc.compile.tcd import tcd_circuit
from compvqc.compress.admm import ADMM, Finalized, finalize
from compvqc.compress.groups import tie
from compvqc.compress.levels import candidate_levels
from compvqc.compress.methods import CompressConfig, check_compressible, get_method
from compvqc.compress.recl import accuracy, recl
from compvqc.compress.state import ADMMState
from compvqc.train.loop import fit
from compvqc.train.optim import Adam


@dataclass(frozen=True)
class RunRecord:
    """Everything a compression run has done, as arrays: what a checkpoint stores."""

    stage: str
    """``admm`` (iterating), ``retrain`` (finalized, retraining) or ``done``."""
    theta: np.ndarray
    mask: np.ndarray
    """The gates put on their level (one bit per gate)."""
    admm: ADMMState = field(default_factory=ADMMState)
    opt_state: tuple | None = None
    """The running stage's Adam state (ADMM's θ-steps, then retraining's)."""
    history: tuple = ()
    """ADMM's report per iteration."""
    epoch: int = 0
    """Retraining epochs done."""


@dataclass(frozen=True)
class Job:
    """What every stage reads: the problem, the chosen levels and the hooks."""

    model: object
    data: object
    config: CompressConfig
    targets: list
    """Per gate, its level (a LUT Entry) or None."""
    estimator: Estimator | None
    persist: Callable[[RunRecord, list], None]
    progress: bool | None = None
    warm_mask: np.ndarray | None = None
    fixed_mask: np.ndarray | None = None
    """The mask ``select`` chose for an ADMM method (kept by every iteration)."""


def _epochs(job: Job, epochs: int, min_steps: int) -> int:
    """At least ``min_steps`` optimizer steps: small datasets get more epochs."""
    per_epoch = -(-len(job.data.train) // job.config.batch_size)
    return max(epochs, -(-min_steps // per_epoch))


def _admm(job: Job, rec: RunRecord) -> RunRecord:
    """ADMM iterations from the record's state to convergence or the last; persisted each."""
    config = job.config
    admm = ADMM(job.model, job.targets, config.admm, estimator=job.estimator, mask=job.fixed_mask)
    opt = Adam(lr=config.admm.lr)
    state, theta, opt_state, history = rec.admm, rec.theta, rec.opt_state, list(rec.history)
    if state.empty:
        state, opt_state = admm.init(theta, warm_mask=job.warm_mask), opt.init(theta)
    epochs = _epochs(job, config.admm.epochs, config.admm.min_steps)
    converged = bool(history and history[-1].get("converged"))
    for r in range(state.iteration, 0 if converged else config.admm.iterations):
        result = fit(job.model, theta, job.data.train.x, job.data.train.y, epochs=(r + 1) * epochs,
                     seed=config.seed, batch_size=config.batch_size, optimizer=opt, opt_state=opt_state,
                     loss_and_grad=admm.penalized(job.model.loss_and_grad, state), start_epoch=r * epochs,
                     progress=job.progress)
        theta, opt_state = result.theta, result.opt_state
        state, report = admm.update(theta, state)
        history.append({"iteration": state.iteration, "rho": state.rho / config.admm.rho_growth, **report.to_dict()})
        if report.converged or state.iteration == config.admm.iterations:
            break
        job.persist(RunRecord("admm", theta, state.mask, state, opt_state, tuple(history)), job.targets)
    final = finalize(job.model, theta, state.mask, job.targets)
    out = RunRecord("retrain", final.theta, state.mask, state, Adam(lr=config.retrain_lr).init(theta), tuple(history))
    job.persist(out, job.targets)
    return out


def _retrain(job: Job, rec: RunRecord) -> RunRecord:
    """Masked gates frozen at their exact LUT floats, the rest retrained for the shared budget;
    persisted after every epoch."""
    config = job.config
    final = finalize(job.model, rec.theta, rec.mask, job.targets)

    def on_epoch(event):
        if event.kind == "epoch":
            job.persist(replace(rec, theta=event.theta, opt_state=event.opt_state, epoch=event.epoch), job.targets)

    epochs = _epochs(job, config.retrain_epochs, config.retrain_min_steps) if config.retrain_epochs else 0
    result = fit(job.model, final.theta, job.data.train.x, job.data.train.y, epochs=epochs, seed=config.seed + 1,
                 batch_size=config.batch_size, optimizer=Adam(lr=config.retrain_lr), opt_state=rec.opt_state,
                 frozen=final.frozen, start_epoch=rec.epoch, callback=on_epoch, progress=job.progress)
    theta = result.theta
    theta[final.frozen] = final.theta[final.frozen]  # exactly the LUT floats (they never moved)
    return replace(rec, stage="done", theta=theta, opt_state=result.opt_state, epoch=result.epochs)


STAGES: dict[str, Callable[[Job, RunRecord], RunRecord]] = {"admm": _admm, "retrain": _retrain}


def levels(model, theta, data, lut, config: CompressConfig) -> tuple[list, np.ndarray | None]:
    """The first stage: (a level or None per gate, the chosen mask or None when ADMM scores it)."""
    method = get_method(config.method)
    if method.select is None:
        choices = recl(model, theta, lut, candidate_levels(model, lut, method.lut_kinds), data.val.x, data.val.y,
                       context=config.context, costs=costs_for(config.objective, lut))
        targets, mask = [c.level for c in choices], None
    else:
        targets, mask = method.select(model, theta, data, lut, config)
    return (targets, mask) if model.plain_weights else tie(model, targets, mask)  # one decision per weight


def compress_parameters(model, theta, data, lut, config: CompressConfig, *, restored: RunRecord | None = None,
                        persist: Callable[[RunRecord, list], None] | None = None, warm_mask=None, progress=None,
                        clock: dict | None = None) -> tuple[RunRecord, Finalized, list]:
    """The parameter side of compression (no transpiling): levels, ADMM, finalize, retrain.

    Returns the finished record (``record.theta`` is the compressed θ), the finalized masks and
    the level per gate. ``persist(record)`` receives every record a resume may start from;
    ``restored`` is one of them, read back.
    """
    clock = {} if clock is None else clock
    theta = np.asarray(theta, dtype=np.float64)
    t = time.perf_counter()
    targets, mask = levels(model, theta, data, lut, config)
    clock["recl" if mask is None else "select"] = time.perf_counter() - t
    admm = get_method(config.method).admm
    job = Job(model, data, config, targets,
              Estimator(model, lut, costs_for(config.objective, lut)) if config.context else None,
              persist or (lambda record, targets: None), progress, warm_mask, mask if admm else None)
    rec = restored or (RunRecord("admm", theta, np.zeros(len(targets), bool)) if admm
                       else RunRecord("retrain", theta, mask, opt_state=Adam(lr=config.retrain_lr).init(theta)))
    while rec.stage != "done":
        t = time.perf_counter()
        stage = rec.stage
        rec = STAGES[stage](job, rec)
        clock[stage] = clock.get(stage, 0.0) + time.perf_counter() - t
    return rec, finalize(model, rec.theta, rec.mask, targets), targets


@dataclass
class CompressionResult:
    method: str
    theta: np.ndarray
    final: Finalized | None
    targets: list
    record: RunRecord | None
    metrics: dict
    seconds: dict  # wall time per stage


def evaluate_splits(model, theta, data) -> dict:
    return {"val_accuracy": accuracy(model, theta, data.val.x, data.val.y),
            "test_accuracy": accuracy(model, theta, data.test.x, data.test.y)}


def compiled(model, theta, backend, seeds) -> dict:
    """The true TCD of θ and the cost measures of that compilation (``compile.cost``)."""
    best = best_compilation(tcd_circuit(model, theta), model.n_qubits, backend, seeds)
    return {k: best[k] for k in ("tcd", "two_qubit_gates", "duration", "success_probability")}


def compress(model, theta, data, backend, lut, config: CompressConfig, *, restored: RunRecord | None = None,
             persist=None, warm_mask=None, progress=None, vanilla_metrics=None, tcd: bool = True) -> CompressionResult:
    """Compress θ of ``model`` for ``backend`` with ``lut``: every stage, then measure the
    vanilla and the compressed model (accuracy per split, true TCD and the other cost
    measures). ``vanilla_metrics`` may give the vanilla model's accuracies (and TCD) when the
    caller has them already; ``tcd=False`` leaves the compressed model's TCD to a caller that
    transpiles it anyway (the harness deploys it once for its cost measures)."""
    check_compressible(model, config.method)
    theta = np.asarray(theta, dtype=np.float64)
    clock: dict[str, float] = {}
    costs_for(config.objective, lut, backend)  # measured (or read from the cache) with this backend
    t = time.perf_counter()
    vanilla = dict(vanilla_metrics or evaluate_splits(model, theta, data))
    if "tcd" not in vanilla:
        vanilla.update(compiled(model, theta, backend, config.tcd_seeds))
    clock["vanilla_tcd"] = time.perf_counter() - t
    method = get_method(config.method)
    if not method.retrains:  # vanilla, or a method that measures its own result (qiskit-approx)
        t = time.perf_counter()
        comp = dict(vanilla) if method.run is None else method.run(model, theta, data, backend, config)
        clock[method.name] = time.perf_counter() - t
        return CompressionResult(method.name, theta, None, [None] * len(model.gates), None,
                                 {"vanilla": vanilla, "compressed": comp}, clock)
    rec, final, targets = compress_parameters(model, theta, data, lut, config, restored=restored, persist=persist,
                                              warm_mask=warm_mask, progress=progress, clock=clock)
    t = time.perf_counter()
    comp = evaluate_splits(model, rec.theta, data)
    if tcd:
        comp.update(compiled(model, rec.theta, backend, config.tcd_seeds))
    clock["final_tcd"] = time.perf_counter() - t
    return CompressionResult(method.name, rec.theta, final, targets, rec, {"vanilla": vanilla, "compressed": comp},
                             clock)


def retrain(model, final: Finalized, data, config: CompressConfig, targets, progress=False) -> np.ndarray:
    """Retrain the unmasked parameters of ``final`` (the masked ones stay on their levels)."""
    job = Job(model, data, config, targets, None, lambda record, targets: None, progress)
    mask = final.prune_mask | final.quant_mask
    start = RunRecord("retrain", final.theta, mask, opt_state=Adam(lr=config.retrain_lr).init(final.theta))
    return _retrain(job, start).theta
