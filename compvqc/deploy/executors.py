"""Executors: run the deployed circuit for a batch of input bindings, return outcome statistics.

Each executor takes a :class:`~compvqc.deploy.transpile.Deployment` and the (B, P) binding
matrix and returns (B, 2^n) counts (or exact probabilities with ``shots=0`` where that exists),
in one job — the circuit was transpiled once, samples are parameter bindings:

* ``exact``      — compvqc's own noise-free simulator on the logical model (no backend, no
                   shots): the reference every other path must agree with;
* ``aer``        — qiskit-aer's noise model: ``AerSimulator.from_backend(backend)`` (the
                   Target's noise model) or a noiseless ``AerSimulator()``. Two engines
                   (``engine=``): ``"aer"`` runs all bindings in one ``AerSimulator.run`` via
                   ``parameter_binds``; ``"density"`` (:mod:`compvqc.deploy.density`: much faster
                   at a few active qubits, checked against Aer) evolves all bindings together as
                   density matrices under the same noise model and draws each binding's counts
                   from its exact outcome law. ``"auto"`` (default) takes ``density`` up to
                   :data:`~compvqc.deploy.density.MAX_ACTIVE_QUBITS` active qubits and when the
                   circuit and noise model compile, else ``aer``; passing Aer ``options`` other
                   than threading forces ``aer``. ``shots=0`` (noise-free only) saves exact
                   probabilities with Aer instead of sampling;
* ``primitives`` — qiskit-ibm-runtime's current Sampler (``executor_sampler.Sampler``, the
                   successor of ``SamplerV2`` in 0.51) with ``mode=backend``: a fake backend
                   runs locally on Aer with its noise model, a real ``ibm_*`` device runs on
                   hardware through the same call. It rounds bound angles to 1e-5·π/2 locally.

The Aer trap (parameterized CRX/CRY/CRZ not transpiled first act as identity, qiskit-aer
#2323/#2391) is guarded by :func:`require_transpiled`: a circuit with an operation the Target
does not list is refused, whatever the caller built.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Callable

import numpy as np

from compvqc.compile.backends import backend_name, resolve_backend
from compvqc.deploy.counts import counts_from_aer, counts_from_bitarray
from compvqc.errors import DeployError

ENGINES = ("auto", "density", "aer")
_THREAD_OPTIONS = {"max_parallel_threads", "max_parallel_experiments", "max_parallel_shots"}


def require_transpiled(circuit, backend) -> None:
    """Refuse a circuit that was not transpiled for ``backend`` (the Aer trap guard)."""
    target = resolve_backend(backend).target
    allowed = set(target.operation_names) | {"measure", "barrier"}
    bad = sorted({inst.operation.name for inst in circuit.data} - allowed)
    if bad:
        raise DeployError(f"the circuit is not transpiled for {backend_name(backend)} (found {', '.join(bad)}): "
                          "transpile first, then bind — qiskit-aer ignores untranspiled parameterized "
                          "controlled rotations")
    if circuit.num_qubits != target.num_qubits:
        raise DeployError(f"the circuit has {circuit.num_qubits} qubits, {backend_name(backend)} has "
                          f"{target.num_qubits}: it was not transpiled for this backend")


def is_simulated(backend) -> bool:
    """True for backends that run locally (fake snapshots, Aer), False for real devices."""
    from qiskit_aer import AerSimulator
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

    return isinstance(backend, (FakeBackendV2, AerSimulator))


_SIMULATORS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def aer_simulator(backend, noise: bool, options: dict | None = None):
    """``AerSimulator.from_backend`` (noise on) or a noiseless ``AerSimulator``.

    Cached per backend object and options: building the noise model from the Target takes
    0.1–0.3 s, as long as sampling 30 samples. Run options (shots, seed) are per call, so a
    cached simulator carries no state between evaluations.
    """
    from qiskit_aer import AerSimulator

    backend = resolve_backend(backend)
    key = (bool(noise), tuple(sorted((options or {}).items())))
    try:
        per_backend = _SIMULATORS.setdefault(backend, {})
    except TypeError:  # not weak-referenceable: no cache
        per_backend = {}
    if key not in per_backend:
        opts = dict(options or {})
        per_backend[key] = AerSimulator.from_backend(backend, **opts) if noise else AerSimulator(**opts)
    return per_backend[key]


def aer_engine(deployment, backend, *, shots: int, noise: bool, engine: str = "auto",
               options: dict | None = None) -> str:
    """Which engine :func:`run_aer` uses for these arguments: ``"density"`` or ``"aer"``."""
    from compvqc.deploy import density

    if engine not in ENGINES:
        raise DeployError(f"unknown Aer engine {engine!r} (known: {', '.join(ENGINES)})")
    if engine == "aer" or shots == 0:
        return "aer"
    if engine == "auto" and set(options or {}) - _THREAD_OPTIONS:
        return "aer"  # explicit simulator options (a method, a device…) ask for Aer itself
    try:
        _density_program(deployment, backend, noise, options)
    except density.Unsupported as e:
        if engine == "density":
            raise DeployError(f"the density engine cannot run this circuit: {e}") from None
        return "aer"
    return "density"


def _density_program(deployment, backend, noise: bool, options: dict | None):
    from compvqc.deploy import density

    noise_model = aer_simulator(backend, True, options).options.noise_model if noise else None
    return density.program_for(deployment.measured, noise_model, deployment.parameters)


def run_aer(deployment, values: np.ndarray, backend, *, shots: int, noise: bool, seed: int,
            options: dict | None = None, engine: str = "auto") -> np.ndarray:
    """All bindings in one job; (B, 2^n) counts, or exact probabilities if ``shots == 0``.

    ``engine``: ``"auto"`` | ``"density"`` | ``"aer"`` (see the module docstring and
    :func:`aer_engine`). ``seed`` seeds Aer's ``seed_simulator`` or the density engine's
    ``numpy.random.default_rng``; either way the same seed gives the same counts.
    """
    require_transpiled(deployment.measured, backend)
    values = np.atleast_2d(values)
    params = deployment.parameters
    if shots < 0:
        raise DeployError("shots must be ≥ 0")
    if shots == 0 and noise:
        raise DeployError("exact probabilities (shots=0) are only available without noise")
    if aer_engine(deployment, backend, shots=shots, noise=noise, engine=engine, options=options) == "density":
        from compvqc.deploy import density

        program = _density_program(deployment, backend, noise, options)
        return density.sample_counts(density.probabilities(program, values), shots, seed)
    sim = aer_simulator(backend, noise, options)
    if shots == 0:
        circuit = deployment.circuit.copy()
        circuit.save_probabilities(list(deployment.measured_qubits), label="p")
        result = sim.run(circuit, parameter_binds=_binds(params, values), seed_simulator=seed).result()
        return np.array([np.asarray(result.data(i)["p"], dtype=np.float64) for i in range(len(values))])
    if params:
        result = sim.run(deployment.measured, parameter_binds=_binds(params, values), shots=int(shots),
                         seed_simulator=int(seed)).result()
    else:  # nothing to bind: the same circuit once per sample
        result = sim.run([deployment.measured] * len(values), shots=int(shots), seed_simulator=int(seed)).result()
    return counts_from_aer(result, len(values), deployment.n_qubits)


def _binds(params, values):
    return [{p: values[:, j].tolist() for j, p in enumerate(params)}]


def run_primitives(deployment, values: np.ndarray, backend, *, shots: int, noise: bool, seed: int) -> np.ndarray:
    """qiskit-ibm-runtime's Sampler, one pub (circuit, all bindings); (B, 2^n) counts."""
    from qiskit_ibm_runtime.executor_sampler import Sampler

    backend = resolve_backend(backend)
    require_transpiled(deployment.measured, backend)
    if shots < 1:
        raise DeployError("the primitives executor samples: shots must be at least 1")
    simulated = is_simulated(backend)
    if not noise and not simulated:
        raise DeployError(f"{backend_name(backend)} is real hardware: its noise cannot be switched off "
                          "(the aer executor with noise=False gives the ideal case)")
    sampler = Sampler(mode=backend if noise else aer_simulator(backend, noise=False))
    sampler.options.default_shots = int(shots)
    sampler.options.simulator.seed_simulator = int(seed)  # local simulation only; hardware ignores it
    values = np.atleast_2d(values)
    pub = (deployment.measured, values) if deployment.parameters else (deployment.measured,)
    result = sampler.run([pub], shots=int(shots)).result()
    counts = counts_from_bitarray(result[0].data["c"], deployment.n_qubits)
    if counts.shape[0] != len(values):
        counts = np.repeat(counts, len(values), axis=0)
    return counts


@dataclass(frozen=True)
class Executor:
    """An executor as data: ``run(model, theta, x, deployment, backend, *, shots, noise, seed,
    options, engine) -> (counts or probabilities, shots, noise, engine used)``."""

    name: str
    run: Callable
    help: str = ""


EXECUTORS: dict[str, Executor] = {}


def register_executor(executor: Executor) -> Executor:
    EXECUTORS[executor.name] = executor
    return executor


def _exact(model, theta, x, deployment, backend, *, shots, noise, seed, options, engine):
    return model.probabilities(theta, x), 0, False, ""


def _aer(model, theta, x, deployment, backend, *, shots, noise, seed, options, engine):
    used = aer_engine(deployment, backend, shots=shots, noise=noise, engine=engine, options=options)
    return run_aer(deployment, deployment.values(model, x), backend, shots=shots, noise=noise, seed=seed,
                   options=options, engine=used), shots, noise, used


def _primitives(model, theta, x, deployment, backend, *, shots, noise, seed, options, engine):
    return run_primitives(deployment, deployment.values(model, x), backend, shots=shots, noise=noise,
                          seed=seed), shots, noise, ""


for _e in (
    Executor("aer", _aer, help="qiskit-aer with the backend's noise model (default)"),
    Executor("primitives", _primitives, help="qiskit-ibm-runtime Sampler (runs on the device for ibm_*)"),
    Executor("exact", _exact, help="compvqc's noise-free simulator"),
):
    register_executor(_e)
