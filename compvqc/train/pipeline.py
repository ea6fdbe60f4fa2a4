"""Dataset → trained VQC in one call: what ``compvqc train`` and ``compvqc demo`` run."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np

from compvqc.data import Dataset, load_dataset
from compvqc.model import VQC, build_model
from compvqc.model.architectures import PAPER_GATE_SET
from compvqc.checkpoint import Checkpoint, CheckpointError, CheckpointManager
from compvqc.errors import CompVQCError
from compvqc.train.loop import TrainResult, evaluate, fit
from compvqc.train.optim import make_optimizer


class Interrupted(CompVQCError):
    """Training stopped on SIGTERM/SIGINT after saving a final checkpoint."""

    def __init__(self, signum: int, path):
        super().__init__(f"interrupted by signal {signum}; saved {path} (continue with --resume)")
        self.signum = signum
        self.path = path


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (stored in the model file)."""

    dataset: str
    arch: str = "random50"
    arch_seed: int = 0
    encoder: str | None = None  # None: the dataset's default
    gate_set: tuple[str, ...] = PAPER_GATE_SET
    epochs: int = 30
    seed: int = 0
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 0.01
    preprocess: str = "scale"
    val_fraction: float = 0.1
    split_seed: int = 0
    n_samples: int = 1000  # synthetic sets only
    max_train: int | None = None

    def to_dict(self) -> dict:
        d = self.__dict__.copy()
        d["gate_set"] = list(self.gate_set)
        return d


@dataclass
class TrainedModel:
    config: TrainConfig
    dataset: Dataset
    model: VQC
    result: TrainResult
    metrics: dict
    seconds: float

    def checkpoint(self) -> Checkpoint:
        """The trained model as a checkpoint (θ is also the original, pre-compression θ)."""
        return training_checkpoint(self.config, self.dataset, self.model, self.result.theta, self.result.opt_state,
                                   epoch=self.config.epochs, step_in_epoch=0, step=self.result.steps,
                                   history=self.result.history, metrics={"vanilla": self.metrics}, stage="trained")


def training_checkpoint(config, dataset, model, theta, opt_state, *, epoch, step_in_epoch, step, history,
                        metrics=None, stage="training") -> Checkpoint:
    opt = make_optimizer(config.optimizer, config.lr)
    return Checkpoint(
        model=model,
        theta=theta,
        theta_original=theta,
        optimizer={"name": config.optimizer, "config": {"lr": opt.lr}},
        optimizer_state=opt_state._asdict(),
        run={
            "stage": stage,
            "epoch": epoch,  # epochs completed
            "step_in_epoch": step_in_epoch,  # batches done in the next epoch
            "step": step,
            # Batch order is default_rng([seed, epoch]).permutation(N): no generator state to keep.
            "rng": {"kind": "derived", "seed": config.seed, "batch_order": "default_rng([seed, epoch])"},
            "history": history,
        },
        dataset=dataset.reference,
        training={"config": config.to_dict()},
        metrics=metrics or {},
    )


def _resume_point(manager: CheckpointManager, config: TrainConfig, optimizer):
    ckpt = manager.restore()
    if ckpt is None:
        return None
    stored = (ckpt.training or {}).get("config", {})
    mine = config.to_dict()
    differ = sorted(k for k in mine if k != "epochs" and stored.get(k) != mine[k])
    if differ:
        raise CheckpointError(f"{manager.directory}: the saved run used different settings ({', '.join(differ)})")
    if ckpt.run.get("stage") not in ("training", "trained"):
        raise CheckpointError(f"{manager.directory}: not a training run (stage {ckpt.run.get('stage')!r})")
    state = optimizer.state_from_dict(ckpt.optimizer_state)
    return ckpt, state


def train_on_dataset(config: TrainConfig, *, data_dir=None, progress=None, callback=None,
                     manager: CheckpointManager | None = None, resume: bool = False) -> TrainedModel:
    """Load the data, build the model, train, evaluate every split.

    With a ``manager``, checkpoints are saved as its policy says and once more on SIGTERM/SIGINT
    (then ``Interrupted`` is raised); ``resume`` continues from its newest valid checkpoint and
    ends bit-identical to an uninterrupted run.
    """
    start = time.perf_counter()
    data = load_dataset(
        config.dataset,
        data_dir=data_dir,
        preprocess=config.preprocess,
        val_fraction=config.val_fraction,
        split_seed=config.split_seed,
        n_samples=config.n_samples,
        max_train=config.max_train,
    )
    model = build_model(
        config.encoder or data.default_encoder,
        config.arch,
        data.n_classes,
        arch_seed=config.arch_seed,
        gate_set=config.gate_set,
        n_features=data.n_features,
    )
    result = run_training(config, data, model, progress=progress, callback=callback, manager=manager, resume=resume)
    metrics = {}
    for split in ("train", "val", "test"):
        s = getattr(data, split)
        metrics[f"{split}_loss"], metrics[f"{split}_accuracy"] = evaluate(model, result.theta, s.x, s.y)
    return TrainedModel(config, data, model, result, metrics, time.perf_counter() - start)



def run_training(config: TrainConfig, data: Dataset, model: VQC, *, progress=None, callback=None,
                 manager: CheckpointManager | None = None, resume: bool = False) -> TrainResult:
    """The training loop of ``train_on_dataset`` on already loaded data (what benchmarks time)."""
    optimizer = make_optimizer(config.optimizer, config.lr)
    theta0 = model.init_params(np.random.default_rng(config.seed))
    opt_state, start_epoch, start_step, history = None, 0, 0, []
    if manager is not None and resume:
        found = _resume_point(manager, config, optimizer)
        if found is not None:
            ckpt, opt_state = found
            theta0 = ckpt.theta
            start_epoch, start_step = int(ckpt.run["epoch"]), int(ckpt.run["step_in_epoch"])
            history = list(ckpt.run.get("history", []))
    per_epoch = -(-len(data.train) // config.batch_size)
    saved = {}

    def save(theta, state, epoch, step_in_epoch, step):
        ck = training_checkpoint(config, data, model, theta, state, epoch=epoch, step_in_epoch=step_in_epoch,
                                 step=step, history=history + record_so_far)
        saved["path"] = manager.save(ck, step=step, metric=(record_so_far[-1].get("val_accuracy")
                                                            if record_so_far else None))

    record_so_far: list[dict] = []

    def on_event(event):
        if callback is not None and callback(event) is False:
            return False
        if manager is None:
            return None
        if event.kind == "epoch":
            record_so_far.append(event.metrics)
            if manager.due(step=event.step, epoch_end=event.epoch) or manager.stop_requested:
                save(event.theta, event.opt_state, event.epoch, 0, event.step)
            return False if manager.stop_requested else None
        if event.step_in_epoch == per_epoch:  # the epoch event follows at once
            return None
        if manager.due(step=event.step) or manager.stop_requested:
            save(event.theta, event.opt_state, event.epoch, event.step_in_epoch, event.step)
        return False if manager.stop_requested else None

    with (manager.catch_signals() if manager is not None else contextlib.nullcontext()):
        result = fit(
            model,
            theta0,
            data.train.x,
            data.train.y,
            epochs=config.epochs,
            seed=config.seed,
            batch_size=config.batch_size,
            optimizer=optimizer,
            opt_state=opt_state,
            val=(data.val.x, data.val.y),
            callback=on_event,
            start_epoch=start_epoch,
            start_step=start_step,
            progress=progress,
        )
    result.history = history + result.history
    if manager is not None:
        manager.flush()
        if manager.stop_requested:
            raise Interrupted(manager.stop_requested, saved.get("path"))
    return result
