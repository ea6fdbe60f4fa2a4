"""Dataset → trained VQC in one call: what ``compvqc train`` and ``compvqc demo`` run."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from compvqc.data import Dataset, load_dataset
from compvqc.model import VQC, build_model
from compvqc.model.architectures import PAPER_GATE_SET
from compvqc.modelfile import ModelFile
from compvqc.train.loop import TrainResult, evaluate, fit
from compvqc.train.optim import make_optimizer


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

    def model_file(self) -> ModelFile:
        opt = make_optimizer(self.config.optimizer, self.config.lr)
        return ModelFile(
            model=self.model,
            theta=self.result.theta,
            theta_original=self.result.theta,
            dataset=self.dataset.reference,
            training={**self.config.to_dict(), "epochs_done": self.result.epochs, "steps": self.result.steps,
                      "history": self.result.history},
            optimizer={"name": self.config.optimizer, "config": {"lr": opt.lr}, "state": self.result.opt_state._asdict()},
            metrics=self.metrics,
        )


def train_on_dataset(config: TrainConfig, *, data_dir=None, progress=None, callback=None) -> TrainedModel:
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
    theta0 = model.init_params(np.random.default_rng(config.seed))
    result = fit(
        model,
        theta0,
        data.train.x,
        data.train.y,
        epochs=config.epochs,
        seed=config.seed,
        batch_size=config.batch_size,
        optimizer=make_optimizer(config.optimizer, config.lr),
        val=(data.val.x, data.val.y),
        callback=callback,
        progress=progress,
    )
    metrics = {}
    for split in ("train", "val", "test"):
        s = getattr(data, split)
        metrics[f"{split}_loss"], metrics[f"{split}_accuracy"] = evaluate(model, result.theta, s.x, s.y)
    return TrainedModel(config, data, model, result, metrics, time.perf_counter() - start)
