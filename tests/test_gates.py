import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from qiskit.quantum_info import Operator

from compvqc.model.gates import (
    FOUR_PI,
    GATE_TYPES,
    TWO_PI,
    canonicalize,
    canonicalize_angles,
    circular_distance,
    generators,
    matrix,
)
from compvqc.model.qiskit_io import QISKIT_GATES

angles = st.floats(-50, 50, allow_nan=False)


@given(st.sampled_from(sorted(GATE_TYPES)), st.lists(angles, min_size=3, max_size=3))
def test_matrix_matches_qiskit(name, a):
    gt = GATE_TYPES[name]
    a = a[: gt.n_params]
    ours = matrix(name, a)
    theirs = Operator(QISKIT_GATES[name](*a)).data
    if gt.controlled:  # qiskit: control is qubit 0 (the least significant bit)
        theirs = theirs[np.ix_([1, 3], [1, 3])]
    assert np.allclose(ours, theirs, atol=1e-12)


@given(st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([FOUR_PI, TWO_PI]))
def test_canonicalize_in_range_and_equivalent(a, period):
    c = canonicalize(a, period)
    assert 0.0 <= c < period
    assert circular_distance(a, c, period) < 1e-6


@given(st.floats(0, FOUR_PI, exclude_max=True, allow_nan=False))
def test_canonicalize_keeps_in_range_floats_bit_identical(a):
    assert canonicalize(a, FOUR_PI) == a
    assert math.copysign(1, canonicalize(a, FOUR_PI)) == math.copysign(1, a) or a == 0


def test_canonicalize_edge_cases():
    assert canonicalize(-1e-300, FOUR_PI) == 0.0 or canonicalize(-1e-300, FOUR_PI) < FOUR_PI
    assert canonicalize(FOUR_PI, FOUR_PI) == 0.0
    assert canonicalize(-FOUR_PI, FOUR_PI) == 0.0
    assert canonicalize(math.pi / 2 + FOUR_PI, FOUR_PI) == math.pi / 2 + FOUR_PI - FOUR_PI


@given(st.sampled_from(sorted(GATE_TYPES)), st.lists(angles, min_size=3, max_size=3), st.integers(-3, 3))
def test_matrix_is_periodic_in_canonical_range(name, a, k):
    gt = GATE_TYPES[name]
    a = np.array(a[: gt.n_params])
    shifted = a + k * np.array(gt.periods)
    assert np.allclose(matrix(name, shifted), matrix(name, a), atol=1e-9)
    assert np.allclose(matrix(name, canonicalize_angles(name, shifted)), matrix(name, a), atol=1e-9)


def test_rx_two_pi_is_minus_identity_but_crx_is_not_prunable():
    assert np.allclose(matrix("rx", [TWO_PI]), -np.eye(2))
    # CRX(2π) applies -I on the control=1 block only: a relative phase, not prunable.
    assert np.allclose(matrix("crx", [TWO_PI]), -np.eye(2))


@given(st.sampled_from(sorted(GATE_TYPES)), st.lists(angles, min_size=3, max_size=3))
def test_generators_match_finite_differences(name, a):
    gt = GATE_TYPES[name]
    a = np.array(a[: gt.n_params])
    g = matrix(name, a)
    gens = generators(name, a)
    eps = 1e-6
    for k in range(gt.n_params):
        e = np.zeros_like(a)
        e[k] = eps
        d = (matrix(name, a + e) - matrix(name, a - e)) / (2 * eps)
        assert np.allclose(gens[k] @ g, d, atol=1e-7)
