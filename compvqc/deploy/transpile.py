"""Stage 3 of CompVQC: deploy a (compressed or vanilla) VQC on a backend.

The model's circuit — trained weights bound and canonicalized, input-encoding angles left as
the unbound ``ParameterVector`` ``x`` — is transpiled ONCE per recorded ``seed_transpiler``
with qiskit's ``optimization_level=3`` (the TCD setting). Its layout stage is noise-aware
through qiskit's own passes: ``VF2Layout`` and ``VF2PostLayout`` score candidate layouts with
the ``Target``'s gate and readout errors (Sabre takes over when no perfect layout exists). Of
the seeds that reach the minimum depth (the TCD), the one with the highest estimated success
probability is kept, so the deployed circuit's depth *is* the TCD reported elsewhere.

Execution never re-transpiles: every sample is a binding of the input parameters on this one
circuit. That is also the guard against the qiskit-aer 0.18 trap (parameterized CRX/CRY/CRZ
that were not transpiled act as identity, qiskit-aer #2323/#2391): after transpilation no
controlled rotation is left, and the executors refuse circuits with non-Target operations.

Measurements are appended *after* transpilation on the physical qubits that hold the logical
qubits at the end of the circuit (the final layout, routing permutation included), with
classical bit i = logical qubit i, so counts come back in the model's (qiskit) bit order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from compvqc.compile.backends import backend_name, resolve_backend
from compvqc.compile.cost import best_compilation
from compvqc.compile.tcd import OPTIMIZATION_LEVEL, TCD_SEEDS
from compvqc.errors import DeployError


@dataclass(frozen=True)
class Deployment:
    """A VQC transpiled for one backend, with where it landed and what it costs."""

    backend: str
    circuit: object  # transpiled QuantumCircuit: inputs unbound, no measurements (its depth is the TCD)
    measured: object  # the same circuit with final measurements (classical bit i = logical qubit i)
    inputs: object  # the ParameterVector ``x`` of the logical circuit
    n_qubits: int
    seed_transpiler: int
    physical_qubits: tuple[int, ...]  # initial layout: physical qubit of logical qubit i
    measured_qubits: tuple[int, ...]  # final layout: where logical qubit i is read out
    tcd: int
    depths: dict = field(default_factory=dict)  # seed -> transpiled depth
    two_qubit_gates: int = 0
    duration: float = 0.0  # seconds, ASAP schedule with measurements
    success_probability: float = 1.0
    weights: object = None  # the ParameterVector ``w`` when the weights were left unbound (on-chip training)

    @property
    def parameters(self) -> list:
        """The measured circuit's input parameters, in the column order of :meth:`values`."""
        return list(self.measured.parameters)

    def values(self, model, x, weights=None) -> np.ndarray:
        """(B, P) binding matrix for a feature batch x: one row per sample, columns = parameters.

        A deployment with unbound weights also takes ``weights``: one weight vector for every
        row, or a (B, W) matrix of one per row."""
        from compvqc.model.qiskit_io import input_values

        vals = input_values(model, x)
        column = {p: i for i, p in enumerate(self.inputs)}
        if self.weights is not None:
            if weights is None:
                raise DeployError("this deployment leaves the weights unbound: pass them")
            w = np.broadcast_to(np.asarray(weights, dtype=np.float64), (len(vals), len(self.weights)))
            column.update({p: vals.shape[1] + j for j, p in enumerate(self.weights)})
            vals = np.hstack([vals, w])
        try:
            cols = [column[p] for p in self.parameters]
        except KeyError as e:
            raise DeployError(f"the deployed circuit has a parameter that is not a model input: {e}") from None
        return np.ascontiguousarray(vals[:, cols], dtype=np.float64)

    def to_dict(self) -> dict:
        """JSON-ready record (stored in a checkpoint's metrics and printed by the CLI)."""
        return {"backend": self.backend, "seed_transpiler": self.seed_transpiler,
                "optimization_level": OPTIMIZATION_LEVEL, "physical_qubits": list(self.physical_qubits),
                "measured_qubits": list(self.measured_qubits), "tcd": self.tcd,
                "depths": {str(k): v for k, v in self.depths.items()}, "two_qubit_gates": self.two_qubit_gates,
                "duration": self.duration, "success_probability": self.success_probability}


def deploy(model, theta, backend, seeds=TCD_SEEDS) -> Deployment:
    """Transpile ``model`` with weights ``theta`` for ``backend`` (see the module docstring).

    ``theta=None`` leaves the weights as the unbound ``ParameterVector`` ``w``: one circuit for
    every weight vector, what on-chip training binds its shifted angles into."""
    from compvqc.model.qiskit_io import to_qiskit

    backend = resolve_backend(backend)
    target = backend.target
    seeds = tuple(int(s) for s in seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise DeployError("deploy needs a non-empty list of distinct seed_transpiler values")
    if model.n_qubits > target.num_qubits:
        raise DeployError(f"the model needs {model.n_qubits} qubits, {backend_name(backend)} has {target.num_qubits}")
    logical = to_qiskit(model, None if theta is None else np.asarray(theta, dtype=np.float64))
    best = best_compilation(logical.circuit, model.n_qubits, backend, seeds)
    circuit = best["circuit"]
    layout = circuit.layout
    initial = tuple(int(q) for q in layout.initial_index_layout(filter_ancillas=True)) if layout else tuple(
        range(model.n_qubits))
    final = tuple(int(q) for q in layout.final_index_layout(filter_ancillas=True)) if layout else initial
    return Deployment(
        backend=backend_name(backend), circuit=circuit, measured=best["measured"], inputs=logical.inputs,
        n_qubits=model.n_qubits, seed_transpiler=best["seed"], physical_qubits=initial, measured_qubits=final,
        tcd=best["tcd"], depths=best["depths"], two_qubit_gates=best["two_qubit_gates"], duration=best["duration"],
        success_probability=best["success_probability"], weights=logical.weights,
    )


def with_deployment(ckpt, deployment: Deployment, backend=None, shots: int | None = None):
    """A copy of ``ckpt`` carrying the qubit mapping, the deployment record and the hardware profile."""
    from compvqc.compile.profile import hardware_profile

    out = ckpt.copy() if hasattr(ckpt, "copy") else ckpt
    out.qubit_mapping = np.asarray(deployment.physical_qubits, dtype=np.int64)
    out.metrics = dict(out.metrics)
    out.metrics["deployment"] = deployment.to_dict()
    if backend is not None:
        out.hardware_profile = hardware_profile(resolve_backend(backend))
    if shots is not None:
        out.shots = int(shots)
    return out
