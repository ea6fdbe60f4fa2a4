"""Trainable gate types: their matrices, derivatives, periods and angle canonicalization.

Conventions are qiskit's, so a compvqc gate and the qiskit gate of the same name have the same
matrix (checked in the tests against ``qiskit.quantum_info.Operator``):

* RX(θ) = exp(-iθX/2), RY(θ) = exp(-iθY/2), RZ(θ) = exp(-iθZ/2);
* U3(θ, φ, λ) = [[cos θ/2, -e^{iλ} sin θ/2], [e^{iφ} sin θ/2, e^{i(φ+λ)} cos θ/2]];
* P(θ) = diag(1, e^{iθ}); RZZ(θ) = exp(-iθ Z⊗Z/2), RXX and RYY likewise (the generators of
  QAOA and hardware-efficient ansätze: two-qubit gates that are not controlled gates);
* a controlled gate applies its target matrix when the control qubit (first wire) is 1.

Fixed (non-trainable) gates — H, X, …, CX, CZ, ECR, SWAP, and any trainable type at a numeric
angle — have their full matrices in :data:`FIXED_GATES` / :func:`full_matrix`.

Why canonicalize: the transpiler sees the float, not the unitary. RX(π/2) compiles to depth 1
but RX(π/2 + 4π) and RX(π/2 + 1e-9) do not, so every angle is mapped into its period — [0, 4π)
for rotation angles (RX(θ + 2π) = -RX(θ) is a global phase only for the uncontrolled gate, and
CRX(θ + 2π) ≠ CRX(θ)), [0, 2π) for U3/CU3's φ and λ and for P/CP — before any circuit is built. Angles in
range are returned bit-identical, so a LUT level stays exactly the LUT's float.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from compvqc.errors import ModelError

FOUR_PI = 4.0 * math.pi
TWO_PI = 2.0 * math.pi


@dataclass(frozen=True)
class GateType:
    """Static facts about one trainable gate type."""

    name: str
    n_wires: int  # 1 or 2 (a controlled gate's control first)
    periods: tuple[float, ...]  # one period per angle
    controlled: bool = False  # a 2x2 target matrix applied when the first wire is 1

    @property
    def n_params(self) -> int:
        return len(self.periods)

    @property
    def base(self) -> str:
        """The single-qubit gate this one controls ('crx' → 'rx'); else the name itself."""
        return self.name[1:] if self.controlled else self.name


GATE_TYPES: dict[str, GateType] = {
    "rx": GateType("rx", 1, (FOUR_PI,)),
    "ry": GateType("ry", 1, (FOUR_PI,)),
    "rz": GateType("rz", 1, (FOUR_PI,)),
    "crx": GateType("crx", 2, (FOUR_PI,), True),
    "cry": GateType("cry", 2, (FOUR_PI,), True),
    "crz": GateType("crz", 2, (FOUR_PI,), True),
    "u3": GateType("u3", 1, (FOUR_PI, TWO_PI, TWO_PI)),
    "cu3": GateType("cu3", 2, (FOUR_PI, TWO_PI, TWO_PI), True),
    "p": GateType("p", 1, (TWO_PI,)),
    "cp": GateType("cp", 2, (TWO_PI,), True),
    "rzz": GateType("rzz", 2, (FOUR_PI,)),
    "rxx": GateType("rxx", 2, (FOUR_PI,)),
    "ryy": GateType("ryy", 2, (FOUR_PI,)),
}

ROTATIONS = ("rx", "ry", "rz")
ENCODER_GATES = ("rx", "ry", "rz", "p")  # single-wire, one angle: what an input may drive


def gate_type(name: str) -> GateType:
    try:
        return GATE_TYPES[name]
    except KeyError:
        raise ModelError(f"unknown gate type {name!r} (known: {' '.join(GATE_TYPES)})") from None


def canonicalize(angle: float, period: float) -> float:
    """Map an angle into [0, period); angles already in range come back bit-identical."""
    a = float(angle)
    if not math.isfinite(a):
        raise ModelError(f"angle {a!r} is not finite")
    if 0.0 <= a < period:
        return a
    a = math.fmod(a, period)
    if a < 0.0:
        a += period
    if a >= period:  # -tiny + period rounds up to period
        a = 0.0
    return a


def canonicalize_angles(name: str, angles) -> tuple[float, ...]:
    """Canonicalize every angle of one gate into its period."""
    gt = gate_type(name)
    return tuple(canonicalize(a, p) for a, p in zip(angles, gt.periods, strict=True))


_D1 = (math.sqrt(2) + 1) / (4 * math.sqrt(2))
_D2 = (math.sqrt(2) - 1) / (4 * math.sqrt(2))
TWO_TERM = ((math.pi / 2, 0.5), (-math.pi / 2, -0.5))
"""∂f/∂θ = [f(θ + π/2) − f(θ − π/2)] / 2 for a generator with eigenvalues a gap of 1 apart
(±½: RX, RY, RZ, RZZ, RXX, RYY; 0 and 1: P, CP, and U3's φ and λ, which enter as phases)."""
FOUR_TERM = ((math.pi / 2, _D1), (-math.pi / 2, -_D1), (3 * math.pi / 2, -_D2), (-3 * math.pi / 2, _D2))
"""The rule for generators with eigenvalues 0 and ±½ (two frequencies): controlled rotations
CRX, CRY, CRZ and CU3's θ (Anselmetti et al. 2021; DESIGN.md)."""


def shift_rule(name: str, angle: int = 0) -> tuple[tuple[float, float], ...]:
    """(shift, coefficient) pairs with ∂f/∂θ_angle = Σ c · f(θ_angle + shift), f any expectation value."""
    gt = gate_type(name)
    if gt.controlled and gt.base in ("rx", "ry", "rz") or (name == "cu3" and angle == 0):
        return FOUR_TERM
    return TWO_TERM


def circular_distance(a, b, period):
    """Distance between angles on their circle (vectorized), in [0, period/2]."""
    d = np.mod(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64), period)
    return np.minimum(d, period - d)


# --- matrices ------------------------------------------------------------------------------
# All functions take angle arrays of any batch shape and return (..., 2, 2) complex128 arrays:
# the 2x2 target matrix of the gate (for controlled gates, the block applied when control = 1).

PAULI = {
    "x": np.array([[0, 1], [1, 0]], dtype=np.complex128),
    "y": np.array([[0, -1j], [1j, 0]], dtype=np.complex128),
    "z": np.array([[1, 0], [0, -1]], dtype=np.complex128),
}


def _rotation(axis: str, theta: np.ndarray) -> np.ndarray:
    theta = np.asarray(theta, dtype=np.float64)
    c, s = np.cos(theta / 2), np.sin(theta / 2)
    out = np.empty(theta.shape + (2, 2), dtype=np.complex128)
    if axis == "z":
        out[..., 0, 0], out[..., 1, 1] = np.exp(-0.5j * theta), np.exp(0.5j * theta)
        out[..., 0, 1] = out[..., 1, 0] = 0.0
        return out
    out[..., 0, 0] = out[..., 1, 1] = c
    if axis == "x":
        out[..., 0, 1] = out[..., 1, 0] = -1j * s
    else:
        out[..., 0, 1], out[..., 1, 0] = -s, s
    return out


def _u3(theta, phi, lam) -> np.ndarray:
    theta, phi, lam = (np.asarray(a, dtype=np.float64) for a in (theta, phi, lam))
    c, s = np.cos(theta / 2), np.sin(theta / 2)
    out = np.empty(np.broadcast(theta, phi, lam).shape + (2, 2), dtype=np.complex128)
    out[..., 0, 0] = c
    out[..., 0, 1] = -np.exp(1j * lam) * s
    out[..., 1, 0] = np.exp(1j * phi) * s
    out[..., 1, 1] = np.exp(1j * (phi + lam)) * c
    return out


def _phase(theta) -> np.ndarray:
    theta = np.asarray(theta, dtype=np.float64)
    out = np.zeros(theta.shape + (2, 2), dtype=np.complex128)
    out[..., 0, 0], out[..., 1, 1] = 1.0, np.exp(1j * theta)
    return out


def matrix(name: str, angles) -> np.ndarray:
    """Target matrix of gate ``name``; ``angles`` has shape (n_params,) or (..., n_params).

    2x2 for single-qubit and controlled gates (the controlled block), 4x4 for RZZ/RXX/RYY."""
    gt = gate_type(name)
    a = np.asarray(angles, dtype=np.float64)
    if a.shape[-1:] != (gt.n_params,):
        raise ModelError(f"{name} takes {gt.n_params} angle(s), got shape {a.shape}")
    if gt.base == "u3":
        return _u3(a[..., 0], a[..., 1], a[..., 2])
    if gt.base == "p":
        return _phase(a[..., 0])
    if gt.n_wires == 2 and not gt.controlled:  # exp(-iθ P⊗P/2) = cos(θ/2) I - i sin(θ/2) P⊗P
        pp = np.kron(PAULI[name[1]], PAULI[name[2]])
        half = a[..., 0, None, None] / 2
        return np.cos(half) * np.eye(4) - 1j * np.sin(half) * pp
    return _rotation(gt.base[1], a[..., 0])


def full_matrix(name: str, angles=()) -> np.ndarray:
    """The whole unitary of a gate (trainable type at ``angles``, or a fixed gate), qiskit's
    qubit order: wire 0 is the least significant bit, so CX(0→1) flips bit 1 when bit 0 is 1."""
    if name in FIXED_GATES:
        return FIXED_GATES[name]
    m = matrix(name, angles)
    return _controlled(m) if gate_type(name).controlled else m


_S2 = 1 / np.sqrt(2)
_I2 = np.eye(2, dtype=np.complex128)


def _controlled(target: np.ndarray) -> np.ndarray:
    """The 4x4 of a gate controlled on wire 0 (bit 0) acting with ``target`` on wire 1."""
    out = np.eye(4, dtype=np.complex128)
    out[np.ix_([1, 3], [1, 3])] = target
    return out


FIXED_1Q = {
    "id": _I2,
    "h": np.array([[_S2, _S2], [_S2, -_S2]], dtype=np.complex128),
    "x": PAULI["x"], "y": PAULI["y"], "z": PAULI["z"],
    "s": np.diag([1, 1j]).astype(np.complex128), "sdg": np.diag([1, -1j]).astype(np.complex128),
    "t": np.diag([1, np.exp(0.25j * np.pi)]), "tdg": np.diag([1, np.exp(-0.25j * np.pi)]),
    "sx": 0.5 * np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]]),
    "sxdg": 0.5 * np.array([[1 - 1j, 1 + 1j], [1 + 1j, 1 - 1j]]),
}
"""Fixed single-qubit gates (qiskit's matrices)."""

FIXED_CONTROLLED = {"cx": "x", "cy": "y", "cz": "z", "ch": "h"}
"""Fixed controlled gates: their target gate (control first)."""

FIXED_GATES: dict[str, np.ndarray] = {
    **FIXED_1Q,
    **{name: _controlled(FIXED_1Q[t]) for name, t in FIXED_CONTROLLED.items()},
    "swap": np.eye(4, dtype=np.complex128)[[0, 2, 1, 3]],
    "ecr": _S2 * np.array([[0, 1, 0, 1j], [1, 0, -1j, 0], [0, 1j, 0, 1], [-1j, 0, 1, 0]]),
}
"""Every fixed gate by name: 2x2 or 4x4, qiskit's qubit order (:func:`full_matrix`)."""


def fixed_wires(name: str) -> int:
    """How many wires a fixed gate (or a trainable type at a numeric angle) acts on."""
    if name in FIXED_GATES:
        return 1 if FIXED_GATES[name].shape == (2, 2) else 2
    return gate_type(name).n_wires


def generators(name: str, angles) -> np.ndarray:
    """H_k = (∂G/∂θ_k) G†, shape (n_params, 2, 2), for one gate.

    The adjoint gradient uses them as ∂L/∂θ_k = 2 Re⟨λ| H_k |φ⟩ with φ the state right after
    the gate and λ the back-propagated cotangent there. For rotations H = -i P / 2 with P the
    Pauli axis; for U3 they are computed from the analytic derivatives (:func:`u3_generators`).
    """
    gt = gate_type(name)
    a = np.asarray(angles, dtype=np.float64).reshape(1, gt.n_params)
    if gt.base == "p":
        return np.diag([0, 1j]).astype(np.complex128)[None]
    if gt.n_wires == 2 and not gt.controlled:
        return (-0.5j * np.kron(PAULI[name[1]], PAULI[name[2]]))[None]
    if gt.base != "u3":
        return (-0.5j * PAULI[gt.base[1]])[None]
    return u3_generators(a)[0]


def u3_generators(angles: np.ndarray) -> np.ndarray:
    """:func:`generators` of U3 for a batch: (k, 3) angles → (k, 3, 2, 2)."""
    theta, phi, lam = angles[:, 0], angles[:, 1], angles[:, 2]
    c, s = np.cos(theta / 2), np.sin(theta / 2)
    ep, el, epl = np.exp(1j * phi), np.exp(1j * lam), np.exp(1j * (phi + lam))
    z = np.zeros_like(ep)
    d = np.empty((len(theta), 3, 2, 2), dtype=np.complex128)
    d[:, 0] = 0.5 * np.stack([np.stack([-s + z, -el * c], -1), np.stack([ep * c, -epl * s], -1)], -2)
    d[:, 1] = np.stack([np.stack([z, z], -1), np.stack([1j * ep * s, 1j * epl * c], -1)], -2)
    d[:, 2] = np.stack([np.stack([z, -1j * el * s], -1), np.stack([z, 1j * epl * c], -1)], -2)
    g_dag = matrix("u3", angles).conj().swapaxes(-1, -2)
    return d @ g_dag[:, None]
