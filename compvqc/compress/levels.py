"""Compression levels per gate, and distances to them on the circle.

A level is a LUT entry (kind ``prune`` or ``quant``); its angles are the exact canonical floats
the compiler was measured on, so a finalized θ copies them bit-for-bit. Distances are circular
(per-angle period), and the representative of a level nearest a value is *unwrapped* —
γ + k·P for the k that puts it within half a period of the value — so an ADMM penalty
‖θ − Z‖² never pulls the long way round the circle.
"""

from __future__ import annotations

import numpy as np

from compvqc.errors import CompressionError

def candidate_levels(model, lut, kinds) -> list[tuple]:
    """Per trainable gate, the LUT entries of ``kinds`` (empty tuple if the LUT has none)."""
    out = []
    for g in model.gates:
        if g.name not in lut:
            raise CompressionError(f"the LUT for {lut.backend} has no {g.name} table")
        out.append(tuple(lut[g.name].levels(kinds)))
    return out


def periods(gate) -> np.ndarray:
    return np.asarray(gate.type.periods, dtype=np.float64)


def circular_delta(value, level, period):
    """Signed shortest difference value − level on the circle, in [−P/2, P/2)."""
    return np.mod(np.asarray(value) - np.asarray(level) + period / 2, period) - period / 2


def distance(value, level_angles, period) -> float:
    """Euclidean norm of the per-angle circular distances."""
    return float(np.linalg.norm(circular_delta(value, level_angles, period)))


def nearest_representative(value, level_angles, period) -> np.ndarray:
    """The copy γ + k·P of a level closest to ``value`` (unwrapped, per angle)."""
    value = np.asarray(value, dtype=np.float64)
    return value - circular_delta(value, level_angles, period)


def nearest_level(value, levels, period):
    """(entry, distance) of the level nearest ``value``, or (None, inf) if there is none."""
    best, best_d = None, float("inf")
    for e in levels:
        d = distance(value, e.angles, period)
        if d < best_d:
            best, best_d = e, d
    return best, best_d
