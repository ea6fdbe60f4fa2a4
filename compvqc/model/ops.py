"""The operations a VQC is made of.

A VQC is an ordered list of these; encoders may appear anywhere (data re-uploading), except
amplitude encoding, which prepares the initial state and so must come first.

Angles are data, never code: a trainable gate's angle is ``scale · θ[p] + offset`` (several gates
may share a weight p, and qiskit's ansätze negate or double some), an encoder's angle is a
polynomial of the inputs (``2·x_0``, or ``2(π − x_0)(π − x_1)`` as ``zz_feature_map`` writes
it, expanded), a fixed gate's angles are numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compvqc.model.gates import gate_type

Term = tuple[float, tuple[int, ...]]
"""coefficient · Π x[f] over the features listed (repeated for powers; none: a constant)."""


@dataclass(frozen=True)
class Gate:
    """A trainable gate. ``params`` index θ, one index per angle (three for U3/CU3); angle j is
    ``scales[j] · θ[params[j]] + offsets[j]`` (empty ``scales``/``offsets``: 1 and 0).

    ``wires`` is (target,), (control, target), or the two wires of RZZ/RXX/RYY.
    """

    name: str
    wires: tuple[int, ...]
    params: tuple[int, ...]
    scales: tuple[float, ...] = ()
    offsets: tuple[float, ...] = ()

    def __post_init__(self):  # scales of 1 and offsets of 0 are the plain form: one spelling
        if self.scales and all(v == 1.0 for v in self.scales):
            object.__setattr__(self, "scales", ())
        if self.offsets and all(v == 0.0 for v in self.offsets):
            object.__setattr__(self, "offsets", ())

    @property
    def type(self):
        return gate_type(self.name)

    @property
    def plain(self) -> bool:
        """Its angles are θ entries themselves (what compression can set exactly)."""
        return not self.scales and not self.offsets

    def angles(self, theta) -> np.ndarray:
        """This gate's angle(s) taken from θ (the one place that indexes θ by a gate)."""
        a = np.asarray(theta, dtype=np.float64)[list(self.params)]
        if self.scales:
            a = a * np.asarray(self.scales)
        if self.offsets:
            a = a + np.asarray(self.offsets)
        return a

    def to_dict(self) -> dict:
        d = {"op": "gate", "name": self.name, "wires": list(self.wires), "params": list(self.params)}
        if self.scales:
            d["scales"] = list(self.scales)
        if self.offsets:
            d["offsets"] = list(self.offsets)
        return d


@dataclass(frozen=True)
class Encode:
    """An input-encoding gate (RX, RY, RZ or P) on one wire; its angle is x[feature], or the
    polynomial ``terms`` of the inputs when ``feature`` is None."""

    name: str
    wire: int
    feature: int | None = None
    terms: tuple[Term, ...] = ()

    @property
    def polynomial(self) -> tuple[Term, ...]:
        return ((1.0, (self.feature,)),) if self.feature is not None else self.terms

    @property
    def features(self) -> set[int]:
        return {f for _, fs in self.polynomial for f in fs}

    def values(self, x: np.ndarray) -> np.ndarray:
        """The angle for every row of x (B, d), shape (B,)."""
        if self.feature is not None:
            return x[:, self.feature]
        out = np.zeros(x.shape[0])
        for coef, fs in self.terms:
            out += coef * np.prod(x[:, list(fs)], axis=1) if fs else coef
        return out

    def to_dict(self) -> dict:
        d = {"op": "encode", "name": self.name, "wire": self.wire}
        if self.feature is not None:
            d["feature"] = self.feature
        else:
            d["terms"] = [[c, list(fs)] for c, fs in self.terms]
        return d


@dataclass(frozen=True)
class Fixed:
    """A gate that is not trained: H, X, …, CX, CZ, ECR, SWAP (``gates.FIXED_GATES``), or a
    trainable gate type at numeric ``angles``."""

    name: str
    wires: tuple[int, ...]
    angles: tuple[float, ...] = ()

    def to_dict(self) -> dict:
        d = {"op": "fixed", "name": self.name, "wires": list(self.wires)}
        if self.angles:
            d["angles"] = list(self.angles)
        return d


@dataclass(frozen=True)
class AmplitudeEncode:
    """Amplitude encoding: the initial state is x / ‖x‖ (features zero-padded to 2^n)."""

    n_features: int

    def to_dict(self) -> dict:
        return {"op": "amplitude", "n_features": self.n_features}


Op = Gate | Encode | Fixed | AmplitudeEncode
