"""ADMM with masked projection onto one LUT level per gate (CompVQC §3 ⑥), in scaled form.

With T_admm(G_i) the level ReCL chose for gate i and u = λ/ρ the scaled dual, iteration r is

    θ-step   minimize loss(θ) + ρ/2 ‖θ − Z + u‖²           (a few epochs of Adam; yours or ours)
    mask     score_i = α·dist_i + (1−α)·cost_i, both min-max scaled to [0, 1]: dist_i the circular
             distance from θ_i + u_i to T_admm(G_i), cost_i the TCD that remains with gate i at
             that level *in context* (a large saving gives a low score); the ⌊ratio·|G|⌉ lowest
             scores get mask 1
    Z-step   Z_i = the representative of T_admm(G_i) nearest θ_i + u_i (unwrapped) where mask_i,
             else θ_i + u_i
    dual     u ← u + θ − Z;   ρ ← ρ·growth

and stops when ‖Δθ‖² and ‖ΔZ‖² both fall below ζ. The primal residual ‖θ − Z‖ and the dual
residual ρ‖Z − Z_prev‖ are reported every iteration. Finally masked gates are hard-set to the
LUT's exact floats and frozen (``finalize``); the rest is retrained by the caller.

A user who owns the training loop uses it like this::

    admm = ADMM(model, targets, ratio=0.5, estimator=Estimator(model, lut))
    state = admm.init(theta)
    for r in range(10):
        for xb, yb in batches:                       # θ-step: add the penalty to your loss
            loss, grad = model.loss_and_grad(theta, xb, yb)
            p, pgrad = admm.penalty(theta, state)
            theta -= lr * (grad + pgrad)
        state, info = admm.update(theta, state)      # mask, Z, dual
    final = admm.finalize(theta, info.mask)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from compvqc.compress.groups import theta_of, units
from compvqc.compress.levels import CompressionError, distance, nearest_representative, periods
from compvqc.compress.state import ADMMState
from compvqc.limits import MAX_EPOCHS, MAX_ITERATIONS, MAX_STEPS


@dataclass(frozen=True)
class ADMMConfig:
    """ADMM hyperparameters (every one is a CLI flag of ``compvqc compress``)."""

    ratio: float = 0.5
    """Fraction of gates that end on a level (mask 1)."""
    alpha: float = 0.25
    """Weight of the distance in the mask score; 1 − α weighs the remaining depth. Chosen on
    validation (MNIST-2, 5 seeds, 0.5 / 0.25 / 0.1 compared in ``benchmarks/RESULTS.md``,
    Compression): 0.25 reached as much speedup as 0.1 with the wider validation margin."""
    rho: float = 1.0
    """Initial penalty ρ. Too small and θ never reaches Z (0.1 left 2.5–3.6 rad gaps)."""
    rho_growth: float = 1.3
    """ρ ← ρ·growth after every iteration."""
    iterations: int = 10
    """R, the maximum number of iterations (the paper: 10–15)."""
    zeta: float = 1e-4
    """Stop once ‖Δθ‖² < ζ and ‖ΔZ‖² < ζ."""
    epochs: int = 1
    """Epochs of Adam per θ-step (at least ``min_steps`` optimizer steps)."""
    min_steps: int = 200
    """Adam moves a parameter by about lr per step, so a θ-step needs enough steps to close a
    gap of a few radians: small datasets get more epochs."""
    lr: float = 0.01
    """Adam learning rate of the θ-steps."""

    def __post_init__(self):
        check_number("ratio", self.ratio, 0.0, 1.0)
        check_number("alpha", self.alpha, 0.0, 1.0)
        check_number("rho", self.rho, 0.0, 1e12, low_open=True)
        check_number("rho_growth", self.rho_growth, 1.0, 1e3)
        check_number("zeta", self.zeta, 0.0, 1e12)
        check_number("lr", self.lr, 0.0, 1e3, low_open=True)
        check_count("iterations", self.iterations, 0, MAX_ITERATIONS)
        check_count("epochs", self.epochs, 0, MAX_EPOCHS)
        check_count("min_steps", self.min_steps, 0, MAX_STEPS)




def check_number(name: str, value, low: float, high: float, *, low_open: bool = False) -> None:
    """A finite real in [low, high] (or (low, high]); else one CompressionError naming it."""
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool) \
        and (low < value if low_open else low <= value) and value <= high
    if not ok:
        raise CompressionError(f"{name} must be a number in {'(' if low_open else '['}{low:g}, {high:g}], got {value!r}")


def check_count(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise CompressionError(f"{name} must be an integer in {low}..{high}, got {value!r}")


@dataclass(frozen=True)
class Update:
    """What one ``update`` did."""

    mask: np.ndarray  # bool per gate
    primal_residual: float  # ‖θ − Z‖
    dual_residual: float  # ρ‖Z − Z_prev‖
    delta_theta: float | None  # ‖θ − θ_prev‖² (None at the first update)
    delta_z: float  # ‖Z − Z_prev‖²
    converged: bool

    def to_dict(self) -> dict:
        return {"masked": int(self.mask.sum()), "primal_residual": self.primal_residual,
                "dual_residual": self.dual_residual, "delta_theta": self.delta_theta, "delta_z": self.delta_z,
                "converged": self.converged}


@dataclass(frozen=True)
class Finalized:
    theta: np.ndarray  # masked parameters are the LUT's exact floats
    prune_mask: np.ndarray
    quant_mask: np.ndarray
    levels: np.ndarray  # (n_gates, 3), NaN where unused
    frozen: np.ndarray  # bool per parameter


class ADMM:
    def __init__(self, model, targets, config: ADMMConfig | None = None, *, estimator=None, mask=None, **overrides):
        """``targets``: per gate, the ReCL level (a LUT Entry) or None (never masked).

        ``estimator`` (a :class:`compvqc.compile.Estimator`) supplies the in-context remaining
        depth; without it the cost is the level's isolated LUT depth. ``mask`` fixes the gates
        put on their levels (a method that chose them together, ``compress.joint``): the
        iterations then only pull θ onto them, and the ratio and α are not used.
        """
        self.model = model
        self.targets = list(targets)
        if len(self.targets) != len(model.gates):
            raise CompressionError("one target per gate is needed")
        self.config = config or ADMMConfig(**overrides)
        if config is not None and overrides:
            raise CompressionError("pass either a config or keyword overrides")
        self.estimator = estimator
        self.candidates = np.array([t is not None for t in self.targets])
        self.units = None if model.plain_weights else units(model)  # shared weights: one decision each
        self.fixed = None if mask is None else np.asarray(mask, bool) & self.candidates
        self.n_mask = min(int(round(self.config.ratio * len(self.targets))), int(self.candidates.sum()))

    # --- the θ-step's extra term ---------------------------------------------------------
    def init(self, theta, warm_mask=None) -> ADMMState:
        """Start Z at the projection, so the first θ-step already pulls toward the levels.

        ``warm_mask`` (e.g. the masks of a checkpoint compressed for another backend) replaces
        the scored mask for this first projection.
        """
        theta = np.asarray(theta, dtype=np.float64)
        state = ADMMState(theta.copy(), np.zeros_like(theta), float(self.config.rho), 0)
        if warm_mask is not None and self.fixed is None:
            mask = np.asarray(warm_mask, bool) & self.candidates
        else:
            mask = self.mask(theta, state)
        return replace(state, Z=self._project(theta, state.u, mask), mask=mask)

    def penalty(self, theta, state: ADMMState) -> tuple[float, np.ndarray]:
        """ρ/2‖θ − Z + u‖² and its gradient ρ(θ − Z + u)."""
        d = np.asarray(theta, dtype=np.float64) - state.Z + state.u
        return 0.5 * state.rho * float(d @ d), state.rho * d

    def penalized(self, loss_and_grad, state: ADMMState):
        """Wrap ``loss_and_grad(theta, x, y)`` with the penalty (for ``compvqc.train.fit``)."""

        def f(theta, x, y):
            loss, grad = loss_and_grad(theta, x, y)
            p, pg = self.penalty(theta, state)
            return loss + p, grad + pg

        return f

    # --- mask, Z, dual -------------------------------------------------------------------
    def costs(self, theta) -> np.ndarray:
        """Remaining (estimated) TCD with gate i alone at its target, per gate; inf if none."""
        out = np.full(len(self.targets), np.inf)
        if self.estimator is None:
            for i, t in enumerate(self.targets):
                if t is not None:
                    out[i] = t.depth
            return out
        base = self.estimator.states(theta)
        if self.units is not None:  # a unit moves as a whole
            for unit in self.units:
                if self.targets[unit[0]] is not None:
                    out[list(unit)] = self.estimator.moved_many(base, {i: self.targets[i].angles for i in unit})
            return out
        for i, t in enumerate(self.targets):
            if t is not None:
                out[i] = self.estimator.moved(base, i, t.angles)
        return out

    def distances(self, theta, state: ADMMState) -> np.ndarray:
        v = np.asarray(theta, dtype=np.float64) + state.u
        out = np.full(len(self.targets), np.inf)
        for i, (g, t) in enumerate(zip(self.model.gates, self.targets)):
            if t is not None:
                out[i] = distance(g.angles(v), t.angles, periods(g))
        return out

    def mask(self, theta, state: ADMMState) -> np.ndarray:
        """The ⌊ratio·|G|⌉ gates with the lowest α·dist + (1−α)·cost (both normalized), or the
        fixed mask."""
        if self.fixed is not None:
            return self.fixed.copy()
        mask = np.zeros(len(self.targets), bool)
        if self.n_mask == 0:
            return mask
        c = self.candidates
        dist, cost = self.distances(theta, state), self.costs(theta)
        score = np.full(len(self.targets), np.inf)
        score[c] = self.config.alpha * _minmax(dist[c]) + (1 - self.config.alpha) * _minmax(cost[c])
        order = np.lexsort((np.arange(len(score)), score))  # stable: ties by gate index
        if self.units is None:
            mask[order[: self.n_mask]] = True
            return mask
        size = {u[0]: u for u in self.units}  # units by representative, taken whole while they fit
        count = 0
        for i in order:
            if i in size and np.isfinite(score[i]) and count + len(size[i]) <= self.n_mask:
                mask[list(size[i])] = True
                count += len(size[i])
        return mask

    def _project(self, theta, u, mask) -> np.ndarray:
        v = np.asarray(theta, dtype=np.float64) + u
        z = v.copy()
        for i in np.flatnonzero(mask):
            g = self.model.gates[i]
            idx = list(g.params)
            if g.plain:
                z[idx] = nearest_representative(v[idx], self.targets[i].angles, periods(g))
            else:  # in angle space, then back to θ
                z[idx] = theta_of(g, nearest_representative(g.angles(v), self.targets[i].angles, periods(g)))
        return z

    def update(self, theta, state: ADMMState) -> tuple[ADMMState, Update]:
        """Mask, Z-step and dual update after a θ-step; returns the new state and a report."""
        theta = np.asarray(theta, dtype=np.float64)
        mask = self.mask(theta, state)
        z = self._project(theta, state.u, mask)
        u = state.u + theta - z
        d_theta = float(np.sum((theta - state.prev_theta) ** 2)) if state.prev_theta.size else np.inf
        d_z = float(np.sum((z - state.Z) ** 2))
        report = Update(mask, float(np.linalg.norm(theta - z)), float(state.rho * np.sqrt(d_z)),
                        None if d_theta == np.inf else d_theta, d_z, d_theta < self.config.zeta and d_z < self.config.zeta)
        new = ADMMState(z, u, float(state.rho * self.config.rho_growth), state.iteration + 1, theta.copy(), mask)
        return new, report

    # --- final step ----------------------------------------------------------------------
    def finalize(self, theta, mask) -> Finalized:
        return finalize(self.model, theta, mask, self.targets)


def _minmax(v: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] by min and max: the remaining TCDs of single gates differ by a few
    percent of their size, so dividing by the max alone would flatten the cost term."""
    lo, hi = float(v.min()), float(v.max())
    return np.zeros_like(v) if hi - lo < 1e-12 else (v - lo) / (hi - lo)


def finalize(model, theta, mask, targets) -> Finalized:
    """Hard-set masked gates to their level's exact LUT floats; freeze them."""
    theta = np.asarray(theta, dtype=np.float64).copy()
    n = len(model.gates)
    prune, quant = np.zeros(n, bool), np.zeros(n, bool)
    levels = np.full((n, 3), np.nan)
    frozen = np.zeros(model.n_params, bool)
    for i in np.flatnonzero(mask):
        g, t = model.gates[i], targets[i]
        if t is None:
            raise CompressionError(f"gate {i} is masked but has no level")
        idx = list(g.params)
        theta[idx] = t.angles if g.plain else theta_of(g, t.angles)  # the LUT's float64, bit for bit
        if not g.plain and not np.array_equal(g.angles(theta), np.asarray(t.angles)):
            raise CompressionError(f"gate {i}: its scaled weight cannot hold the level {t.angles} exactly")
        levels[i, : len(t.angles)] = t.angles
        frozen[idx] = True
        (prune if t.kind == "prune" else quant)[i] = True
    return Finalized(theta, prune, quant, levels, frozen)
