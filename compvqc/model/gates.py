"""Trainable gate types: their matrices, derivatives, periods and angle canonicalization.

Conventions are qiskit's, so a compvqc gate and the qiskit gate of the same name have the same
matrix (checked in the tests against ``qiskit.quantum_info.Operator``):

* RX(θ) = exp(-iθX/2), RY(θ) = exp(-iθY/2), RZ(θ) = exp(-iθZ/2);
* U3(θ, φ, λ) = [[cos θ/2, -e^{iλ} sin θ/2], [e^{iφ} sin θ/2, e^{i(φ+λ)} cos θ/2]];
* a controlled gate applies its target matrix when the control qubit (first wire) is 1.

Why canonicalize: the transpiler sees the float, not the unitary. RX(π/2) compiles to depth 1
but RX(π/2 + 4π) and RX(π/2 + 1e-9) do not, so every angle is mapped into its period — [0, 4π)
for rotation angles (RX(θ + 2π) = -RX(θ) is a global phase only for the uncontrolled gate, and
CRX(θ + 2π) ≠ CRX(θ)), [0, 2π) for U3/CU3's φ and λ — before any circuit is built. Angles in
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
    n_wires: int  # 1, or 2 for controlled gates (control first)
    periods: tuple[float, ...]  # one period per angle

    @property
    def n_params(self) -> int:
        return len(self.periods)

    @property
    def controlled(self) -> bool:
        return self.n_wires == 2

    @property
    def base(self) -> str:
        """The single-qubit gate this one controls ('crx' → 'rx')."""
        return self.name[1:] if self.controlled else self.name


GATE_TYPES: dict[str, GateType] = {
    "rx": GateType("rx", 1, (FOUR_PI,)),
    "ry": GateType("ry", 1, (FOUR_PI,)),
    "rz": GateType("rz", 1, (FOUR_PI,)),
    "crx": GateType("crx", 2, (FOUR_PI,)),
    "cry": GateType("cry", 2, (FOUR_PI,)),
    "crz": GateType("crz", 2, (FOUR_PI,)),
    "u3": GateType("u3", 1, (FOUR_PI, TWO_PI, TWO_PI)),
    "cu3": GateType("cu3", 2, (FOUR_PI, TWO_PI, TWO_PI)),
}

ROTATIONS = ("rx", "ry", "rz")


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


def matrix(name: str, angles) -> np.ndarray:
    """Target matrix of gate ``name``; ``angles`` has shape (n_params,) or (..., n_params)."""
    gt = gate_type(name)
    a = np.asarray(angles, dtype=np.float64)
    if a.shape[-1:] != (gt.n_params,):
        raise ModelError(f"{name} takes {gt.n_params} angle(s), got shape {a.shape}")
    if gt.base == "u3":
        return _u3(a[..., 0], a[..., 1], a[..., 2])
    return _rotation(gt.base[1], a[..., 0])


def generators(name: str, angles) -> np.ndarray:
    """H_k = (∂G/∂θ_k) G†, shape (n_params, 2, 2), for one gate.

    The adjoint gradient uses them as ∂L/∂θ_k = 2 Re⟨λ| H_k |φ⟩ with φ the state right after
    the gate and λ the back-propagated cotangent there. For rotations H = -i P / 2 with P the
    Pauli axis; for U3 they are computed from the analytic derivatives (:func:`u3_generators`).
    """
    gt = gate_type(name)
    a = np.asarray(angles, dtype=np.float64).reshape(1, gt.n_params)
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
