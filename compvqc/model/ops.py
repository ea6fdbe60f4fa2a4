"""The three kinds of operation a VQC is made of.

A VQC is an ordered list of these; encoders may appear anywhere (data re-uploading), except
amplitude encoding, which prepares the initial state and so must come first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compvqc.model.gates import gate_type


@dataclass(frozen=True)
class Gate:
    """A trainable gate. ``params`` index θ, one index per angle (three for U3/CU3).

    ``wires`` is (target,) or (control, target).
    """

    name: str
    wires: tuple[int, ...]
    params: tuple[int, ...]

    @property
    def type(self):
        return gate_type(self.name)

    def angles(self, theta) -> np.ndarray:
        """This gate's angle(s) taken from θ (the one place that indexes θ by a gate)."""
        return np.asarray(theta, dtype=np.float64)[list(self.params)]

    def to_dict(self) -> dict:
        return {"op": "gate", "name": self.name, "wires": list(self.wires), "params": list(self.params)}


@dataclass(frozen=True)
class Encode:
    """An input-encoding rotation RX/RY/RZ(x[feature]) on one wire."""

    name: str
    wire: int
    feature: int

    def to_dict(self) -> dict:
        return {"op": "encode", "name": self.name, "wire": self.wire, "feature": self.feature}


@dataclass(frozen=True)
class AmplitudeEncode:
    """Amplitude encoding: the initial state is x / ‖x‖ (features zero-padded to 2^n)."""

    n_features: int

    def to_dict(self) -> dict:
        return {"op": "amplitude", "n_features": self.n_features}


Op = Gate | Encode | AmplitudeEncode
