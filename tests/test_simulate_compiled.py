"""The simulator's compiled loops (compvqc.simulate.compiled) against their definitions in numpy.

The engine's end-to-end tests (Statevector, finite differences) cover them inside the engine;
these pin each loop down on its own, where a failure names the loop."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from compvqc.simulate import compiled


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=1, max_size=64))
def test_sincos_is_libm_to_one_ulp_at_one_and_passes_inf_and_nan_through(values):
    x = np.array(values)
    c, s = np.empty_like(x), np.empty_like(x)
    compiled.sincos(x, c, s)
    with np.errstate(invalid="ignore"):
        want_c, want_s = np.cos(x), np.sin(x)
    assert np.array_equal(np.isnan(c), np.isnan(want_c)) and np.array_equal(np.isnan(s), np.isnan(want_s))
    ok = ~np.isnan(want_c)
    assert np.all(np.abs(c[ok] - want_c[ok]) <= np.spacing(1.0))
    assert np.all(np.abs(s[ok] - want_s[ok]) <= np.spacing(1.0))


def test_sincos_on_a_million_angles_and_every_quadrant_boundary():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-1e6, 1e6, 10**6), np.arange(-64, 65) * np.pi / 4, [0.0, -0.0, 5e-324]])
    c, s = np.empty_like(x), np.empty_like(x)
    compiled.sincos(x, c, s)
    assert np.abs(c - np.cos(x)).max() <= np.spacing(1.0) and np.abs(s - np.sin(x)).max() <= np.spacing(1.0)


def _embedded(m, t, c, n):
    """The 2^n x 2^n matrix of a 2x2 ``m`` on qubit t, controlled by qubit c (−1: none)."""
    d = 1 << n
    full = np.zeros((d, d), np.complex128)
    for s in range(d):
        if c >= 0 and not (s >> c) & 1:
            full[s, s] = 1.0
            continue
        a = (s >> t) & 1
        for b in range(2):
            full[(s & ~(1 << t)) | (b << t), s] = m[b, a]
    return full


def _random_gates(rng, n, k):
    mats = rng.normal(size=(k, 2, 2)) + 1j * rng.normal(size=(k, 2, 2))
    targets = rng.integers(0, n, k)
    controls = np.array([rng.choice([c for c in range(-1, n) if c != t]) for t in targets])
    return mats, targets.astype(np.intp), controls.astype(np.intp)


@given(st.integers(1, 4), st.integers(1, 12), st.integers(0, 2**32 - 1))
def test_prefix_products_are_the_products_of_the_embedded_gates(n, k, seed):
    mats, targets, controls = _random_gates(np.random.default_rng(seed), n, k)
    if n == 1:
        controls[:] = -1
    got = compiled.prefix_products(mats, targets, controls, 1 << n)
    want = np.eye(1 << n, dtype=np.complex128)
    for j in range(k):
        want = _embedded(mats[j], targets[j], controls[j], n) @ want
        np.testing.assert_allclose(got[j], want, atol=1e-12)


@given(st.integers(1, 4), st.integers(1, 8), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_pair_correlations_sum_the_pairs_each_gate_acts_on(n, k, m, seed):
    rng = np.random.default_rng(seed)
    _, targets, controls = _random_gates(rng, n, k)
    if n == 1:
        controls[:] = -1
    d = 1 << n
    bra = rng.normal(size=(k, d, m)) + 1j * rng.normal(size=(k, d, m))
    ket = rng.normal(size=(k, d, m)) + 1j * rng.normal(size=(k, d, m))
    got = compiled.pair_correlations(bra, ket, targets, controls)
    for j in range(k):
        t, c = targets[j], controls[j]
        zeros = [s for s in range(d) if not (s >> t) & 1 and (c < 0 or (s >> c) & 1)]
        rows = [zeros, [s | (1 << t) for s in zeros]]
        want = np.array([[np.vdot(bra[j, rows[a]], ket[j, rows[b]]) for b in range(2)] for a in range(2)])
        np.testing.assert_allclose(got[j], want, atol=1e-12)


def _group_matrix(m, qubits, n):
    """The 2^n x 2^n matrix of a 2^k x 2^k ``m`` on ``qubits`` (local bit j = qubits[j])."""
    d = 1 << n
    full = np.zeros((d, d), np.complex128)
    local = [sum(((s >> q) & 1) << j for j, q in enumerate(qubits)) for s in range(d)]
    rest = [s & ~sum(1 << q for q in qubits) for s in range(d)]
    for s in range(d):
        for r in range(d):
            if rest[s] == rest[r]:
                full[s, r] = m[local[s], local[r]]
    return full


@st.composite
def _group_case(draw):
    n = draw(st.integers(1, 7))
    qubits = tuple(draw(st.permutations(range(n)))[: draw(st.integers(1, min(n, 4)))])
    return n, qubits, draw(st.integers(1, 5)), draw(st.integers(0, 2**32 - 1))


@settings(max_examples=40, deadline=None)
@given(_group_case())
def test_group_apply_and_sweep_are_the_embedded_matrix_and_the_partial_trace(case):
    from compvqc.simulate import fused

    n, qubits, cols, seed = case
    rng = np.random.default_rng(seed)
    d = 1 << len(qubits)
    m, a = (rng.normal(size=(2, d, d)) + 1j * rng.normal(size=(2, d, d)))
    phi, mu = rng.normal(size=(2, 1 << n, cols)) + 1j * rng.normal(size=(2, 1 << n, cols))
    rows = fused.plan(n, qubits)
    assert sorted((rows.offsets[:, None] + np.concatenate(rows.halves)[None]).ravel()) == list(range(1 << n))
    full_m, full_a = _group_matrix(m, qubits, n), _group_matrix(a, qubits, n)
    assert np.allclose(fused.apply(phi, np.empty_like(phi), m, rows), full_m @ phi, atol=1e-12)
    # R[i, j] = Σ over the other qubits' values and columns of φ[i-th local row] conj(λ[j-th local row])
    want_r = np.zeros((d, d), np.complex128)
    for base in np.concatenate(rows.halves):
        want_r += phi[base + rows.offsets] @ mu[base + rows.offsets].conj().T
    p, u = phi.copy(), mu.copy()
    r = fused.sweep(p, u, rows, m, a)
    assert np.allclose(r, want_r, atol=1e-12)
    assert np.allclose(u, full_m @ mu, atol=1e-12) and np.allclose(p, full_a @ phi, atol=1e-12)
    p, u = phi.copy(), mu.copy()
    assert np.array_equal(fused.sweep(p, u, rows), r) and np.array_equal(u, mu) and np.array_equal(p, phi)


def test_group_halves_give_the_same_bits_on_one_thread_or_two(monkeypatch):
    """The two halves of the bases are fixed, so whether the second runs on the worker thread
    changes no bit of a result (bit-identical resume does not depend on THREAD_MIN)."""
    from compvqc.simulate import fused

    rng = np.random.default_rng(3)
    phi, mu = rng.normal(size=(2, 1 << 10, 64)) + 1j * rng.normal(size=(2, 1 << 10, 64))
    m = rng.normal(size=(16, 16)) + 1j * rng.normal(size=(16, 16))
    rows = fused.plan(10, (7, 2, 9, 4))
    results = []
    for limit in (1, 1 << 40):  # threaded, then in turn
        monkeypatch.setattr(fused, "THREAD_MIN", limit)
        p, u = phi.copy(), mu.copy()
        results.append((fused.apply(phi, np.empty_like(phi), m, rows), fused.sweep(p, u, rows, m, m), p, u))
    for threaded, in_turn in zip(*results):
        assert np.array_equal(threaded, in_turn)


def test_a_forked_child_runs_threaded_groups_without_the_parents_worker():
    """The worker thread does not survive a fork; the child makes its own (else it would wait
    forever on a queue no thread serves). Runs a threaded group in the parent, then in a child."""
    import multiprocessing

    from compvqc.simulate import fused

    phi = np.ones((1 << 12, 16), np.complex128)
    rows = fused.plan(12, (0, 5, 11))
    m = np.eye(8, dtype=np.complex128)
    assert phi.size >= fused.THREAD_MIN
    want = fused.apply(phi, np.empty_like(phi), m, rows)  # the parent's worker now exists
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_apply_in_child, args=(out,), daemon=True)
    child.start()
    got = out.get(timeout=120)  # the event: the child's result (a hang fails here, not forever)
    child.join()
    assert child.exitcode == 0 and np.array_equal(got, want)


def _apply_in_child(out):
    from compvqc.simulate import fused

    phi = np.ones((1 << 12, 16), np.complex128)
    out.put(fused.apply(phi, np.empty_like(phi), np.eye(8, dtype=np.complex128), fused.plan(12, (0, 5, 11))))
