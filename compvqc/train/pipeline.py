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
from compvqc.errors import CompVQCError, Terminated, TrainingError
from compvqc.limits import MAX_BATCH, MAX_EPOCHS, MAX_LR, MAX_SAMPLES, MAX_SEED
from compvqc.train.loop import TrainResult, evaluate, fit
from compvqc.train.optim import OPTIMIZERS, make_optimizer


class Interrupted(CompVQCError):
    """Training stopped on SIGTERM/SIGINT after saving a final checkpoint."""

    def __init__(self, signum: int, path):
        saved = f"saved {path}" if path else "no checkpoint saved yet"
        super().__init__(f"interrupted by signal {signum}; {saved} (continue with --resume)")
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

    def __post_init__(self):
        """Every setting checked before any data is loaded: one ``TrainingError`` naming it."""
        from compvqc.data import DATASETS
        from compvqc.model.architectures import check_arch

        if self.dataset not in DATASETS:
            raise TrainingError(f"unknown dataset {self.dataset!r} (known: {', '.join(DATASETS)})")
        check_arch(self.arch, self.gate_set)
        _int("epochs", self.epochs, 0, MAX_EPOCHS)
        _int("batch_size", self.batch_size, 1, MAX_BATCH)
        for name in ("arch_seed", "seed", "split_seed"):
            _int(name, getattr(self, name), 0, MAX_SEED)
        _int("n_samples", self.n_samples, 2, MAX_SAMPLES)
        if self.max_train is not None:
            _int("max_train", self.max_train, 1, MAX_SAMPLES)
        if self.optimizer not in OPTIMIZERS:
            raise TrainingError(f"unknown optimizer {self.optimizer!r} (use {' or '.join(OPTIMIZERS)})")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not 0 < self.lr <= MAX_LR:
            raise TrainingError(f"lr must be a number in (0, {MAX_LR:g}], got {self.lr!r}")
        if isinstance(self.val_fraction, bool) or not isinstance(self.val_fraction, (int, float)) \
                or not 0 < self.val_fraction < 1:
            raise TrainingError(f"val_fraction must be in (0, 1), got {self.val_fraction!r}")

    def to_dict(self) -> dict:
        d = self.__dict__.copy()
        d["gate_set"] = list(self.gate_set)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """A stored configuration, validated like a new one (unknown keys refused)."""
        if not isinstance(d, dict):
            raise TrainingError("a training configuration must be a JSON object")
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise TrainingError(f"unknown training settings {unknown}")
        d = dict(d)
        if "gate_set" in d:
            if not isinstance(d["gate_set"], list) or not all(isinstance(g, str) for g in d["gate_set"]):
                raise TrainingError("gate_set must be a list of gate names")
            d["gate_set"] = tuple(d["gate_set"])
        try:
            return cls(**d)
        except TypeError as e:
            raise TrainingError(f"incomplete training configuration ({e})") from None



def _int(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise TrainingError(f"{name} must be an integer in {low}..{high}, got {value!r}")


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


def _resume_point(manager: CheckpointManager, config: TrainConfig, optimizer, per_epoch: int):
    """The newest valid checkpoint of a run with these settings, checked against them, or None.

    Every setting that changes the result must match; ``epochs`` may grow (the run continues
    to the longer target, bit-identical to a run that had it from the start) but not fall below
    what is already trained. The counters must lie within the run.
    """
    ckpt = manager.restore()
    if ckpt is None:
        return None
    where = manager.restored_from
    stored = (ckpt.training or {}).get("config", {})
    mine = config.to_dict()
    differ = sorted(k for k in mine if k != "epochs" and stored.get(k) != mine[k])
    if differ:
        raise CheckpointError(f"{manager.directory}: the saved run used different settings ({', '.join(differ)})")
    if ckpt.run.get("stage") not in ("training", "trained"):
        raise CheckpointError(f"{manager.directory}: not a training run (stage {ckpt.run.get('stage')!r})")
    epoch, in_epoch, step = (ckpt.run.get(k) for k in ("epoch", "step_in_epoch", "step"))
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (epoch, in_epoch, step)) \
            or in_epoch >= per_epoch or step != epoch * per_epoch + in_epoch:
        raise CheckpointError(f"{where}: run counters (epoch {epoch!r}, step_in_epoch {in_epoch!r}, step {step!r}) "
                              f"do not fit a run of {per_epoch} steps per epoch")
    if epoch + (in_epoch > 0) > config.epochs:
        raise CheckpointError(f"{where}: the saved run has trained {epoch} epochs{' and part of one' if in_epoch else ''}, "
                              f"more than epochs={config.epochs}; resume with at least {epoch + (in_epoch > 0)}")
    history = ckpt.run.get("history", [])
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise CheckpointError(f"{where}: run history must be a list of records")
    try:
        state = optimizer.state_from_dict(ckpt.optimizer_state)
    except KeyError as e:
        raise CheckpointError(f"{where}: optimizer state lacks {e} for {optimizer.name}") from None
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
    per_epoch = -(-len(data.train) // config.batch_size)
    resumed_from = None
    if manager is not None and resume:
        found = _resume_point(manager, config, optimizer, per_epoch)
        if found is not None:
            ckpt, opt_state = found
            theta0 = ckpt.theta
            start_epoch, start_step = int(ckpt.run["epoch"]), int(ckpt.run["step_in_epoch"])
            history = list(ckpt.run.get("history", []))
            resumed_from = int(ckpt.run["step"])
            manager.log(f"compvqc: resumed from step {resumed_from} (epoch {start_epoch}, "
                        f"{start_step} steps into the next) of {manager.restored_from}")
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

    try:
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
        if manager is not None:
            manager.flush()
    except Terminated as e:  # outside the loop's own handling: between epochs' end and the flush
        if manager is None:
            raise
        manager.flush()
        raise Interrupted(e.signum, saved.get("path")) from None
    result.history = history + result.history
    result.resumed_from = resumed_from
    if manager is not None and manager.stop_requested:
        raise Interrupted(manager.stop_requested, saved.get("path"))
    return result
