"""Gradient rules: how a training step gets the loss and ∂loss/∂θ, as a registry.

Each rule declares what it needs (``shots``, a ``backend``), so the CLI, ``TrainConfig``
validation and the on-chip trainer read one table, and a new rule — parameter shift with shots
on a device — is one :func:`register_gradient` call. Built in:

- ``adjoint``: the simulator's exact gradient, one forward and one backward sweep for all
  parameters (the default);
- ``finite-difference``: central differences, 2·|θ| forward passes per step. Independent of the
  adjoint code, so it checks it; slow, for small models.
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


register_gradient(GradientRule("adjoint", lambda model: model.loss_and_grad,
                               help="the simulator's exact adjoint gradient (default)"))
register_gradient(GradientRule("finite-difference", finite_difference,
                               help="central differences, 2·|θ| forward passes per step (a check; small models)"))
