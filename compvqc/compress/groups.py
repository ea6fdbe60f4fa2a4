"""Weights shared by several gates: one compression decision for all of them.

A *unit* is a set of gates tied by shared θ indices (a connected component); on a model where
every gate has its own weight each gate is its own unit and nothing here changes anything. A unit
is put on a level as a whole: its representative (first gate) decides the level and whether it is
masked, and every member follows, since they are one weight.

Supported (``check``): in a unit of several gates every gate has one angle, the same type and the
same scale; every scale is a power of two (±1, ±2, ½, …) and no gate has an offset. Then one θ
value puts every member on the same LUT level, exactly — θ = level / scale and scale · θ both
round-trip bit for bit, so the compiler sees the LUT's float (QAOA's ``2γ`` is such a scale).
"""

from __future__ import annotations

import math

import numpy as np

from compvqc.errors import CompressionError


def units(model) -> list[tuple[int, ...]]:
    """The gates tied by shared weights, as sorted tuples of gate indices, in gate order."""
    parent = list(range(len(model.gates)))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[int, int] = {}
    for i, g in enumerate(model.gates):
        for p in g.params:
            if p in first:
                parent[root(i)] = root(first[p])
            else:
                first[p] = i
    out: dict[int, list[int]] = {}
    for i in range(len(model.gates)):
        out.setdefault(root(i), []).append(i)
    return sorted((tuple(v) for v in out.values()), key=lambda u: u[0])


def _power_of_two(s: float) -> bool:
    m, _ = math.frexp(abs(s))
    return s != 0 and m == 0.5


def check(model) -> None:
    """Refuse, in one line, shared or scaled weights that cannot take one exact decision."""
    for unit in units(model):
        gates = [model.gates[i] for i in unit]
        for i, g in zip(unit, gates):
            if len(set(g.params)) != len(g.params):
                raise CompressionError(f"gate {i} ({g.name}) uses one weight for several of its angles: a level "
                                       "sets each angle apart (give each angle its own weight)")
            if g.offsets:
                raise CompressionError(f"gate {i} ({g.name}) shifts its weight by an offset: a level could not be "
                                       "set exactly (give it its own weight without an offset)")
            if not all(_power_of_two(s) for s in g.scales):
                raise CompressionError(f"gate {i} ({g.name}) scales its weight by {g.scales}: only powers of two "
                                       "(±1, ±2, ½, …) keep a level exact")
        if len(unit) > 1 and (len({(g.name, g.scales) for g in gates}) > 1 or gates[0].type.n_params != 1):
            raise CompressionError(f"gates {', '.join(map(str, unit))} share a weight but differ in type or scale "
                                   "(or have several angles): one decision cannot put all of them on a level")


def theta_of(gate, angles) -> np.ndarray:
    """The θ values that give ``gate`` these angles (exact for the scales ``check`` admits)."""
    a = np.asarray(angles, dtype=np.float64)
    return a / np.asarray(gate.scales) if gate.scales else a


def tie(model, targets: list, mask):
    """Every member of a unit takes its representative's level and mask bit."""
    targets = list(targets)
    mask = None if mask is None else np.asarray(mask, bool).copy()
    for unit in units(model):
        for i in unit[1:]:
            targets[i] = targets[unit[0]]
            if mask is not None:
                mask[i] = mask[unit[0]]
    return targets, mask
