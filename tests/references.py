"""Independent references the simulator is checked against: qiskit's Statevector, finite differences."""

import numpy as np
from qiskit.quantum_info import Statevector

from compvqc.model.qiskit_io import input_values, to_qiskit


def reference_probs(model, theta, x) -> np.ndarray:
    """Basis-state probabilities per sample from qiskit's Statevector of the exported circuit."""
    q = to_qiskit(model, theta)
    return np.array([
        Statevector(q.circuit.assign_parameters(dict(zip(q.inputs, v)), strict=False)).probabilities()
        for v in input_values(model, x)
    ])


def finite_difference(f, theta, x, y, eps=1e-6) -> np.ndarray:
    """Central differences of the loss of anything with ``loss_and_grad`` (a VQC or a Simulator)."""
    out = np.zeros_like(theta)
    for k in range(len(theta)):
        e = np.zeros_like(theta)
        e[k] = eps
        out[k] = (f.loss_and_grad(theta + e, x, y)[0] - f.loss_and_grad(theta - e, x, y)[0]) / (2 * eps)
    return out
