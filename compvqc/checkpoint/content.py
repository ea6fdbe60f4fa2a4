"""What a compvqc checkpoint holds (the schema, format version 2) and the checks that keep it consistent.

Essential (HotStorage'25 §4.1): parameters θ, optimizer state, hardware profile, shots.
Optional (§4.2): gradient history, pruning/quantization masks with levels, qubit mapping.
compvqc adds: the original, pre-compression θ (so compression can be redone for another
backend), the circuit definition, LUT provenance, ADMM state, dataset reference, training
configuration, counters and RNG state (so a resumed run continues exactly), and metrics.

Unset fields are empty (zero-length arrays, empty dicts), so later features fill fields instead
of changing the format; a field added later (``since``) is optional, and older files get its
empty default. ``SCHEMA`` lists every field once: the container, the process writer, ``inspect``
and ``validate`` (shapes, finiteness) iterate it.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace

import numpy as np

from compvqc.compress.state import ADMMState  # noqa: F401 - part of the checkpoint's content
from compvqc.errors import CheckpointError
from compvqc.model.circuit import VQC

from compvqc.limits import MAX_ITERATIONS, MAX_SHOTS, MAX_STEPS

FORMAT = "compvqc-checkpoint"
VERSION = 2


@dataclass(frozen=True)
class Field:
    """One entry of the checkpoint schema."""

    name: str
    """The attribute (``admm.Z``: attribute ``Z`` of ``Checkpoint.admm``); an array's initializer name."""
    kind: str
    """``array`` (one initializer), ``arrays`` (a dict of them, ``optimizer.<key>``), ``document``
    (JSON in ``metadata_props``), ``scalar`` (a number in ``metadata_props``) or ``model`` (the circuit)."""
    dtype: str | None = None
    required: bool = True
    """A file written since version ``since`` has it; older files get the field's empty default."""
    since: int = 1
    shape: tuple | None = None
    """An array's shape in the model's terms (``gates``, ``params``, ``qubits``; ``*`` any size)."""
    empty: bool = False
    """A zero-length array means "not set" (and passes the shape check)."""
    finite: bool = False
    """No NaN or infinity allowed."""


# Every field, in the order the file stores them: a new field is one row here (and its dataclass attribute), and a test.
SCHEMA = (
    Field("model", "model"),
    Field("theta", "array", "float64", shape=("params",), finite=True),
    Field("theta_original", "array", "float64", shape=("params",), finite=True),
    Field("prune_mask", "array", "bool", shape=("gates",)),
    Field("quant_mask", "array", "bool", shape=("gates",)),
    Field("levels", "array", "float64", shape=("gates", 3)),  # NaN where unused; stored as the masked rows only
    Field("admm.Z", "array", "float64", shape=("params",), empty=True, finite=True),
    Field("admm.u", "array", "float64", shape=("params",), empty=True, finite=True),
    Field("admm.rho", "array", "float64", shape=(), finite=True),
    Field("admm.iteration", "array", "int64", shape=()),
    Field("admm.prev_theta", "array", "float64", required=False, since=2, shape=("params",), empty=True, finite=True),
    Field("admm.mask", "array", "bool", required=False, since=2, shape=("gates",), empty=True),
    Field("qubit_mapping", "array", "int64", shape=("qubits",), empty=True),
    Field("gradient_history", "array", "float64", shape=("*", "params")),
    Field("optimizer_state", "arrays"),
    Field("shots", "scalar", "int64"),
    Field("optimizer", "document"),
    Field("run", "document"),
    Field("hardware_profile", "document"),  # its per-qubit and per-edge arrays become initializers
    Field("lut_provenance", "document"),
    Field("dataset", "document"),
    Field("training", "document"),
    Field("metrics", "document"),
)
ARRAYS = tuple(f for f in SCHEMA if f.kind == "array")
DOCUMENTS = tuple(f.name for f in SCHEMA if f.kind == "document")


@dataclass
class Checkpoint:
    model: VQC
    theta: np.ndarray
    theta_original: np.ndarray | None = None
    prune_mask: np.ndarray | None = None  # bool per gate
    quant_mask: np.ndarray | None = None  # bool per gate
    levels: np.ndarray | None = None  # (n_gates, 3) float64; NaN where unused or unmasked
    optimizer: dict = field(default_factory=dict)  # {"name", "config"}; arrays in optimizer_state
    optimizer_state: dict = field(default_factory=dict)  # name -> array (Adam: count, mu, nu)
    admm: ADMMState = field(default_factory=ADMMState)
    run: dict = field(default_factory=dict)  # epoch, step, stage, seed, rng state, ...
    shots: int = 0  # 0: exact (statevector) expectations
    hardware_profile: dict = field(default_factory=dict)
    lut_provenance: dict = field(default_factory=dict)
    qubit_mapping: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    gradient_history: np.ndarray | None = None  # (steps, n_params)
    dataset: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)  # the TrainConfig (and compression config)
    metrics: dict = field(default_factory=dict)  # accuracy and TCD before / after

    def __post_init__(self):
        n_gates, n_params = len(self.model.gates), self.model.n_params
        self.theta = np.asarray(self.theta, dtype=np.float64)
        self.theta_original = (
            self.theta.copy() if self.theta_original is None else np.asarray(self.theta_original, dtype=np.float64)
        )
        self.prune_mask = np.zeros(n_gates, bool) if self.prune_mask is None else np.asarray(self.prune_mask, bool)
        self.quant_mask = np.zeros(n_gates, bool) if self.quant_mask is None else np.asarray(self.quant_mask, bool)
        self.levels = np.full((n_gates, 3), np.nan) if self.levels is None else np.asarray(self.levels, np.float64)
        self.qubit_mapping = np.asarray(self.qubit_mapping, dtype=np.int64)
        if self.gradient_history is None:
            self.gradient_history = np.zeros((0, n_params))
        self.gradient_history = np.asarray(self.gradient_history, dtype=np.float64)
        self.optimizer_state = {k: np.asarray(v) for k, v in self.optimizer_state.items()}

    @property
    def masked(self) -> np.ndarray:
        return self.prune_mask | self.quant_mask

    def copy(self) -> "Checkpoint":
        """A deep copy of every array and document (what the asynchronous writer takes synchronously)."""
        top = {f.name: getattr(self, f.name) for f in SCHEMA if "." not in f.name and f.kind in ("array", "document")}
        return replace(self, **{k: v.copy() if isinstance(v, np.ndarray) else copy.deepcopy(v) for k, v in top.items()},
                       optimizer_state={k: np.array(v, copy=True) for k, v in self.optimizer_state.items()},
                       admm=self.admm.copy())

    @classmethod
    def from_parts(cls, model, arrays: dict, documents: dict, shots: int) -> "Checkpoint":
        """A checkpoint from named arrays (the schema's, ``optimizer.<key>``) and documents (what a reader has)."""
        admm = {name[5:]: a for name, a in arrays.items() if name.startswith("admm.")}
        admm["rho"], admm["iteration"] = float(admm["rho"]), int(admm["iteration"])
        state = {name[10:]: a for name, a in arrays.items() if name.startswith("optimizer.")}
        return cls(model=model, **{name: a for name, a in arrays.items() if "." not in name},
                   admm=ADMMState(**admm), optimizer_state=state, shots=shots, **documents)

    def array(self, name: str) -> np.ndarray:
        """The schema's array ``name`` (``admm.Z`` reads ``self.admm.Z``)."""
        owner, _, attr = name.rpartition(".")
        return np.asarray(getattr(getattr(self, owner) if owner else self, attr))

    def validate(self) -> None:
        """Cross-field consistency; raises CheckpointError naming the first problem."""
        gates, n_params = self.model.gates, self.model.n_params
        dims = {"gates": len(gates), "params": n_params, "qubits": self.model.n_qubits}
        for f in ARRAYS:  # shapes and finiteness, as the schema states them
            a = self.array(f.name)
            if f.empty and a.size == 0:
                continue
            want = tuple(dims.get(d, d) for d in f.shape)
            if a.ndim != len(want) or any(w != "*" and w != n for w, n in zip(want, a.shape)):
                raise CheckpointError(f"{f.name} has shape {a.shape}, expected {want}")
            if f.finite and not np.all(np.isfinite(a)):
                raise CheckpointError(f"{f.name} has non-finite values")
        if np.any(self.prune_mask & self.quant_mask):
            raise CheckpointError("a gate is both pruned and quantized")
        # Vectorized over gates: a training run validates on every save.
        n_angles, per = _angle_layout(self.model)
        masked = self.masked
        used = np.arange(3)[None, :] < n_angles[:, None]
        finite = np.isfinite(self.levels)
        in_period = finite & (self.levels >= 0.0) & (self.levels < per)
        bad = masked[:, None] & used & ~in_period
        if bad.any():
            i, k = map(int, np.argwhere(bad)[0])
            raise CheckpointError(f"gate {i} ({gates[i].name}): level {self.levels[i, k]!r} is not on its period "
                                  f"[0, {per[i, k]:.6g})")
        stray = finite & ~(masked[:, None] & used)
        if stray.any():
            raise CheckpointError(f"gate {int(np.argwhere(stray)[0][0])}: level set where no level applies")
        if self.run.get("stage") == "compressed":
            for i in np.flatnonzero(masked):
                g = gates[i]
                if not np.array_equal(g.angles(self.theta), self.levels[i, : len(g.params)]):
                    raise CheckpointError(f"gate {i} ({g.name}): θ differs from its LUT level")
        if self.admm.rho < 0:
            raise CheckpointError("admm.rho must be a finite non-negative number")
        if not 0 <= self.admm.iteration <= MAX_ITERATIONS:
            raise CheckpointError(f"admm.iteration must be in 0..{MAX_ITERATIONS}")
        if self.admm.empty and self.admm.u.size:
            raise CheckpointError("admm.u set without admm.Z")
        if self.qubit_mapping.size and (np.any(self.qubit_mapping < 0) or len(set(self.qubit_mapping.tolist())) != self.qubit_mapping.size):
            raise CheckpointError("qubit_mapping must be distinct non-negative physical qubits")
        if not isinstance(self.shots, int) or not 0 <= self.shots <= MAX_SHOTS:
            raise CheckpointError(f"shots must be an integer in 0..{MAX_SHOTS}")
        for name, value in self.optimizer_state.items():
            if value.dtype.kind not in "fiu" or (value.ndim == 1 and value.shape != (n_params,)) or value.ndim > 1:
                raise CheckpointError(f"optimizer state {name!r} has shape {value.shape} / dtype {value.dtype}")
            if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise CheckpointError(f"optimizer state {name!r} has non-finite values")
            if value.ndim == 0 and (value.dtype.kind not in "iu" or not 0 <= int(value) <= MAX_STEPS):
                raise CheckpointError(f"optimizer state {name!r} must be an integer count in 0..{MAX_STEPS}")
        if "nu" in self.optimizer_state and np.any(self.optimizer_state["nu"] < 0):
            raise CheckpointError("optimizer state 'nu' (Adam's second moment) must be non-negative")

    def check_documents(self) -> None:
        """The JSON documents' types and ranges, as read from a file (``validate`` checks the
        arrays): everything a resume, a compression or ``inspect`` will use must be what our own
        code writes, so a tampered file is refused here in one line, not deep inside a run."""
        from compvqc.compile.profile import check_profile
        from compvqc.compress.methods import CompressConfig
        from compvqc.data import check_reference
        from compvqc.errors import CompVQCError
        from compvqc.train.optim import OPTIMIZERS
        from compvqc.train.config import TrainConfig

        try:
            opt = self.optimizer
            if opt:
                if opt.get("name") not in OPTIMIZERS:
                    raise CheckpointError(f"optimizer name must be one of {', '.join(OPTIMIZERS)}")
                lr = (opt.get("config") or {}).get("lr") if isinstance(opt.get("config", {}), dict) else "?"
                if lr is not None and not (_real(lr) and 0 < lr < math.inf):
                    raise CheckpointError("optimizer lr must be a finite positive number")
            run = self.run
            for key in ("epoch", "step_in_epoch", "step"):
                if key in run and not (_count(run[key]) and run[key] <= MAX_STEPS):
                    raise CheckpointError(f"run.{key} must be an integer in 0..{MAX_STEPS}, got {run[key]!r}")
            if "stage" in run and run["stage"] not in STAGES:
                raise CheckpointError(f"run.stage must be one of {', '.join(STAGES)}, got {run['stage']!r}")
            for key in ("history", "admm_history"):
                if key in run and not (isinstance(run[key], list) and all(isinstance(h, dict) for h in run[key])):
                    raise CheckpointError(f"run.{key} must be a list of records")
            prev = run.get("admm_prev_theta")
            if prev is not None and not (isinstance(prev, list) and len(prev) == self.model.n_params
                                         and all(_real(v) and math.isfinite(v) for v in prev)):
                raise CheckpointError(f"run.admm_prev_theta must be {self.model.n_params} finite numbers")
            if "config" in self.training:
                TrainConfig.from_dict(self.training["config"])
            if "compress" in self.training:
                CompressConfig.from_dict(self.training["compress"])
            if self.dataset:
                check_reference(self.dataset)
            if self.hardware_profile:
                check_profile(self.hardware_profile)
        except CheckpointError:
            raise
        except CompVQCError as e:
            raise CheckpointError(str(e)) from None


_LAYOUTS: dict = {}


def _angle_layout(model) -> tuple[np.ndarray, np.ndarray]:
    """Per gate: number of angles, and the period of each of its (up to 3) angles."""
    hit = _LAYOUTS.get(id(model))
    if hit is None or hit[0] is not model:
        n = np.array([g.type.n_params for g in model.gates], dtype=np.int64)
        per = np.full((len(model.gates), 3), np.inf)
        for i, g in enumerate(model.gates):
            per[i, : len(g.type.periods)] = g.type.periods
        hit = (model, n, per)
        if len(_LAYOUTS) > 64:
            _LAYOUTS.clear()
        _LAYOUTS[id(model)] = hit
    return hit[1], hit[2]


# Every stage a run record may be in (train, compress, deploy write them).
STAGES = ("training", "trained", "admm", "retrain", "compressed")


def _real(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0
