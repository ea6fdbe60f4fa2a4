"""The simulator against qiskit's Statevector (to 1e-10) and finite differences."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from compvqc.model import VQC, AmplitudeEncode, Encode, Fixed, Gate, Readout, build_model, default_readout
from compvqc.model.gates import ENCODER_GATES, FIXED_GATES, GATE_TYPES, fixed_wires
from tests.references import finite_difference, reference_probs


@st.composite
def random_vqcs(draw):
    """Every kind of operation: trainable gates of every type (new, shared or affine weights),
    fixed gates (named, or a trainable type at numeric angles), encoders of a bare feature or a
    polynomial of the inputs, and each readout kind."""
    n = draw(st.integers(1, 6))
    n_features = draw(st.integers(1, 8))
    amplitude = draw(st.booleans()) and n >= 1
    ops = []
    if amplitude:
        n_features = draw(st.integers(2, 2**n)) if n > 1 else 2
        ops.append(AmplitudeEncode(n_features))
    names = [g for g, t in GATE_TYPES.items() if t.n_wires <= n]
    fixed = [g for g in FIXED_GATES if fixed_wires(g) <= n] + names
    feature = st.integers(0, n_features - 1)
    coef = st.floats(-3, 3, allow_nan=False)
    n_params = 0
    for _ in range(draw(st.integers(1, 14))):
        kind = draw(st.integers(0, 7))
        if kind == 0:  # encoders anywhere: re-uploading (after amplitude encoding too)
            name, wire = draw(st.sampled_from(ENCODER_GATES)), draw(st.integers(0, n - 1))
            if draw(st.booleans()):
                ops.append(Encode(name, wire, draw(feature)))
            else:  # e.g. 2(π − x_0)(π − x_1) expanded, or 2·x_0
                nonzero = coef.filter(lambda c: abs(c) > 1e-3)
                terms = draw(st.lists(st.tuples(nonzero, st.lists(feature, min_size=1, max_size=3).map(tuple)),
                                      min_size=1, max_size=3, unique_by=lambda t: tuple(sorted(t[1]))))
                ops.append(Encode(name, wire, None, (*terms, (draw(coef), ()))))
            continue
        if kind == 1:
            name = draw(st.sampled_from(fixed))
            angles = tuple(draw(st.lists(coef, min_size=GATE_TYPES[name].n_params,
                                         max_size=GATE_TYPES[name].n_params))) if name in GATE_TYPES else ()
            ops.append(Fixed(name, tuple(draw(st.permutations(range(n)))[: fixed_wires(name)]), angles))
            continue
        name = draw(st.sampled_from(names))
        gt = GATE_TYPES[name]
        wires = tuple(draw(st.permutations(range(n)))[: gt.n_wires])
        if kind == 2 and n_params >= gt.n_params:  # shared weights, scaled and shifted
            params = tuple(draw(st.lists(st.integers(0, n_params - 1), min_size=gt.n_params, max_size=gt.n_params)))
            scales = tuple(draw(st.lists(st.sampled_from([-2.0, -1.0, 0.5, 1.0, 2.0]), min_size=gt.n_params,
                                         max_size=gt.n_params)))
            offsets = tuple(draw(st.lists(coef, min_size=gt.n_params, max_size=gt.n_params)))
            ops.append(Gate(name, wires, params, scales, offsets))
            continue
        ops.append(Gate(name, wires, tuple(range(n_params, n_params + gt.n_params))))
        n_params += gt.n_params
    if draw(st.booleans()) and n > 1:
        label = st.text("IZ", min_size=n, max_size=n)
        readout = Readout("pauli", (), tuple(tuple(draw(st.lists(st.tuples(coef, label), min_size=1, max_size=3)))
                                             for _ in range(2)))
    else:
        readout = Readout("basis", ((0,), (1,))) if n == 1 else default_readout(n, 2)
    seed = draw(st.integers(0, 2**32 - 1))
    return VQC(n, n_features, tuple(ops), readout), np.random.default_rng(seed)


@given(random_vqcs(), st.integers(1, 40))
def test_probabilities_and_logits_match_statevector(case, batch):
    model, rng = case
    theta = rng.uniform(-10, 10, model.n_params)
    x = rng.normal(0, 2, (batch, model.n_features))
    ours = model.probabilities(theta, x)
    ref = reference_probs(model, theta, x)
    assert np.max(np.abs(ours - ref)) < 1e-10
    w = model.readout.weights(model.n_qubits)
    assert np.max(np.abs(model.logits(theta, x) - ref @ w)) < 1e-10


@pytest.mark.parametrize("encoder,arch", [("4x4_ryzxy", "random50"), ("2x2_ryz", "random14"),
                                          ("amplitude", "blocks2"), ("4x4_ryzxy", "reupload3"),
                                          ("2x2_ryz", "u3cu3_2")])
def test_every_encoder_matches_statevector(encoder, arch, rng):
    model = build_model(encoder, arch, 2, arch_seed=5)
    theta = rng.uniform(-7, 7, model.n_params)
    x = rng.uniform(-1, 4, (5, model.n_features))
    assert np.max(np.abs(model.probabilities(theta, x) - reference_probs(model, theta, x))) < 1e-10


@given(random_vqcs(), st.sampled_from([1, 3, 70]))
def test_gradient_matches_finite_differences(case, batch):
    """Batch 70 ≥ 2^n takes the folded path, small batches the direct one (for n ≥ 2)."""
    model, rng = case
    theta = rng.uniform(-10, 10, model.n_params)
    x = rng.normal(0, 2, (batch, model.n_features))
    y = rng.integers(0, model.n_classes, batch)
    _, grad = model.loss_and_grad(theta, x, y)
    assert np.allclose(grad, finite_difference(model, theta, x, y), atol=1e-7)


def test_folded_and_direct_paths_agree(rng):
    model = build_model("4x4_ryzxy", "reupload2", 2, arch_seed=1)
    theta = rng.uniform(-3, 3, model.n_params)
    x = rng.uniform(0, 3, (40, 16))
    y = rng.integers(0, 2, 40)
    loss_all, grad_all = model.loss_and_grad(theta, x, y)  # 40 ≥ 16: folded
    parts = [model.loss_and_grad(theta, x[i : i + 8], y[i : i + 8]) for i in range(0, 40, 8)]  # 8 < 16: direct
    assert np.isclose(loss_all, np.mean([p[0] for p in parts]))
    assert np.allclose(grad_all, np.mean([p[1] for p in parts], axis=0), atol=1e-12)


def test_bad_shapes_raise_model_error(rng):
    from compvqc.errors import ModelError

    model = build_model("4x4_ryzxy", "random14", 2)
    with pytest.raises(ModelError):
        model.logits(np.zeros(3), np.zeros((2, 16)))
    with pytest.raises(ModelError):
        model.logits(np.zeros(model.n_params), np.zeros((2, 15)))
