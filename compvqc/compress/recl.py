"""ReCL (CompVQC §3 ⑤): one compression level per gate, by accuracy × speedup.

For gate i and each level γ in T(G_i): θ' = θ with θ_i = γ, metric M = acc(θ') · TCD(θ)/TCD(θ')
on the validation split, and T_admm(G_i) = argmax_γ M. (The paper prints the TCD fraction the
other way up; its own Fig. 7 — higher is better, vanilla = its accuracy — only holds with the
speedup.) TCD(θ') is the fast estimate *in context*: consecutive single-qubit gates merge after
compilation, so pruning one of them saves less than its isolated depth. ``context=False`` uses
the isolated LUT depths instead (TCD(θ) − depth(θ_i) + depth(γ)) to show what that changes;
``true_tcd_backend`` measures every candidate with the transpiler (slow; for checking).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compvqc.compile.estimate import Estimator
from compvqc.model.gates import canonicalize_angles
from compvqc.compress.groups import theta_of, units
from compvqc.model.readout import accuracy as readout_accuracy


@dataclass(frozen=True)
class Choice:
    gate: int
    level: object | None  # the chosen LUT Entry, or None when the gate has no level
    metric: float
    accuracy: float
    tcd: float  # estimated TCD with only this gate at its level


def accuracy(model, theta, x, y) -> float:
    """Noise-free accuracy of θ on (x, y)."""
    return readout_accuracy(model.logits(theta, x), y)


def recl(model, theta, lut, levels, x_val, y_val, *, context: bool = True, true_tcd_backend=None,
         costs=None) -> list[Choice]:
    """``costs`` (``compile.objective``): the objective whose speedup scores a level (depth by default)."""
    theta = np.asarray(theta, dtype=np.float64)
    est = Estimator(model, lut, costs)
    base_states = est.states(theta)
    base_tcd = est.cost(base_states)
    if true_tcd_backend is not None:
        from compvqc.compile.tcd import true_tcd

        base_tcd = true_tcd(model, theta, true_tcd_backend).depth
    floor = 1 if est.costs.objective in ("depth", "2q") else 1e-3 * base_tcd  # what a speedup may divide by
    members = {u[0]: u for u in units(model)} if not model.plain_weights else None  # shared weights: one choice
    choices = []
    for i, (g, cands) in enumerate(zip(model.gates, levels)):
        best = Choice(i, None, -np.inf, np.nan, np.nan)
        idx = list(g.params)
        if members is not None and i not in members:  # a unit's member: its representative chooses (tie)
            choices.append(best)
            continue
        for e in cands:
            trial = theta.copy()
            trial[idx] = e.angles if members is None else theta_of(g, e.angles)
            acc = accuracy(model, trial, x_val, y_val)
            if true_tcd_backend is not None:
                from compvqc.compile.tcd import true_tcd

                t = true_tcd(model, trial, true_tcd_backend).depth
            elif context and members is not None:
                t = est.moved_many(base_states, {j: e.angles for j in members[i]})
            elif context:
                t = est.moved(base_states, i, e.angles)
            else:
                t = base_tcd - est.costs.value(g.name, canonicalize_angles(g.name, theta[idx])) \
                    + est.costs.value(g.name, e.angles)
            m = acc * base_tcd / max(t, floor)
            if m > best.metric:
                best = Choice(i, e, m, acc, t)
        choices.append(best)
    return choices

