import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from compvqc.errors import ModelError
from compvqc.model import VQC, Gate, Readout, build_model, default_readout, softmax_cross_entropy


@pytest.mark.parametrize("n_gates", [50, 38, 30, 22, 14])
def test_paper_random_models(n_gates):
    m = build_model("4x4_ryzxy", f"random{n_gates}", 2, arch_seed=7)
    assert len(m.gates) == n_gates == m.n_params
    assert {g.name for g in m.gates} <= {"rx", "ry", "rz", "crx", "cry", "crz"}


def test_arch_seed_is_its_own_argument():
    a = build_model("4x4_ryzxy", "random50", 2, arch_seed=1)
    b = build_model("4x4_ryzxy", "random50", 2, arch_seed=1)
    c = build_model("4x4_ryzxy", "random50", 2, arch_seed=2)
    assert a.ops == b.ops and a.ops != c.ops


def test_blocks_and_encoders():
    m = build_model("4x4_ryzxy", "blocks2", 4)
    assert [g.name for g in m.gates[:12]] == ["rx"] * 4 + ["ry"] * 4 + ["rz"] * 4
    assert [g.wires for g in m.gates[12:16]] == [(0, 1), (1, 2), (2, 3), (3, 0)]
    assert build_model("2x2_ryz", "random14", 2).n_qubits == 2
    assert build_model("amplitude", "random22", 2).n_qubits == 4
    with pytest.raises(ModelError):
        build_model("5x4_ryz", "random3", 2)
    with pytest.raises(ModelError):
        build_model("4x4_ryzxy", "nonsense", 2)


def test_readouts_follow_the_papers():
    assert default_readout(4, 2) == Readout("pauli_z", ((0, 1), (2, 3)))
    assert default_readout(4, 4) == Readout("pauli_z", ((0,), (1,), (2,), (3,)))
    r3 = default_readout(4, 3)
    assert r3.kind == "basis" and r3.groups == (tuple(range(5)), tuple(range(5, 10)), tuple(range(10, 15)))
    w = default_readout(2, 2).weights(2)  # <Z0>, <Z1> over states 00, 01 (q0=1), 10, 11
    assert np.array_equal(w, [[1, 1], [-1, 1], [1, -1], [-1, -1]])


@given(st.lists(st.floats(-5, 5), min_size=6, max_size=6), st.integers(0, 2))
def test_cross_entropy_gradient(values, label):
    logits = np.array(values).reshape(2, 3)
    y = np.array([label, (label + 1) % 3])
    loss, grad = softmax_cross_entropy(logits, y)
    eps = 1e-6
    for i in np.ndindex(logits.shape):
        e = np.zeros_like(logits)
        e[i] = eps
        fd = (softmax_cross_entropy(logits + e, y)[0] - softmax_cross_entropy(logits - e, y)[0]) / (2 * eps)
        assert abs(fd - grad[i]) < 1e-6


def test_json_round_trip():
    m = build_model("4x4_ryzxy", "reupload2", 3, arch_seed=3)
    back = VQC.from_dict(json.loads(json.dumps(m.to_dict())))
    assert back == m and back.meta == m.meta


@pytest.mark.parametrize("mutate", [
    lambda d: d["ops"].append({"op": "gate", "name": "rq", "wires": [0], "params": [99]}),
    lambda d: d["ops"].append({"op": "gate", "name": "rx", "wires": [9], "params": [50]}),
    lambda d: d["ops"].append({"op": "gate", "name": "crx", "wires": [1, 1], "params": [50]}),
    lambda d: d["ops"].append({"op": "gate", "name": "rx", "wires": [0], "params": [51]}),  # 50 unused
    lambda d: d["ops"].append({"op": "gate", "name": "rx", "wires": [0], "params": [0], "scales": [0.0]}),
    lambda d: d["ops"].append({"op": "encode", "name": "crx", "wire": 0, "feature": 0}),
    lambda d: d["ops"].append({"op": "encode", "name": "ry", "wire": 0, "terms": [[1.0, [16]]]}),
    lambda d: d["ops"].append({"op": "fixed", "name": "h", "wires": [0], "angles": [0.5]}),
    lambda d: d["ops"].append({"op": "fixed", "name": "cz", "wires": [0]}),
    lambda d: d.update(version=99),
    lambda d: d.update(n_qubits=-1),
    lambda d: d["readout"].update(groups=[[0], [0]]),
    lambda d: d["ops"].insert(1, {"op": "amplitude", "n_features": 16}),
])
def test_invalid_descriptions_raise_model_error(mutate):
    d = build_model("4x4_ryzxy", "random50", 2).to_dict()
    mutate(d)
    with pytest.raises(ModelError):
        VQC.from_dict(d)


def test_gate_params_must_cover_theta():
    with pytest.raises(ModelError):
        VQC(1, 0, (Gate("rx", (0,), (1,)),), Readout("basis", ((0,), (1,))))
