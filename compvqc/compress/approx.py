"""``qiskit-approx``: the compiler's own approximate synthesis as a compression baseline.

The vanilla model is transpiled with ``approximation_degree`` < 1 (qiskit then drops two-qubit
interactions whose fidelity contribution is below the threshold); nothing is retrained. Its
TCD is the minimum over the recorded seeds, and its accuracy comes from simulating the compiled
circuit itself (bound per sample, read out through the final layout), since the compiled
circuit no longer equals the model.
"""

from __future__ import annotations

import numpy as np

from compvqc.compile.backends import resolve_backend
from compvqc.compile.tcd import OPTIMIZATION_LEVEL, TCD_SEEDS
from compvqc.compress.levels import CompressionError


def approximate(model, theta, backend, degree: float, seeds=TCD_SEEDS):
    """(compiled circuit with the minimum depth, its depth, depths per seed)."""
    from qiskit import transpile

    from compvqc.model.qiskit_io import to_qiskit

    if not 0.0 < degree <= 1.0:
        raise CompressionError("approximation degree must be in (0, 1]")
    backend = resolve_backend(backend)
    circuit = to_qiskit(model, theta).circuit
    best, depths = None, {}
    for s in seeds:
        out = transpile(circuit, backend, optimization_level=OPTIMIZATION_LEVEL, seed_transpiler=int(s),
                        approximation_degree=degree)
        depths[int(s)] = out.depth()
        if best is None or depths[int(s)] < best.depth():
            best = out
    return best, min(depths.values()), depths


def compiled_accuracy(model, compiled, x, y) -> float:
    """Accuracy of the compiled circuit, simulated sample by sample (noise-free)."""
    from qiskit.quantum_info import Statevector

    from compvqc.model.qiskit_io import input_values

    layout = compiled.layout.final_index_layout() if compiled.layout is not None else list(range(model.n_qubits))
    params = {p.name: p for p in compiled.parameters}
    names = [f"x[{i}]" for i in range(len(input_values(model, x[:1])[0]))]
    w = model.readout.weights(model.n_qubits)
    values = input_values(model, x)
    correct = 0
    for v, label in zip(values, y):
        binding = {params[n]: float(val) for n, val in zip(names, v) if n in params}
        probs = Statevector(compiled.assign_parameters(binding)).probabilities(qargs=layout)
        correct += int(np.argmax(probs @ w) == label)
    return correct / len(y)
