"""Gradient rules: how a training step gets the loss and ∂loss/∂θ, as a registry.

Each rule declares what it needs (``shots``, a ``backend``), so the CLI, ``TrainConfig``
validation and the on-chip trainer read one table, and a new rule — parameter shift with shots
on a device — is one :func:`register_gradient` call. Built in:

- ``adjoint``: the simulator's exact gradient, one forward and one backward sweep for all
  parameters (the default);
- ``finite-difference``: central differences, 2·|θ| forward passes per step. Independent of the
  adjoint code, so it checks it; slow, for small models;
- ``parameter-shift``: each gate angle shifted by its rule (``model.gates.shift_rule``: two terms,
  or four for controlled rotations), every shifted circuit evaluated exactly, and the loss's
  gradient with respect to the logits applied classically; a weight shared by several gates sums
  its gates' terms (times their scales). What a device computes, here in the infinite-shot limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from compvqc.errors import TrainingError
from compvqc.model.readout import softmax_cross_entropy

LossAndGrad = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[float, np.ndarray]]


@dataclass(frozen=True)
class GradientRule:
    name: str
    make: Callable[..., LossAndGrad]
    """``make(model) -> loss_and_grad(theta, x, y)``."""
    needs: tuple[str, ...] = ()
    """What a run must provide: ``"shots"``, ``"backend"``."""
    on_device: bool = False
    """Whether ``compvqc.onchip`` can measure this rule on a backend with shots (``--backend --shots``)."""
    help: str = ""


GRADIENTS: dict[str, GradientRule] = {}


def register_gradient(rule: GradientRule) -> GradientRule:
    """Add ``rule`` to the registry (replacing one of the same name); returns it."""
    unknown = set(rule.needs) - {"shots", "backend"}
    if unknown:
        raise TrainingError(f"gradient rule {rule.name}: unknown needs {sorted(unknown)}")
    GRADIENTS[rule.name] = rule
    return rule


def get_gradient(name: str) -> GradientRule:
    try:
        return GRADIENTS[name]
    except (KeyError, TypeError):
        raise TrainingError(f"unknown gradient rule {name!r} (known: {', '.join(GRADIENTS)})") from None


def finite_difference(model, step: float = 1e-6) -> LossAndGrad:
    """Central differences of the mean cross-entropy (error O(step²) + O(ε/step) ≈ 1e-10)."""

    def loss(theta, x, y):
        return softmax_cross_entropy(model.logits(theta, x), y)[0]

    def loss_and_grad(theta, x, y):
        theta = np.asarray(theta, dtype=np.float64)
        grad = np.empty_like(theta)
        for j in range(theta.size):
            up, down = theta.copy(), theta.copy()
            up[j] += step
            down[j] -= step
            grad[j] = (loss(up, x, y) - loss(down, x, y)) / (2 * step)
        return loss(theta, x, y), grad

    return loss_and_grad


def parameter_shift(model) -> LossAndGrad:
    """The parameter-shift gradient, exact (noise-free, infinite shots)."""
    from compvqc.model.gates import shift_rule

    expanded, slots = one_slot_per_angle(model)

    def loss_and_grad(theta, x, y):
        theta = np.asarray(theta, dtype=np.float64)
        angles = np.concatenate([g.angles(theta) for g in model.gates]) if model.gates else np.zeros(0)
        loss, dlogits = softmax_cross_entropy(expanded.logits(angles, x), y)
        grad = np.zeros(model.n_params)
        for k, (name, j, p, scale) in enumerate(slots):
            d = 0.0
            for shift, coef in shift_rule(name, j):
                shifted = angles.copy()
                shifted[k] += shift
                d = d + coef * expanded.logits(shifted, x)
            grad[p] += scale * float(np.sum(dlogits * d))
        return loss, grad

    return loss_and_grad


def one_slot_per_angle(model):
    """The model with every gate angle its own parameter (a shift moves one gate, even when its
    weight is shared), and per slot (gate type, angle index, θ index, scale)."""
    from dataclasses import replace

    from compvqc.model.ops import Gate

    ops, slots = [], []
    for op in model.ops:
        if isinstance(op, Gate):
            scales = op.scales or (1.0,) * len(op.params)
            ops.append(Gate(op.name, op.wires, tuple(range(len(slots), len(slots) + len(op.params)))))
            slots += [(op.name, j, p, s) for j, (p, s) in enumerate(zip(op.params, scales))]
        else:
            ops.append(op)
    return replace(model, ops=tuple(ops)), slots


register_gradient(GradientRule("adjoint", lambda model: model.loss_and_grad,
                               help="the simulator's exact adjoint gradient (default)"))
register_gradient(GradientRule("finite-difference", finite_difference,
                               help="central differences, 2·|θ| forward passes per step (a check; small models)"))
register_gradient(GradientRule("parameter-shift", parameter_shift, on_device=True,
                               help="each gate's shift rule (2 or 4 terms), exact expectations: what a device "
                                    "computes, in the infinite-shot limit"))
