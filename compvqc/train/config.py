"""The settings of a training run: one frozen dataclass, validated when it is made."""

from __future__ import annotations

from dataclasses import dataclass

from compvqc.errors import TrainingError
from compvqc.limits import MAX_BATCH, MAX_EPOCHS, MAX_LR, MAX_SAMPLES, MAX_SEED, MAX_SHOTS
from compvqc.model.architectures import PAPER_GATE_SET
from compvqc.train.gradients import GRADIENTS, get_gradient
from compvqc.train.optim import OPTIMIZERS


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
    gradient: str = "adjoint"  # a rule of compvqc.train.gradients.GRADIENTS
    preprocess: str = "scale"
    val_fraction: float = 0.1
    split_seed: int = 0
    n_samples: int = 1000  # synthetic sets only
    max_train: int | None = None
    label: str | None = None  # a .csv file's label column (None: the last)
    circuit: str | None = None  # an OpenQASM 3 file: the model instead of encoder + arch
    circuit_inputs: str = "x"  # its input parameters: a vector name (x[i] / _x_i_) ...
    circuit_weights: str = "θ"  # ... and its trainable ones (qiskit's ansätze name theirs θ)
    # On-chip training (compvqc.onchip): gradients measured on a backend with shots.
    device: str | None = None  # the backend trained on (None: the simulator); may change on resume
    shots: int = 0  # per circuit; 0 (noise-free only): exact distributions
    noise: bool = True  # the device's noise model (fake backends); False: noise-free
    engine: str = "auto"  # auto | density | aer (compvqc.deploy.executors.ENGINES)
    pgp: str | None = None  # probabilistic gradient pruning, "r=0.5,wa=1,wp=2"
    pgp_mode: str = "probabilistic"  # or "deterministic" (the largest accumulated gradients)
    freeze: str | None = None  # "0.25@5": freeze 25 % of parameters after 5 epochs

    def __post_init__(self):
        """Every setting checked before any data is loaded: one ``TrainingError`` naming it. Files
        (data, circuit) are read, and so checked, first thing in training: a stored configuration
        stays valid when its file has moved."""

        from compvqc.data import DATASETS
        from compvqc.data.user import is_user_file
        from compvqc.model.architectures import check_arch

        if not is_user_file(self.dataset) and self.dataset not in DATASETS:
            raise TrainingError(f"unknown dataset {self.dataset!r} (known: {', '.join(DATASETS)}, "
                                f"or a .npz or .csv file)")
        check_arch(self.arch, self.gate_set)
        if self.label is not None and not (isinstance(self.label, str) and str(self.dataset).lower().endswith(".csv")):
            raise TrainingError("label names a column of a .csv data file")
        if self.circuit is not None and not isinstance(self.circuit, str):
            raise TrainingError("circuit must be a file path")
        for name in ("circuit_inputs", "circuit_weights"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise TrainingError(f"{name} must name a parameter vector")
        _int("epochs", self.epochs, 0, MAX_EPOCHS)
        _int("batch_size", self.batch_size, 1, MAX_BATCH)
        for name in ("arch_seed", "seed", "split_seed"):
            _int(name, getattr(self, name), 0, MAX_SEED)
        _int("n_samples", self.n_samples, 2, MAX_SAMPLES)
        if self.max_train is not None:
            _int("max_train", self.max_train, 1, MAX_SAMPLES)
        if self.optimizer not in OPTIMIZERS:
            raise TrainingError(f"unknown optimizer {self.optimizer!r} (use {' or '.join(OPTIMIZERS)})")
        rule = get_gradient(self.gradient)
        self._check_device(rule)
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not 0 < self.lr <= MAX_LR:
            raise TrainingError(f"lr must be a number in (0, {MAX_LR:g}], got {self.lr!r}")
        if isinstance(self.val_fraction, bool) or not isinstance(self.val_fraction, (int, float)) \
                or not 0 < self.val_fraction < 1:
            raise TrainingError(f"val_fraction must be in (0, 1), got {self.val_fraction!r}")

    def _check_device(self, rule) -> None:
        """On-chip settings: a device needs a rule with a device form; PGP and freezing need a device."""
        from compvqc.train.selection import PGP, PGP_MODES, Freeze

        _int("shots", self.shots, 0, MAX_SHOTS)
        if self.device is None:
            if rule.needs:
                raise TrainingError(f"gradient rule {rule.name} needs {' and '.join(rule.needs)}, which simulator "
                                    f"training does not have")
            if self.shots or self.pgp or self.freeze:
                raise TrainingError("shots, PGP and freezing need a device to train on (--backend with --shots)")
            return
        if not isinstance(self.device, str) or not self.device:
            raise TrainingError("device must name a backend")
        if not rule.on_device:
            raise TrainingError(f"gradient rule {rule.name} cannot run on a device: use "
                                f"{' or '.join(r.name for r in GRADIENTS.values() if r.on_device)}")
        if not isinstance(self.noise, bool):
            raise TrainingError("noise must be true or false")
        if self.shots == 0 and self.noise:
            raise TrainingError("exact distributions (shots 0) exist only without noise: give --shots")
        if not isinstance(self.engine, str):  # the engine's name is checked by compvqc.onchip, which knows them
            raise TrainingError("engine must name a simulation engine")
        if self.pgp is not None:
            PGP.parse(self.pgp, self.pgp_mode)
        elif self.pgp_mode not in PGP_MODES:
            raise TrainingError(f"the PGP mode must be {' or '.join(PGP_MODES)}, got {self.pgp_mode!r}")
        if self.freeze is not None:
            Freeze.parse(self.freeze)

    def to_dict(self) -> dict:
        return {**self.__dict__, "gate_set": list(self.gate_set)}

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
