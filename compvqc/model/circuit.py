"""The VQC: a plain, serializable description of a variational quantum circuit.

A VQC is data — number of qubits, an ordered list of operations (encoders and trainable
gates), a readout — and nothing else: weights θ live outside it (a float64 vector), so one
model description serves training, compression and deployment, and a checkpoint stores it as
JSON. Simulation methods on the class are conveniences that call :mod:`compvqc.simulate`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from compvqc.errors import ModelError
from compvqc.limits import MAX_DEGREE
from compvqc.model import architectures as arch_mod
from compvqc.model.encoders import encoder_ops
from compvqc.model.gates import ENCODER_GATES, FIXED_GATES, GATE_TYPES, fixed_wires
from compvqc.model.ops import AmplitudeEncode, Encode, Fixed, Gate, Op
from compvqc.model.readout import Readout, default_readout, predictions

FORMAT = "compvqc-vqc"
VERSION = 1
MAX_QUBITS = 1024  # descriptions only; the simulator has its own, memory-bound limit


@dataclass(frozen=True)
class VQC:
    n_qubits: int
    n_features: int
    ops: tuple[Op, ...]
    readout: Readout
    meta: dict = field(default_factory=dict, compare=False, hash=False)  # encoder, arch, seed

    def __post_init__(self):
        object.__setattr__(self, "ops", tuple(self.ops))
        self.validate()

    def __hash__(self) -> int:
        """Hashed once: a VQC is immutable and keys several caches (circuit nodes, checks)."""
        h = self.__dict__.get("_hash")
        if h is None:
            h = self.__dict__["_hash"] = hash((self.n_qubits, self.n_features, self.ops, self.readout))
        return h

    def __getstate__(self) -> dict:
        # string hashes differ between interpreters: a copy sent elsewhere hashes afresh
        return {k: v for k, v in self.__dict__.items() if k != "_hash"}

    # --- structure ----------------------------------------------------------------------
    @cached_property
    def gates(self) -> tuple[Gate, ...]:
        """Trainable gates in circuit order; mask bit i refers to ``gates[i]``."""
        return tuple(op for op in self.ops if isinstance(op, Gate))

    @cached_property
    def n_params(self) -> int:
        return len({p for g in self.gates for p in g.params})

    @cached_property
    def plain_weights(self) -> bool:
        """Every gate angle is its own θ entry (no shared, scaled or offset weights)."""
        return all(g.plain for g in self.gates) and sum(len(g.params) for g in self.gates) == self.n_params

    @property
    def n_classes(self) -> int:
        return self.readout.n_classes

    def validate(self) -> None:
        if not isinstance(self.n_qubits, int) or not 1 <= self.n_qubits <= MAX_QUBITS:
            raise ModelError(f"n_qubits must be an integer in 1..{MAX_QUBITS}, got {self.n_qubits!r}")
        if not isinstance(self.n_features, int) or self.n_features < 0:
            raise ModelError(f"n_features must be a non-negative integer, got {self.n_features!r}")
        used: set[int] = set()
        for k, op in enumerate(self.ops):
            if isinstance(op, Gate):
                gt = GATE_TYPES.get(op.name)
                if gt is None:
                    raise ModelError(f"op {k}: unknown gate type {op.name!r}")
                self._check_wires(k, op.name, op.wires, gt.n_wires)
                if len(op.params) != gt.n_params:
                    raise ModelError(f"op {k}: {op.name} needs {gt.n_params} parameter index(es)")
                for name, values in (("scales", op.scales), ("offsets", op.offsets)):
                    if values and (len(values) != gt.n_params or not all(math.isfinite(v) for v in values)):
                        raise ModelError(f"op {k}: {op.name} {name} must be {gt.n_params} finite number(s)")
                if any(v == 0 for v in op.scales):
                    raise ModelError(f"op {k}: a weight scale of 0 makes the gate fixed: use a fixed gate")
                if not all(isinstance(p, int) and p >= 0 for p in op.params):
                    raise ModelError(f"op {k}: parameter indices must be non-negative integers")
                used.update(op.params)
            elif isinstance(op, Encode):
                if op.name not in ENCODER_GATES:
                    raise ModelError(f"op {k}: encoders use {'/'.join(ENCODER_GATES)}, got {op.name!r}")
                self._check_wires(k, op.name, (op.wire,), 1)
                if (op.feature is None) == (not op.terms):
                    raise ModelError(f"op {k}: an encoder takes either a feature or polynomial terms")
                if not any(fs and coef != 0.0 for coef, fs in op.polynomial):
                    raise ModelError(f"op {k}: an encoder's angle must depend on an input")
                for coef, fs in op.polynomial:
                    if not math.isfinite(coef):
                        raise ModelError(f"op {k}: encoder coefficient {coef!r} is not finite")
                    if len(fs) > MAX_DEGREE:
                        raise ModelError(f"op {k}: an encoder term of degree {len(fs)} (at most {MAX_DEGREE})")
                    for f in fs:
                        if not isinstance(f, int) or not 0 <= f < self.n_features:
                            raise ModelError(f"op {k}: feature {f!r} out of range 0..{self.n_features - 1}")
            elif isinstance(op, Fixed):
                if op.name in FIXED_GATES:
                    if op.angles:
                        raise ModelError(f"op {k}: {op.name} takes no angle")
                elif op.name in GATE_TYPES:
                    if len(op.angles) != GATE_TYPES[op.name].n_params or not all(math.isfinite(a) for a in op.angles):
                        raise ModelError(f"op {k}: fixed {op.name} needs {GATE_TYPES[op.name].n_params} finite angle(s)")
                else:
                    raise ModelError(f"op {k}: unknown fixed gate {op.name!r}")
                self._check_wires(k, op.name, op.wires, fixed_wires(op.name))
            elif isinstance(op, AmplitudeEncode):
                if k != 0:
                    raise ModelError("amplitude encoding prepares the initial state: it must be the first op")
                if op.n_features != self.n_features or op.n_features > 2**self.n_qubits:
                    raise ModelError("amplitude encoding: feature count does not fit the qubits")
            else:
                raise ModelError(f"op {k}: not an operation: {op!r}")
        if used != set(range(len(used))):
            raise ModelError("parameter indices must use each of 0..n_params-1")
        if not isinstance(self.readout, Readout):
            raise ModelError("readout must be a Readout")
        self.readout.validate(self.n_qubits)

    def _check_wires(self, k, name, wires, count):
        if len(wires) != count or len(set(wires)) != count:
            raise ModelError(f"op {k}: {name} needs {count} distinct wire(s), got {wires}")
        for w in wires:
            if not isinstance(w, int) or not 0 <= w < self.n_qubits:
                raise ModelError(f"op {k}: wire {w!r} out of range 0..{self.n_qubits - 1}")

    def init_params(self, rng: np.random.Generator) -> np.ndarray:
        """Initial weights, uniform in [-π, π) (TorchQuantum's default), float64."""
        return rng.uniform(-np.pi, np.pi, size=self.n_params)

    # --- serialization ------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "n_qubits": self.n_qubits, "n_features": self.n_features,
                "ops": [op.to_dict() for op in self.ops], "readout": self.readout.to_dict(), "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, d: dict) -> "VQC":
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ModelError("not a compvqc VQC description")
        if d.get("version") != VERSION:
            raise ModelError(f"unsupported VQC description version {d.get('version')!r}")
        try:
            ops = tuple(_op_from_dict(o) for o in d["ops"])
            return cls(int(d["n_qubits"]), int(d["n_features"]), ops, Readout.from_dict(d["readout"]),
                       dict(d.get("meta") or {}))
        except ModelError:
            raise
        except (KeyError, TypeError, ValueError) as e:
            raise ModelError(f"malformed VQC description: {e}") from None

    # --- simulation (conveniences over compvqc.simulate) --------------------------------
    @cached_property
    def simulator(self):
        from compvqc.simulate import Simulator

        return Simulator(self)

    def logits(self, theta, x) -> np.ndarray:
        """Readout values (class logits), shape (B, n_classes)."""
        return self.simulator.logits(theta, x)

    def probabilities(self, theta, x) -> np.ndarray:
        """Basis-state probabilities |ψ|², shape (B, 2^n), qiskit bit order."""
        return self.simulator.probabilities(theta, x)

    def loss_and_grad(self, theta, x, y) -> tuple[float, np.ndarray]:
        """Mean softmax cross-entropy on (x, y) and its exact gradient with respect to θ."""
        return self.simulator.loss_and_grad(theta, x, y)

    def predict(self, theta, x) -> np.ndarray:
        return predictions(self.logits(theta, x))


def _op_from_dict(o: dict) -> Op:
    kind = o["op"]
    if kind == "gate":
        return Gate(str(o["name"]), tuple(int(w) for w in o["wires"]), tuple(int(p) for p in o["params"]),
                    tuple(float(v) for v in o.get("scales", ())), tuple(float(v) for v in o.get("offsets", ())))
    if kind == "encode":
        if "terms" in o:
            terms = tuple((float(c), tuple(int(f) for f in fs)) for c, fs in o["terms"])
            return Encode(str(o["name"]), int(o["wire"]), None, terms)
        return Encode(str(o["name"]), int(o["wire"]), int(o["feature"]))
    if kind == "fixed":
        return Fixed(str(o["name"]), tuple(int(w) for w in o["wires"]), tuple(float(a) for a in o.get("angles", ())))
    if kind == "amplitude":
        return AmplitudeEncode(int(o["n_features"]))
    raise ModelError(f"unknown op kind {kind!r}")


def build_model(encoder: str = "4x4_ryzxy", arch: str = "random50", n_classes: int = 2, *, arch_seed: int = 0,
                gate_set=arch_mod.PAPER_GATE_SET, n_features: int | None = None, readout: Readout | None = None) -> VQC:
    """Build one of the papers' models.

    >>> m = build_model("4x4_ryzxy", "random50", 2, arch_seed=0)
    >>> (m.n_qubits, len(m.gates), m.n_classes)
    (4, 50, 2)
    """
    n_qubits, d, enc = encoder_ops(encoder, n_features)
    kind, size = arch_mod.parse_arch(arch)
    counter = itertools.count()  # consecutive parameter indices
    if kind == "random":
        ops = [*enc, *arch_mod.random_gates(n_qubits, size, np.random.default_rng(arch_seed), gate_set, counter)]
    elif kind in ("blocks", "u3cu3"):
        block = "rxyz_crx" if kind == "blocks" else "u3cu3"
        ops = [*enc, *arch_mod.block_gates(n_qubits, size, block, counter)]
    else:  # reupload
        if encoder == "amplitude":
            raise ModelError("data re-uploading needs an angle encoder")
        ops = []
        for _ in range(size):
            ops += [*enc, *arch_mod.block_gates(n_qubits, 1, "rxyz_crx", counter)]
    meta = {"encoder": encoder, "arch": arch, "arch_seed": int(arch_seed)}
    if kind == "random":
        meta["gate_set"] = list(gate_set)
    return VQC(n_qubits, d, tuple(ops), readout or default_readout(n_qubits, n_classes), meta)
