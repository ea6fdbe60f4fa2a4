"""compvqc.model.qnn.from_qnn against qiskit-machine-learning's real EstimatorQNN and SamplerQNN
(run in the peers' venv, which has qiskit-machine-learning; compvqc never imports it): the imported
model's logits must equal the QNN's own forward pass, for its trained weights.

    .venv-peers/bin/python benchmarks/qnn_import.py
"""

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit.library import real_amplitudes, zz_feature_map
from qiskit.quantum_info import SparsePauliOp
from qiskit_machine_learning import __version__ as qml_version
from qiskit_machine_learning.neural_networks import EstimatorQNN, SamplerQNN

from compvqc.model.qnn import from_qnn


def main() -> int:
    fm, ansatz = zz_feature_map(4, reps=1), real_amplitudes(4, reps=1)
    qc = QuantumCircuit(4)
    qc.compose(fm, inplace=True)
    qc.compose(ansatz, inplace=True)
    rng = np.random.default_rng(0)
    weights = rng.uniform(-3, 3, ansatz.num_parameters)
    x = rng.uniform(0, np.pi, (8, 4))
    obs = [SparsePauliOp("ZZII"), SparsePauliOp.from_list([("IIZZ", 0.5), ("ZIII", 2.0)])]
    qnns = {
        "EstimatorQNN (2 observables)": EstimatorQNN(circuit=qc, observables=obs, input_params=fm.parameters,
                                                     weight_params=ansatz.parameters),
        "EstimatorQNN (default Z^n)": EstimatorQNN(circuit=qc, input_params=fm.parameters,
                                                   weight_params=ansatz.parameters),
        "SamplerQNN (parity)": SamplerQNN(circuit=qc, input_params=fm.parameters, weight_params=ansatz.parameters,
                                          interpret=lambda s: bin(s).count("1") % 2, output_shape=2),
        "SamplerQNN (no interpret)": SamplerQNN(circuit=qc, input_params=fm.parameters,
                                                weight_params=ansatz.parameters),
    }
    print(f"qiskit-machine-learning {qml_version}")
    worst = 0.0
    for name, qnn in qnns.items():
        model, theta = from_qnn(qnn, weights)
        theirs = np.asarray(qnn.forward(x, weights))
        ours = model.logits(theta, x)
        if theirs.shape[1] == 1:  # one observable: compvqc's two classes are (−⟨O⟩, ⟨O⟩)
            ours = ours[:, 1:]
        err = float(np.max(np.abs(ours - theirs)))
        worst = max(worst, err)
        print(f"{name:32s} classes {model.n_classes:2d}  max |ours − theirs| = {err:.2e}")
    return 0 if worst < 1e-6 else 1


if __name__ == "__main__":
    raise SystemExit(main())
