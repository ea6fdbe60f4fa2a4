import math
import re

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Gate as Gate_, Parameter, ParameterVector

from compvqc.errors import ConversionError
from compvqc.model import VQC, Encode, Gate, Readout, build_model, default_readout
from compvqc.model.gates import FOUR_PI, GATE_TYPES
from compvqc.model.qiskit_io import from_qasm3, from_qiskit, to_qasm3, to_qiskit

ALL_GATES = tuple(sorted(GATE_TYPES))


def test_bound_weights_are_canonicalized_and_exact():
    model = build_model("2x2_ryz", "u3cu3_1", 2)
    theta = np.array([math.pi / 2, -0.5, 7.0, math.pi / 2 + FOUR_PI, 1.0, 13.0] * 2)[: model.n_params]
    qc = to_qiskit(model, theta).circuit
    trainable = [inst.operation for inst in qc.data if inst.operation.name in ("u3", "cu3")]
    for op, gate in zip(trainable, model.gates):
        for value, period in zip(op.params, gate.type.periods):
            assert 0.0 <= float(value) < period
    assert float(trainable[0].params[0]) == math.pi / 2  # in range: bit-identical


def test_qasm3_round_trip_every_gate_type_and_many_inputs(rng):
    """12 inputs, so the importer's name sort (_x_10_ before _x_1_) would scramble positions."""
    n = 3
    ops = [Encode(("rx", "ry", "rz")[k % 3], k % n, k) for k in range(12)]
    p = 0
    for name in ALL_GATES * 2:
        gt = GATE_TYPES[name]
        wires = (0, 2) if gt.n_wires == 2 else (1,)
        ops.append(Gate(name, wires, tuple(range(p, p + gt.n_params))))
        p += gt.n_params
    model = VQC(n, 12, tuple(ops), default_readout(n, 3))
    back = from_qasm3(to_qasm3(model), model.readout)
    assert back.ops == model.ops
    theta = rng.uniform(-5, 5, model.n_params)
    x = rng.uniform(0, 3, (4, 12))
    assert np.allclose(back.probabilities(theta, x), model.probabilities(theta, x), atol=1e-12)


def test_from_qiskit_maps_by_listed_order():
    x = ParameterVector("inp", 2)
    a, b = Parameter("b_second"), Parameter("a_first")
    qc = QuantumCircuit(2)
    qc.ry(x[1], 0)
    qc.crz(a, 0, 1)
    qc.rx(b, 1)
    model, _ = from_qiskit(qc, list(x), [b, a], Readout("pauli_z", ((0,), (1,))))
    assert model.ops[0] == Encode("ry", 0, 1)
    assert model.ops[1] == Gate("crz", (0, 1), (1,))
    assert model.ops[2] == Gate("rx", (1,), (0,))


@pytest.mark.parametrize("build, message", [
    (lambda qc, w, x: qc.reset(0), "instruction 0 (reset on qubits [0]): not a gate"),
    (lambda qc, w, x: qc.rx(w.sin(), 0), "not an affine function of weight w"),
    (lambda qc, w, x: qc.rx(w * x, 0), "mixes inputs and weights"),
    (lambda qc, w, x: qc.ry(x.sin() + w, 1), "mixes inputs and weights"),
    (lambda qc, w, x: (qc.rx(w, 0), qc.ry(x.sin(), 1)), "not a polynomial"),
    (lambda qc, w, x: (qc.rx(w, 0), qc.append(Gate_("foo", 1, []), [1])), "instruction 1 (foo on qubits [1]): unsupported"),
    (lambda qc, w, x: (qc.rx(w, 0), qc.rz(Parameter("q"), 1)), "q are neither inputs nor weights"),
])
def test_from_qiskit_rejects_unsupported_in_one_line(build, message):
    w, x = Parameter("w"), Parameter("x")
    qc = QuantumCircuit(2)
    build(qc, w, x)
    with pytest.raises(ConversionError, match=re.escape(message)) as e:
        from_qiskit(qc, [x], [w], default_readout(2, 2))
    assert "\n" not in str(e.value)


def test_from_qasm3_rejects_garbage():
    with pytest.raises(ConversionError):
        from_qasm3("OPENQASM 3.0; this is not qasm", default_readout(2, 2))


def test_import_edge_cases_from_the_review():
    """Degree-4 input polynomials (qiskit's derivatives keep x**0 factors), non-polynomial inputs
    and mid-circuit measurements as one line naming the instruction, a weight used twice in a gate
    refused by compression."""
    from compvqc.compress.methods import check_compressible
    from compvqc.errors import CompressionError

    x0, x1, w = Parameter("x0"), Parameter("x1"), Parameter("w")
    readout = Readout("basis", ((0,), (1,)))
    for expr, terms in ((x0**4, ((1.0, (0, 0, 0, 0)),)), ((x0 * x1) ** 2, ((1.0, (0, 0, 1, 1)),))):
        qc = QuantumCircuit(2)
        qc.rx(expr, 0)
        qc.ry(w, 1)
        assert from_qiskit(qc, [x0, x1], [w], readout)[0].ops[0].terms == terms
    for expr in (1 / x0, abs(x0), x0**0.5):
        qc = QuantumCircuit(2)
        qc.rx(expr, 0)
        qc.ry(w, 1)
        with pytest.raises(ConversionError, match=r"^instruction 0 \(rx on qubits \[0\]\): input angle") as e:
            from_qiskit(qc, [x0, x1], [w], readout)
        assert "\n" not in str(e.value)
    qc = QuantumCircuit(1, 1)
    qc.ry(x0, 0)
    qc.measure(0, 0)
    qc.rz(w, 0)
    with pytest.raises(ConversionError, match="after a measurement"):
        from_qiskit(qc, [x0], [w], readout)
    qc = QuantumCircuit(1)
    qc.u(w, w, w, 0)
    model = from_qiskit(qc, [], [w], readout)[0]
    with pytest.raises(CompressionError, match="several of its angles"):
        check_compressible(model, "compvqc")
