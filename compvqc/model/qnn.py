"""A qiskit-machine-learning QNN as a compvqc model, without importing qiskit-machine-learning.

``from_qnn(qnn, weights)`` reads what an ``EstimatorQNN`` or ``SamplerQNN`` exposes — ``circuit``,
``input_params``, ``weight_params``, and ``observables`` (Estimator) or ``interpret`` and
``output_shape`` (Sampler) — so anything shaped like one works, and the QNN's trained weights
(in ``weight_params`` order) come back as θ:

* an ``EstimatorQNN``'s observables are the classes' logits (``pauli_readout``); one observable O,
  qiskit's binary case where the sign of ⟨O⟩ is the class, becomes two classes with logits −⟨O⟩
  and ⟨O⟩, so the predicted class is the same;
* a ``SamplerQNN``'s ``interpret`` groups basis states into ``output_shape`` classes
  (``interpreted``); without one every basis state is its own class.
"""

from __future__ import annotations

import numpy as np

from compvqc.errors import ConversionError
from compvqc.model.circuit import VQC
from compvqc.model.qiskit_io import from_qiskit
from compvqc.model.readout import Readout, interpreted, pauli_readout


def from_qnn(qnn, weights=None) -> tuple[VQC, np.ndarray | None]:
    """(model, θ) for an EstimatorQNN / SamplerQNN (or an object with the same attributes)."""
    try:
        circuit, inputs, params = qnn.circuit, list(qnn.input_params), list(qnn.weight_params)
    except AttributeError as e:
        raise ConversionError(f"not a QNN: it has no {e.name or 'circuit/input_params/weight_params'}") from None
    model, _ = from_qiskit(circuit, inputs, params, _readout(qnn, circuit.num_qubits),
                           meta={"imported": type(qnn).__name__})
    if weights is None:
        return model, None
    theta = np.asarray(weights, dtype=np.float64).reshape(-1)
    if theta.shape != (len(params),) or not np.all(np.isfinite(theta)):
        raise ConversionError(f"the QNN has {len(params)} weights; got {theta.size} values (or non-finite ones)")
    return model, theta


def _readout(qnn, n_qubits: int) -> Readout:
    observables = getattr(qnn, "observables", None)
    if observables is not None:
        observables = list(observables) if isinstance(observables, (list, tuple)) else [observables]
        if len(observables) == 1:
            (o,) = observables
            return pauli_readout([-o, o])
        return pauli_readout(observables)
    if hasattr(qnn, "interpret") or hasattr(qnn, "output_shape"):
        interpret = getattr(qnn, "interpret", None)
        if interpret is None:
            return Readout("basis", tuple((s,) for s in range(2**n_qubits)))
        shape = getattr(qnn, "output_shape", None)
        shape = (shape,) if isinstance(shape, int) else tuple(shape or ())
        if len(shape) != 1:
            raise ConversionError("a SamplerQNN with an interpret function needs output_shape = (classes,)")
        return interpreted(interpret, n_qubits, int(shape[0]))
    raise ConversionError("the QNN has neither observables (EstimatorQNN) nor interpret/output_shape (SamplerQNN)")
