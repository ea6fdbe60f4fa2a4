"""Angle grids the LUT builder compiles, and the random angles of the generic distribution.

Rotation angles (RX RY RZ CRX CRY CRZ, and U3/CU3's θ) live on [0, 4π): RX(θ + 2π) = −RX(θ)
is only a global phase, but CRX(θ + 2π) ≠ CRX(θ), and the transpiler is not symmetric in the
angle anyway (CRY π/2 → 7 but 5π/2 → 9 on fake_manila), so the whole period is measured, never
folded. U3/CU3's φ and λ, and P/CP's angle, are 2π-periodic: their grid covers [0, 2π).

The grid is dyadic: ``k·π/steps`` with ``steps`` a power of two. Because multiplying by a power
of two is exact in binary floating point, ``k·π/steps`` is bit-identical to the coarser grid's
``(k/2)·π/(steps/2)`` — a finer grid contains the coarser grid's floats exactly, so levels
found on one grid are found, as the same floats, on every finer one.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass

import numpy as np

from compvqc.errors import CompileError
from compvqc.limits import MAX_GENERIC_SAMPLES, MAX_ROTATION_STEPS, MAX_U3_STEPS
from compvqc.model.gates import gate_type


def _power_of_two(n: int) -> bool:
    return n >= 1 and (n & (n - 1)) == 0


@dataclass(frozen=True)
class GridSpec:
    """Which angles a LUT measures."""

    rotation_steps: int = 8
    """Single-angle gates: every multiple of π/rotation_steps in their period (power of two ≥ 8)."""
    u3_steps: int = 2
    """U3/CU3: θ on multiples of π/u3_steps in [0, 4π), φ and λ on multiples in [0, 2π)."""
    generic_samples: int = 64
    """Random angles (uniform over each angle's period) behind the generic distribution."""
    generic_seed: int = 20220101
    """Seed of those random angles (a fixed ``np.random.Generator`` seed, recorded)."""

    def __post_init__(self):
        if not (_power_of_two(self.rotation_steps) and 8 <= self.rotation_steps <= MAX_ROTATION_STEPS):
            raise CompileError(f"rotation grid steps must be a power of two in 8..{MAX_ROTATION_STEPS}, "
                               f"got {self.rotation_steps}")
        if not (_power_of_two(self.u3_steps) and self.u3_steps <= MAX_U3_STEPS):
            raise CompileError(f"U3 grid steps must be a power of two ≤ {MAX_U3_STEPS}, got {self.u3_steps}")
        if isinstance(self.generic_samples, bool) or not isinstance(self.generic_samples, int) \
                or not 1 <= self.generic_samples <= MAX_GENERIC_SAMPLES:
            raise CompileError(f"the generic distribution needs 1..{MAX_GENERIC_SAMPLES} random angles, "
                               f"got {self.generic_samples!r}")

    def grid(self, name: str) -> list[tuple[float, ...]]:
        """Grid points of gate ``name`` as tuples of canonical float64 angles."""
        gt = gate_type(name)
        if gt.n_params == 1:
            s = self.rotation_steps
            return [(k * math.pi / s,) for k in range(round(gt.periods[0] / math.pi) * s)]
        s = self.u3_steps
        thetas = [k * math.pi / s for k in range(4 * s)]
        phis = [k * math.pi / s for k in range(2 * s)]
        return [(t, p, lam) for t, p, lam in itertools.product(thetas, phis, phis)]

    def random_angles(self, name: str) -> list[tuple[float, ...]]:
        """``generic_samples`` random angle tuples for ``name``, the same on every call."""
        gt = gate_type(name)
        # One stream per gate type, so adding a gate type never changes another's samples.
        rng = np.random.default_rng([self.generic_seed, sum(map(ord, name))])
        periods = np.array(gt.periods)
        draws = rng.uniform(0.0, 1.0, size=(self.generic_samples, gt.n_params)) * periods
        return [tuple(float(a) for a in row) for row in draws]

    def describe(self) -> dict:
        return {
            **asdict(self),
            "rotation": f"k*pi/{self.rotation_steps}, k = 0..{4 * self.rotation_steps - 1} (radians, [0, 4pi))",
            "u3": (f"theta = k*pi/{self.u3_steps} in [0, 4pi); phi, lambda = k*pi/{self.u3_steps} in [0, 2pi)"),
        }

