"""ADMM state as plain named arrays (optax's habit): a checkpoint writes it, a resume reads it.

Frozen: ``ADMM.update`` returns a new state instead of changing one, and everything an update
needs from the past — the previous θ of the ζ test, the mask of the last projection — is in it,
so a resumed run continues from the state alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ADMMState:
    """Scaled-form ADMM state: auxiliary Z, scaled dual u = λ/ρ, penalty ρ, iteration r."""

    Z: np.ndarray = field(default_factory=lambda: np.zeros(0))
    u: np.ndarray = field(default_factory=lambda: np.zeros(0))
    rho: float = 0.0
    iteration: int = 0
    prev_theta: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """θ at the last update (the ζ test's ‖Δθ‖²); empty before the first update."""
    mask: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    """The gates the last projection put on their level (one bit per gate); empty before init."""

    @property
    def empty(self) -> bool:
        return self.Z.size == 0

    def copy(self) -> "ADMMState":
        return ADMMState(self.Z.copy(), self.u.copy(), float(self.rho), int(self.iteration), self.prev_theta.copy(),
                         self.mask.copy())
