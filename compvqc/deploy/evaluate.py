"""Evaluate a deployed VQC on a dataset split: accuracy from sampled (or exact) outcomes.

    deployment = deploy(model, θ, backend)           # transpile once (module transpile)
    V          = deployment.values(model, x)          # one binding row per sample
    counts     = executor(deployment, V, ...)         # one job, (B, 2^n) outcomes
    logits     = (counts / shots) @ W                 # the model's own linear readout
    accuracy   = mean(argmax logits == y)

The readout is the model's ``readout.weights(n)`` applied to the empirical distribution, so a
noiseless run converges to :meth:`VQC.logits` as shots grow; noise and shot noise are the only
differences.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from compvqc.compile.backends import resolve_backend
from compvqc.compile.tcd import TCD_SEEDS
from compvqc.deploy.counts import probabilities_from_counts
from compvqc.errors import DeployError
from compvqc.deploy.executors import EXECUTORS
from compvqc.deploy.transpile import Deployment, deploy
from compvqc.limits import MAX_SHOTS
from compvqc.model.readout import accuracy, predictions


@dataclass(frozen=True)
class Evaluation:
    """Accuracy of one deployed model on one batch, and how it was obtained."""

    accuracy: float
    predictions: np.ndarray  # (B,) predicted class
    probabilities: np.ndarray  # (B, 2^n) empirical (or exact) outcome distribution
    counts: np.ndarray | None  # (B, 2^n) raw counts; None for exact paths
    deployment: Deployment
    executor: str
    shots: int  # 0: exact
    noise: bool
    seed: int  # seed_simulator
    seconds: float  # execution (binding + job + readout), transpilation excluded
    engine: str = ""  # aer executor: "density" (compvqc's batched density matrices) or "aer"

    @property
    def samples(self) -> int:
        return int(self.predictions.shape[0])


def evaluate(model, theta, x, y, backend, *, executor: str = "aer", shots: int = 1024, noise: bool = True,
             seed: int = 0, deployment: Deployment | None = None, seeds=TCD_SEEDS,
             options: dict | None = None, engine: str = "auto") -> Evaluation:
    """Deploy (unless given a deployment) and evaluate ``model`` on (x, y).

    ``executor``: ``aer`` | ``primitives`` | ``exact`` (see :mod:`compvqc.deploy.executors`).
    ``noise``: use the backend's noise model (default); False for the ideal case.
    ``shots``: 0 asks for exact probabilities (``exact``, or ``aer`` without noise).
    ``seed``: ``seed_simulator`` of the sampling; the transpiler seeds are ``seeds``.
    ``options``: extra ``AerSimulator`` options (e.g. ``max_parallel_threads``).
    ``engine``: for ``aer``, ``auto`` | ``density`` | ``aer`` (see
    :mod:`compvqc.deploy.executors`); the one used is recorded in ``Evaluation.engine``.
    """
    if executor not in EXECUTORS:
        raise DeployError(f"unknown executor {executor!r} (known: {', '.join(EXECUTORS)})")
    run = EXECUTORS[executor].run
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or not 0 <= shots <= MAX_SHOTS:
        raise DeployError(f"shots must be an integer in 0..{MAX_SHOTS}, got {shots!r}")
    theta = np.asarray(theta, dtype=np.float64)
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    y = np.asarray(y)
    if len(x) != len(y) or len(x) == 0:
        raise DeployError(f"need a non-empty batch with one label per sample (got {len(x)} samples, {len(y)} labels)")
    backend = resolve_backend(backend)
    if deployment is None:
        deployment = deploy(model, theta, backend, seeds)
    t0 = time.perf_counter()
    out, shots, noise, used = run(model, theta, x, deployment, backend, shots=shots, noise=noise, seed=seed,
                                  options=options, engine=engine)
    counts, probs = (None, out) if shots == 0 else (out, probabilities_from_counts(out))
    logits = probs @ model.readout.weights(model.n_qubits)
    seconds = time.perf_counter() - t0
    return Evaluation(accuracy=accuracy(logits, y), predictions=predictions(logits), probabilities=probs, counts=counts,
                      deployment=deployment, executor=executor, shots=int(shots), noise=bool(noise), seed=int(seed),
                      seconds=seconds, engine=used)


def pick_samples(n: int, samples: int | None, seed: int) -> np.ndarray:
    """Indices of ``samples`` items of a split of size n (all if None), drawn without replacement
    with ``seed`` and sorted, so vanilla and compressed models see the same subset."""
    if samples is None or samples >= n:
        return np.arange(n)
    if samples < 1:
        raise DeployError("samples must be at least 1")
    return np.sort(np.random.default_rng(seed).choice(n, size=samples, replace=False))
