"""``compvqc``'s levels, chosen together: what a set of gates saves in context against what it costs.

ReCL (``compvqc-paper``) scores each gate's level alone, by accuracy × speedup with every other
gate unchanged, so it favours cheap levels of single gates — often a quantization level of a
controlled gate (CRX(2π), depth 1 alone) that keeps the entanglers dominating the compiled depth
— and its mask then follows a fixed ratio. Here a *set* S of gates on levels is scored as a whole:

* **saving**: the in-context estimate (``compile.estimate``) of the objective (the TCD by
  default, ``compile.objective``) with S on its levels, so removing every controlled gate of a
  qubit pair shows the CX it removes and the single-qubit runs that then merge;
* **cost**: the increase of the training loss when S is fixed on its levels and every other
  parameter re-optimized, to second order (Optimal Brain Surgeon, Hassibi & Stork 1993):
  ΔL(S) = ½ δ_Sᵀ [(H⁻¹)_SS]⁻¹ δ_S, with δ the shortest move of each angle onto its level and H
  the damped empirical Fisher of the trained model (per-sample adjoint gradients on a seeded
  subsample of the training split). The retraining that follows is what re-optimizes the rest.

A walk builds S backwards. It starts collapsed — every gate that has a level on its shallowest
in-context one — and gives gates back one at a time, each step the gate whose return buys back
the most loss per unit of estimated depth it adds, until ratio·|G| gates are left on a level.
Starting collapsed is what lets it see joint savings: returning one controlled gate of a qubit
pair brings back that pair's CX at once (a large depth cost), and once it is back its companions
cost little depth to return, so pairs are kept or removed whole; a forward greedy that adds one
gate at a time sees no saving from any single controlled gate and stalls (measured: on MNIST-2
it kept 11 quantization levels and reached 2.35× at ratio 0.6 where this walk reaches 13×). The
sets of all ratios lie on one path (nested). ADMM then pulls θ onto the levels with this mask
fixed, and retraining re-optimizes the rest. Written by hand: no library selects gate levels
against a circuit-depth estimate.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from compvqc.compile.estimate import Estimator
from compvqc.compress.groups import theta_of, units
from compvqc.compress.levels import candidate_levels, circular_delta, periods

FISHER_SAMPLES = 256  # per-sample gradients for H; 50 parameters need a few hundred
DAMPING = 1e-3  # of H's mean diagonal: H⁻¹ exists, moves along flat directions stay cheap


def fisher(model, theta, x, y, *, samples: int = FISHER_SAMPLES, seed: int = 0) -> np.ndarray:
    """Damped empirical Fisher mean_n g_n g_nᵀ of the loss at θ (g_n: one sample's gradient)."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(x), size=min(samples, len(x)), replace=False)
    grads = np.array([model.loss_and_grad(theta, x[i:i + 1], y[i:i + 1])[1] for i in pick])
    h = grads.T @ grads / len(pick)
    return h + DAMPING * max(float(np.mean(np.diag(h))), 1e-12) * np.eye(len(h))


class Selection:
    """What the walk scores a set with: its estimated cost (in context) and its loss increase."""

    def __init__(self, model, theta, lut, kinds, h: np.ndarray, costs=None):
        self.model, self.theta = model, np.asarray(theta, dtype=np.float64)
        self.est = Estimator(model, lut, costs)
        self.base = self.est.states(self.theta)
        self.hinv = np.linalg.inv(h)
        self.levels = candidate_levels(model, lut, kinds)
        self.states = {(i, k): self.est.gate_state(i, e.angles)
                       for i, row in enumerate(self.levels) for k, e in enumerate(row)}
        # shared weights: the walk moves whole units (gates of one weight share one level row)
        self.units = None if model.plain_weights else units(model)

    def delta(self, i: int, k: int) -> np.ndarray:
        g = self.model.gates[i]
        return -circular_delta(g.angles(self.theta), self.levels[i][k].angles, periods(g))

    def cost(self, chosen: dict):
        states = list(self.base)
        for i, k in chosen.items():
            states[i] = self.states[i, k]
        return self.est.cost(states)

    def loss(self, chosen: dict) -> float:
        if not chosen:
            return 0.0
        if self.units is not None:  # one move per θ index (its first gate's, in θ units)
            moves: dict[int, float] = {}
            for i, k in chosen.items():
                g = self.model.gates[i]
                for p, v in zip(g.params, theta_of(g, self.delta(i, k))):
                    moves.setdefault(p, float(v))
            idx, d = list(moves), np.array(list(moves.values()))
        else:
            idx = [p for i in chosen for p in self.model.gates[i].params]
            d = np.concatenate([self.delta(i, k) for i, k in chosen.items()])
        return 0.5 * float(d @ np.linalg.solve(self.hinv[np.ix_(idx, idx)], d))

    def path(self) -> list[dict]:
        """The walk: the chosen sets from the collapsed one down to the empty one (nested)."""
        # collapsed: every gate that has a level on its cheapest in-context one (ties: the
        # shallower in the LUT — under ESP a pruned CRX and CRX(2π), a Z on the control, both cost
        # nothing, and the pruned one keeps more accuracy once retrained (MNIST-2 on fake_lagos,
        # seed 2: 30 pruned at ratio 0.6 within the budget, against 23 pruned and 7 quantized
        # outside it); under depth the cost is the depth already — then the nearest)
        shallower = (lambda e: 0) if self.est.costs.objective == "depth" else (lambda e: e.depth)
        chosen = {}
        for unit in self.units or [(i,) for i in range(len(self.levels))]:
            i, row = unit[0], self.levels[unit[0]]
            if row:
                k = min(range(len(row)), key=lambda k: (self.cost({**chosen, **dict.fromkeys(unit, k)}),
                                                        shallower(row[k]), float(np.linalg.norm(self.delta(i, k)))))
                chosen.update(dict.fromkeys(unit, k))
        # a step that adds no cost still ranks by the loss it buys back: ε is far below one unit
        eps = 1e-3 if self.est.costs.objective == "depth" else 1e-5 * abs(self.cost({}))
        cost, loss, out = self.cost(chosen), self.loss(chosen), [dict(chosen)]
        unit_of = {i: u for u in self.units or [] for i in u}
        while chosen:
            best = None
            for i in chosen:
                if self.units is not None and i != unit_of[i][0]:
                    continue  # a unit is given back whole, by its representative
                gone = unit_of.get(i, (i,))
                trial = {j: v for j, v in chosen.items() if j not in gone}
                c, lo = self.cost(trial), self.loss(trial)
                key = (loss - lo) / (max(c - cost, 0) + eps)  # loss bought back per cost given back
                if best is None or key > best[0]:
                    best = (key, trial, c, lo)
            _, chosen, cost, loss = best
            out.append(dict(chosen))
        return out


_PATHS: dict = {}  # the last few walks: a ratio search compresses one model at many ratios


def select_jointly(model, theta, data, lut, kinds, ratio: float, seed: int = 0, costs=None) -> tuple[list, np.ndarray]:
    """(a level or None per gate, the mask of the chosen gates): the walk above, stopped at
    ratio·|G| gates (or at the collapsed set, if fewer gates have a level)."""
    theta = np.asarray(theta, dtype=np.float64)
    key = (hashlib.sha256(theta.tobytes() + data.train.x.tobytes() + data.train.y.tobytes()).hexdigest(),
           json.dumps(model.to_dict(), sort_keys=True), lut.sha256, tuple(kinds), seed,
           None if costs is None else costs.objective)
    if key not in _PATHS:
        walk = Selection(model, theta, lut, kinds, fisher(model, theta, data.train.x, data.train.y, seed=seed), costs)
        if len(_PATHS) >= 4:
            _PATHS.clear()
        _PATHS[key] = (walk.levels, walk.path())
    levels, path = _PATHS[key]
    n, target = len(model.gates), int(round(ratio * len(model.gates)))
    chosen = next(c for c in path if len(c) <= target)
    targets = [levels[i][chosen[i]] if i in chosen else None for i in range(n)]
    return targets, np.array([i in chosen for i in range(n)], dtype=bool)
