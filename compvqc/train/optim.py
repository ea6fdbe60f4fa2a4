"""Optimizers as explicit state: ``init(params) -> state``, ``update(grads, state) -> (updates, state)``.

The state is a NamedTuple of named numpy arrays (optax's habit), so a checkpoint writes
``state._asdict()`` and a resume rebuilds it with ``Adam.state_from_dict``: nothing hidden,
nothing pickled. ``frozen`` (a boolean mask) zeroes the update of frozen parameters, which
compression uses after it hard-sets masked gates to their LUT levels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from compvqc.errors import TrainingError


class AdamState(NamedTuple):
    count: np.ndarray  # int64 scalar: steps taken
    mu: np.ndarray  # first moment
    nu: np.ndarray  # second moment


class SGDState(NamedTuple):
    count: np.ndarray
    velocity: np.ndarray


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba) with bias correction."""

    lr: float = 0.01
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    name = "adam"

    def init(self, params: np.ndarray) -> AdamState:
        z = np.zeros_like(params, dtype=np.float64)
        return AdamState(np.array(0, dtype=np.int64), z, z.copy())

    def update(self, grads, state: AdamState, frozen=None):
        count = state.count + 1
        mu = self.b1 * state.mu + (1 - self.b1) * grads
        nu = self.b2 * state.nu + (1 - self.b2) * grads**2
        mu_hat = mu / (1 - self.b1 ** float(count))
        nu_hat = nu / (1 - self.b2 ** float(count))
        updates = -self.lr * mu_hat / (np.sqrt(nu_hat) + self.eps)
        return _mask(updates, frozen), AdamState(count, mu, nu)

    @staticmethod
    def state_from_dict(d: dict) -> AdamState:
        return AdamState(*(np.asarray(d[k]) for k in AdamState._fields))


@dataclass(frozen=True)
class SGD:
    """SGD with optional (heavy-ball) momentum."""

    lr: float = 0.05
    momentum: float = 0.0
    name = "sgd"

    def init(self, params: np.ndarray) -> SGDState:
        return SGDState(np.array(0, dtype=np.int64), np.zeros_like(params, dtype=np.float64))

    def update(self, grads, state: SGDState, frozen=None):
        velocity = self.momentum * state.velocity + grads
        return _mask(-self.lr * velocity, frozen), SGDState(state.count + 1, velocity)

    @staticmethod
    def state_from_dict(d: dict) -> SGDState:
        return SGDState(*(np.asarray(d[k]) for k in SGDState._fields))


def _mask(updates, frozen):
    if frozen is None:
        return updates
    return np.where(np.asarray(frozen, dtype=bool), 0.0, updates)


def apply_updates(params: np.ndarray, updates: np.ndarray) -> np.ndarray:
    return params + updates


OPTIMIZERS = ("adam", "sgd")


def make_optimizer(name: str, lr: float | None = None, **kw):
    cls = {"adam": Adam, "sgd": SGD}.get(name)
    if cls is None:
        raise TrainingError(f"unknown optimizer {name!r} (use adam or sgd)")
    return cls(**({"lr": lr} if lr is not None else {}), **kw)
