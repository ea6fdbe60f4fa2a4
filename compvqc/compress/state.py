"""ADMM state as plain named arrays (optax's habit): a checkpoint writes it, a resume reads it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ADMMState:
    """Scaled-form ADMM state: auxiliary Z, scaled dual u = λ/ρ, penalty ρ, iteration r."""

    Z: np.ndarray = field(default_factory=lambda: np.zeros(0))
    u: np.ndarray = field(default_factory=lambda: np.zeros(0))
    rho: float = 0.0
    iteration: int = 0

    @property
    def empty(self) -> bool:
        return self.Z.size == 0

    def copy(self) -> "ADMMState":
        return ADMMState(self.Z.copy(), self.u.copy(), float(self.rho), int(self.iteration))
