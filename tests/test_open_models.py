"""Models users already have: qiskit's circuit library (function forms and the deprecated classes),
OpenQASM 3 with qiskit's parameter names, observables and interpretations as readouts, and every
new kind of operation through export, import and the checkpoint."""

import re
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from qiskit import QuantumCircuit, qasm3
from qiskit.circuit import library as qlib
from qiskit.quantum_info import Operator, SparsePauliOp, Statevector

from compvqc.checkpoint import Checkpoint
from compvqc.checkpoint.container import decode, encode
from compvqc.errors import ConversionError, ModelError
from compvqc.model import VQC, AmplitudeEncode, Encode, Fixed, Gate, Readout, interpreted, pauli_readout
from compvqc.model.gates import FIXED_GATES, GATE_TYPES, full_matrix
from compvqc.model.qiskit_io import FIXED_QISKIT, input_values, QISKIT_GATES, from_qasm3, from_qiskit, to_qasm3, to_qiskit
from compvqc.simulate.lower import lower
from benchmarks.open_models import angle_encoding as _angle_encoding
from benchmarks.open_models import qaoa_like as _qaoa_like
from tests.references import reference_probs
from tests.test_simulate import random_vqcs

N = 4


LIBRARY = {  # the circuit-library models of the issue, as functions and as the deprecated classes
    "z+real_amplitudes": lambda: (qlib.z_feature_map(N, reps=1), qlib.real_amplitudes(N, reps=1)),
    "zz+real_amplitudes": lambda: (qlib.zz_feature_map(N, reps=1), qlib.real_amplitudes(N, reps=1)),
    "zz+efficient_su2": lambda: (qlib.zz_feature_map(N, reps=1), qlib.efficient_su2(N, reps=1)),
    "angle+n_local": lambda: (_angle_encoding(N), qlib.n_local(N, ["ry", "rz"], "cz", reps=2)),
    "angle+qaoa": lambda: (_angle_encoding(N), _qaoa_like(N)),
    "ZZFeatureMap+RealAmplitudes": lambda: (qlib.ZZFeatureMap(N, reps=1), qlib.RealAmplitudes(N, reps=1)),
    "ZFeatureMap+EfficientSU2": lambda: (qlib.ZFeatureMap(N, reps=1), qlib.EfficientSU2(N, reps=1)),
    "angle+TwoLocal(cx)": lambda: (_angle_encoding(N), qlib.TwoLocal(N, ["ry", "rz"], "cx", reps=2)),
}


def _library(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        fm, ansatz = LIBRARY[name]()
        qc = QuantumCircuit(N)
        qc.compose(fm, inplace=True)
        qc.compose(ansatz, inplace=True)
        return qc, list(fm.parameters), list(ansatz.parameters)


def _their_probs(qc, inputs, weights, theta, x):
    return np.array([Statevector(qc.assign_parameters({**dict(zip(inputs, row)), **dict(zip(weights, theta))}))
                     .probabilities() for row in x])


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_circuit_library_models_import_and_match_statevector(name, rng):
    qc, inputs, weights = _library(name)
    model, _ = from_qiskit(qc, inputs, weights, Readout("pauli_z", ((0, 1), (2, 3))))
    theta = rng.uniform(-4, 4, model.n_params)
    x = rng.uniform(0, np.pi, (6, model.n_features))
    ours = model.probabilities(theta, x)
    assert np.max(np.abs(ours - _their_probs(qc, inputs, weights, theta, x))) < 1e-10
    assert np.max(np.abs(ours - reference_probs(model, theta, x))) < 1e-10  # our own export agrees too
    # qasm3.dumps with qiskit's default names (θ[0] → _θ_0_) reads back through the name patterns
    text = qasm3.dumps(qc)
    if name.startswith("ZZFeatureMap"):  # a declared gate whose body multiplies angles: qiskit cannot read it
        advice = "qasm3.dumps(qc.decompose(gates_to_decompose=['ZZFeatureMap', 'RealAmplitudes']))"
        with pytest.raises(ConversionError, match=re.escape(advice)):
            from_qasm3(text, model.readout, inputs="x", weights="θ")
        text = qasm3.dumps(qc.decompose(gates_to_decompose=["ZZFeatureMap", "RealAmplitudes"]))  # as advised
    again = from_qasm3(text, model.readout, inputs="x", weights="θ")
    assert np.max(np.abs(again.probabilities(theta, x) - ours)) < 1e-10
    # and our export round-trips exactly
    assert from_qasm3(to_qasm3(model), model.readout) == model
    unbound = to_qiskit(model)
    assert from_qiskit(unbound.circuit, list(unbound.inputs), list(unbound.weights), model.readout)[0] == model


def test_zz_feature_map_keeps_its_product_expression_as_data():
    qc, inputs, weights = _library("zz+real_amplitudes")
    model, _ = from_qiskit(qc, inputs, weights, Readout("pauli_z", ((0, 1), (2, 3))))
    products = [op for op in model.ops if isinstance(op, Encode) and op.feature is None
                and any(len(fs) == 2 for _, fs in op.terms)]
    assert len(products) == N * (N - 1) // 2  # full entanglement: every pair once
    terms = dict((fs, c) for c, fs in products[0].terms)  # 2(π − x_i)(π − x_j), expanded
    assert terms[()] == pytest.approx(2 * np.pi**2) and terms[(0, 1)] == pytest.approx(2.0)
    assert terms[(0,)] == pytest.approx(-2 * np.pi) and terms[(1,)] == pytest.approx(-2 * np.pi)
    assert {op.name for op in model.ops if isinstance(op, Fixed)} == {"h", "cx"}


@pytest.mark.parametrize("name", sorted(FIXED_GATES))
def test_every_fixed_gate_lowers_to_its_matrix(name):
    """Each lowering (SWAP as three CX, ECR through RZX, …) is the gate exactly, phase included."""
    n = 1 if FIXED_GATES[name].shape == (2, 2) else 2
    model = VQC(n, 0, (Fixed(name, tuple(range(n))),), Readout("basis", ((0,), (1,))))
    from compvqc.simulate import Simulator

    seg = Simulator(model).segments
    u = np.eye(2**n, dtype=complex)
    for p in (p for s in seg for p in s.prims):
        full = np.eye(2**n, dtype=complex)
        if p.control is None:
            full = np.kron(p.matrix, np.eye(2)) if (n == 2 and p.target == 1) else (
                np.kron(np.eye(2), p.matrix) if n == 2 else p.matrix)
        else:
            for s in range(2**n):
                for t in range(2**n):
                    same = (s & ~(1 << p.target)) == (t & ~(1 << p.target))
                    if (t >> p.control) & 1 and same:
                        full[s, t] = p.matrix[(s >> p.target) & 1, (t >> p.target) & 1]
        u = full @ u
    assert np.allclose(u, Operator(FIXED_QISKIT[name]()).data, atol=1e-12)
    assert np.allclose(u, full_matrix(name), atol=1e-12)


@pytest.mark.parametrize("name", ["rzz", "rxx", "ryy"])
def test_pair_rotations_lower_exactly(name):
    prims = lower(Gate(name, (0, 1), (0,)))
    assert [p.kind for p in prims].count("rz") == 1  # its derivative is the one RZ's
    theirs = Operator(QISKIT_GATES[name](0.83)).data
    assert np.allclose(full_matrix(name, [0.83]), theirs, atol=1e-12)


def test_rzz_at_pi_is_zz_up_to_phase():
    u = full_matrix("rzz", [np.pi])
    assert np.allclose(u, -1j * np.kron(np.diag([1, -1]), np.diag([1, -1])))


@given(random_vqcs())
def test_every_operation_round_trips_through_qiskit_qasm3_and_the_checkpoint(case):
    model, rng = case
    theta = rng.uniform(-5, 5, model.n_params)
    x = rng.normal(0, 1, (3, model.n_features))
    ref = model.probabilities(theta, x)
    unbound = to_qiskit(model)
    back = from_qiskit(unbound.circuit, list(unbound.inputs), list(unbound.weights), model.readout)[0]
    assert np.max(np.abs(back.probabilities(theta, input_values(model, x)) - ref)) < 1e-10  # amplitude: tree angles
    used = {f for op in model.ops if isinstance(op, Encode) for f in op.features}
    if not isinstance(model.ops[0], AmplitudeEncode) and len(used) == model.n_features:  # QASM keeps used inputs only
        text = to_qasm3(model)
        assert np.max(np.abs(from_qasm3(text, model.readout).probabilities(theta, x) - ref)) < 1e-10
    stored = decode(encode(Checkpoint(model=model, theta=theta))).model
    assert stored == model


def test_observables_and_interpretations_as_readouts(rng):
    qc, inputs, weights = _library("angle+qaoa")
    observables = [SparsePauliOp.from_list([("ZZII", 1.0), ("IIIZ", -0.5)]), SparsePauliOp("IZZI")]
    model, _ = from_qiskit(qc, inputs, weights, pauli_readout(observables))
    theta = rng.uniform(-4, 4, model.n_params)
    x = rng.uniform(0, np.pi, (4, N))
    bound = [qc.assign_parameters({**dict(zip(inputs, row)), **dict(zip(weights, theta))}) for row in x]
    expect = np.array([[Statevector(c).expectation_value(o).real for o in observables] for c in bound])
    assert np.allclose(model.logits(theta, x), expect, atol=1e-10)
    parity = from_qiskit(qc, inputs, weights, interpreted(lambda s: bin(s).count("1") % 2, N, 2))[0]
    probs = np.array([Statevector(c).probabilities() for c in bound])
    odd = np.array([bin(s).count("1") % 2 for s in range(2**N)]) == 1
    assert np.allclose(parity.logits(theta, x), np.stack([probs[:, ~odd].sum(1), probs[:, odd].sum(1)], 1))
    with pytest.raises(ModelError, match="measures X or Y"):
        pauli_readout([SparsePauliOp("XIII"), SparsePauliOp("ZIII")]).validate(N)


def test_from_qasm3_names_and_errors():
    qc, inputs, weights = _library("z+real_amplitudes")
    text = qasm3.dumps(qc)
    with pytest.raises(ConversionError, match="match neither"):  # θ is not compvqc's default "w"
        from_qasm3(text, Readout("pauli_z", ((0,), (1,))))
    names = [f"_θ_{i}_" for i in range(len(weights))]
    model = from_qasm3(text, Readout("pauli_z", ((0,), (1,))), inputs="x", weights=names)
    assert model.n_params == len(weights) and model.n_features == N
    with pytest.raises(ConversionError, match="no parameter named 'nope'"):
        from_qasm3(text, Readout("pauli_z", ((0,), (1,))), inputs=["nope"], weights="θ")
    with pytest.raises(ConversionError) as e:
        from_qasm3("OPENQASM 3.0;\nqubit[1] q;\nfoo q[0];", Readout("basis", ((0,), (1,))))
    assert str(e.value).startswith("cannot parse OpenQASM 3:") and "\n" not in str(e.value)


def test_shared_weight_gradient_is_summed(rng):
    """One weight on two gates (one of them negated and doubled): the gradient of each gate adds."""
    ops = (Encode("ry", 0, 0), Gate("rx", (0,), (0,)), Gate("crz", (0, 1), (0,), (-2.0,), (0.5,)),
           Gate("ryy", (1, 0), (1,)))
    model = VQC(2, 1, ops, Readout("pauli_z", ((0,), (1,))))
    theta, x, y = rng.uniform(-3, 3, 2), rng.uniform(0, 3, (5, 1)), rng.integers(0, 2, 5)
    _, grad = model.loss_and_grad(theta, x, y)
    split = VQC(2, 1, (ops[0], Gate("rx", (0,), (0,)), Gate("crz", (0, 1), (2,), (-2.0,), (0.5,)), Gate("ryy", (1, 0), (1,))),
                model.readout)
    _, g3 = split.loss_and_grad(np.array([theta[0], theta[1], theta[0]]), x, y)
    assert np.allclose(grad, [g3[0] + g3[2], g3[1]], atol=1e-12)
    assert not model.plain_weights and split.plain_weights is False  # the split one still scales


def test_gate_types_cover_the_issue():
    assert {"p", "cp", "rzz", "rxx", "ryy"} <= set(GATE_TYPES)
    assert {"h", "x", "y", "z", "s", "sdg", "sx", "t", "cx", "cz", "ecr", "swap"} <= set(FIXED_GATES)


def test_a_checkpoint_compressed_with_the_eight_gate_luts_still_recompresses(tmp_path, monkeypatch):
    """tests/data/v2-compressed-eight-gate-lut.ckpt was compressed for fake_manila before P, CP,
    RZZ, RXX and RYY joined the shipped LUTs; recompressing it records the new LUT's provenance."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from compvqc.checkpoint import load_checkpoint
    from compvqc.compile.cache import prebuilt_path
    from compvqc.compile.lut import load_lut_file

    monkeypatch.setenv("COMPVQC_CACHE", str(tmp_path / "cache"))
    src = Path(__file__).parent / "data" / "v2-compressed-eight-gate-lut.ckpt"
    old = load_checkpoint(src).lut_provenance["sha256"]
    out = tmp_path / "again.ckpt"
    run = subprocess.run([sys.executable, "-m", "compvqc", "compress", str(src), "--backend", "fake_manila",
                          "--ratio", "0.5", "--iters", "2", "--admm-epochs", "1", "--retrain-epochs", "1",
                          "--no-rebuild", "-o", str(out), "--json"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    new = load_lut_file(prebuilt_path("fake_manila"))
    assert load_checkpoint(out).lut_provenance["sha256"] == new.sha256 != old
    assert "p" in new.gates and json.loads(run.stdout)["compressed"]["tcd"] > 0


def test_from_qnn_with_duck_typed_estimator_and_sampler_qnns(rng):
    """What an EstimatorQNN / SamplerQNN exposes is all from_qnn reads (qiskit-machine-learning is
    never imported); the real classes are checked once in the peers' venv (benchmarks/RESULTS.md)."""
    from types import SimpleNamespace

    from compvqc.model.qnn import from_qnn

    qc, inputs, weights = _library("zz+real_amplitudes")
    trained = rng.uniform(-3, 3, len(weights))
    x = rng.uniform(0, np.pi, (4, N))
    bound = [qc.assign_parameters({**dict(zip(inputs, row)), **dict(zip(weights, trained))}) for row in x]
    states = [Statevector(c) for c in bound]
    obs = [SparsePauliOp("ZZII"), SparsePauliOp.from_list([("IIZZ", 0.5), ("ZIII", 2.0)])]
    est = SimpleNamespace(circuit=qc, input_params=inputs, weight_params=weights, observables=obs)
    model, theta = from_qnn(est, trained)
    assert np.array_equal(theta, trained)
    expect = np.array([[s.expectation_value(o).real for o in obs] for s in states])
    assert np.allclose(model.logits(theta, x), expect, atol=1e-10)
    one = from_qnn(SimpleNamespace(circuit=qc, input_params=inputs, weight_params=weights,
                                   observables=SparsePauliOp("ZZZZ")), trained)[0]  # binary: sign of ⟨O⟩
    z = np.array([s.expectation_value(SparsePauliOp("ZZZZ")).real for s in states])
    assert np.allclose(one.logits(trained, x), np.stack([-z, z], 1), atol=1e-10)
    parity = SimpleNamespace(circuit=qc, input_params=inputs, weight_params=weights,
                             interpret=lambda s: bin(s).count("1") % 2, output_shape=(2,))
    probs = np.array([s.probabilities() for s in states])
    odd = np.array([bin(s).count("1") % 2 for s in range(2**N)]) == 1
    assert np.allclose(from_qnn(parity, trained)[0].logits(trained, x),
                       np.stack([probs[:, ~odd].sum(1), probs[:, odd].sum(1)], 1), atol=1e-10)
    raw = SimpleNamespace(circuit=qc, input_params=inputs, weight_params=weights, interpret=None, output_shape=(16,))
    assert np.allclose(from_qnn(raw, trained)[0].logits(trained, x), probs, atol=1e-10)
    with pytest.raises(ConversionError, match="not a QNN"):
        from_qnn(SimpleNamespace(circuit=qc), trained)
    with pytest.raises(ConversionError, match="has 8 weights"):
        from_qnn(est, trained[:3])


@given(random_vqcs())
def test_the_estimate_with_fixed_gates_is_the_dag_longest_path(case):
    from compvqc.compile.cache import prebuilt_path
    from compvqc.compile.estimate import dag_longest_path, estimate_tcd
    from compvqc.compile.lut import load_lut_file

    model, rng = case
    lut = load_lut_file(prebuilt_path("fake_manila"))
    theta = rng.uniform(-5, 5, model.n_params)
    theta[rng.random(model.n_params) < 0.5] = 0.0  # pruned gates: fixed pairs may cancel
    assert estimate_tcd(model, theta, lut) == dag_longest_path(model, theta, lut)


def test_fixed_entanglers_cancel_when_the_gates_between_them_are_pruned(manila):
    """CX·CX around a pruned gate cancel; CZs commute through diagonal gates (n_local's two CZ
    layers cancel when every rotation is pruned: estimate 4, true TCD 4)."""
    from compvqc.compile.cache import prebuilt_path
    from compvqc.compile.estimate import estimate_tcd
    from compvqc.compile.lut import load_lut_file
    from compvqc.compile.tcd import true_tcd

    lut = load_lut_file(prebuilt_path("fake_manila"))
    ops = (Encode("ry", 0, 0), Encode("ry", 1, 1), Fixed("cx", (0, 1)), Gate("ry", (1,), (0,)), Fixed("cx", (0, 1)))
    model = VQC(2, 2, ops, Readout("pauli_z", ((0,), (1,))))
    assert estimate_tcd(model, [0.0], lut) == true_tcd(model, [0.0], manila).depth  # the pair is gone
    assert estimate_tcd(model, [0.7], lut) > estimate_tcd(model, [0.0], lut) + 2  # a kept RY keeps both CX
    qc, inputs, weights = (lambda fm, a: (fm.compose(a), list(fm.parameters), list(a.parameters)))(
        _angle_encoding(N), qlib.n_local(N, ["ry", "rz"], "cz", reps=2))
    nl, _ = from_qiskit(qc, inputs, weights, Readout("pauli_z", ((0, 1), (2, 3))))
    zero = np.zeros(nl.n_params)
    assert estimate_tcd(nl, zero, lut) == true_tcd(nl, zero, manila).depth == 4


@pytest.mark.parametrize("method", ["compvqc", "compvqc-paper", "snap"])
def test_a_shared_weight_is_one_compression_decision(method, tmp_path, monkeypatch):
    """qiskit's QAOA ansatz shares γ over every RZZ and β over every RX (each doubled): each weight
    is put on a level whole — all its gates on the same LUT float, exactly — or left whole."""
    from qiskit.circuit.library import qaoa_ansatz

    from compvqc.compile.cache import get_lut
    from compvqc.compile.tcd import true_tcd
    from compvqc.compress.groups import units
    from compvqc.compress.methods import CompressConfig
    from compvqc.compress.stages import compress
    from compvqc.data import load_dataset
    from compvqc.runs.train import run_training
    from compvqc.train import TrainConfig

    monkeypatch.setenv("COMPVQC_CACHE", str(tmp_path / "cache"))
    ansatz = qaoa_ansatz(SparsePauliOp(["ZZII", "IZZI", "IIZZ", "ZIIZ"]), reps=2)
    fm = _angle_encoding(N)
    qc = QuantumCircuit(N)
    qc.compose(fm, inplace=True)
    qc.compose(ansatz, inplace=True)
    model, _ = from_qiskit(qc, list(fm.parameters), list(ansatz.parameters), Readout("pauli_z", ((0, 1), (2, 3))))
    assert not model.plain_weights and [len(u) for u in units(model)] == [4, 4, 4, 4]
    data = load_dataset("syn4", n_samples=300)
    theta = run_training(TrainConfig(dataset="syn4", epochs=2, lr=0.05), data, model, progress=False).theta
    config = CompressConfig(method=method, ratio=0.5, retrain_epochs=1, retrain_min_steps=10)
    config = CompressConfig(**{**config.__dict__, "admm": type(config.admm)(iterations=2, epochs=1, min_steps=10)})
    result = compress(model, theta, data, "fake_manila", get_lut("fake_manila", gates=["rx", "rzz"]), config)
    final, out = result.final, result.theta
    for unit in units(model):
        assert len({(final.prune_mask[i], final.quant_mask[i]) for i in unit}) == 1
        assert len({tuple(np.nan_to_num(final.levels[i], nan=-1.0)) for i in unit}) == 1
    on = final.prune_mask | final.quant_mask
    assert on.any()
    for i in np.flatnonzero(on):
        assert np.array_equal(model.gates[i].angles(out), final.levels[i, :1])  # the LUT float, exactly
    assert result.metrics["compressed"]["tcd"] == true_tcd(model, out, "fake_manila").depth


def test_shared_weights_one_decision_cannot_set_are_refused():
    from compvqc.compress.methods import check_compressible
    from compvqc.errors import CompressionError

    readout = Readout("pauli_z", ((0,), (1,)))
    mixed = VQC(2, 0, (Gate("rx", (0,), (0,)), Gate("ry", (1,), (0,))), readout)
    with pytest.raises(CompressionError, match="differ in type or scale"):
        check_compressible(mixed, "compvqc")
    with pytest.raises(CompressionError, match="powers of two"):
        check_compressible(VQC(2, 0, (Gate("rx", (0,), (0,), (3.0,)),), readout), "prune")
    with pytest.raises(CompressionError, match="offset"):
        check_compressible(VQC(2, 0, (Gate("rx", (0,), (0,), (), (0.5,)),), readout), "compvqc")
    check_compressible(mixed, "vanilla")  # nothing to put on a level


@given(random_vqcs(), st.sampled_from([1, 7, 40]))
def test_parameter_shift_equals_the_adjoint_gradient(case, batch):
    """Every gate type's shift rule (four terms for CRX/CRY/CRZ and CU3's θ, two otherwise), shared
    and scaled weights summed per gate: the exact gradient in the infinite-shot limit."""
    from compvqc.train.gradients import get_gradient

    model, rng = case
    theta = rng.uniform(-5, 5, model.n_params)
    x, y = rng.normal(0, 1, (batch, model.n_features)), rng.integers(0, model.n_classes, batch)
    loss, grad = model.loss_and_grad(theta, x, y)
    shift_loss, shift_grad = get_gradient("parameter-shift").make(model)(theta, x, y)
    assert abs(loss - shift_loss) < 1e-12 and np.allclose(grad, shift_grad, atol=1e-10)
