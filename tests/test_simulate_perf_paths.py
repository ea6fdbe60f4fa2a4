"""The simulator's fast paths, each against qiskit's Statevector and finite differences.

The engine picks a path per trainable block — dense prefix products (2^n ≤ DENSE_MAX_DIM), and
above that folded (2^n ≤ B) or direct (B < 2^n), each with fused groups of FUSE_QUBITS qubits or
gate by gate (FUSE_QUBITS = 0) — and builds a leading run of encoders as a product state. Every path must give the same numbers; these tests pin each
one down on circuits chosen to hit it, including encoders between and after trainable blocks.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit.quantum_info import Statevector

from compvqc.model import VQC, AmplitudeEncode, Encode, Gate, Readout, build_model, default_readout
from compvqc.model.encoders import amplitude_state
from compvqc.model.gates import GATE_TYPES
from compvqc.model.qiskit_io import to_qiskit
from compvqc.simulate import Simulator, engine
from tests.references import finite_difference, reference_probs


def _random_gates(n, count, rng, names, start=0):
    gates = []
    for _ in range(count):
        name = names[int(rng.integers(len(names)))]
        gt = GATE_TYPES[name]
        wires = tuple(int(w) for w in rng.permutation(n)[: gt.n_wires])
        gates.append(Gate(name, wires, tuple(range(start, start + gt.n_params))))
        start += gt.n_params
    return gates


def _model(n, rng, *, names=tuple(GATE_TYPES), encoders=True, trailing=True, blocks=2, amplitude=False):
    """Encoders (mixed axes, some wires skipped) / gates / encoders / gates / [encoders]."""
    names = [g for g in names if GATE_TYPES[g].n_wires <= n]
    n_features = 5
    ops = [AmplitudeEncode(2**n)] if amplitude else []
    if amplitude:
        n_features = 2**n
    p = 0
    for b in range(blocks):
        if encoders and (b > 0 or not amplitude):
            for _ in range(int(rng.integers(1, 2 * n + 1))):
                ops.append(Encode(str(rng.choice(["rx", "ry", "rz"])), int(rng.integers(n)), int(rng.integers(n_features))))
        gates = _random_gates(n, int(rng.integers(3, 12)), rng, names, p)
        p += sum(len(g.params) for g in gates)
        ops += gates
    if trailing and encoders:
        ops.append(Encode("rx", 0, 0))
    readout = Readout("basis", ((0,), (1,))) if n == 1 else default_readout(n, 2)
    return VQC(n, n_features, tuple(ops), readout)


CASES = [  # (n, batch): which path
    (2, 64),  # dense fold
    (4, 40),  # dense fold at DENSE_MAX_DIM
    (5, 32),  # fused fold (just above DENSE_MAX_DIM)
    (6, 80),  # fused fold
    (4, 3),  # dense at a batch below 2^n
    (6, 5),  # fused direct
]


@pytest.mark.parametrize("n,batch", CASES)
@pytest.mark.parametrize("names", [("rx", "ry", "rz", "crx", "cry", "crz"), ("u3", "cu3"), tuple(GATE_TYPES)])
def test_paths_match_statevector_and_finite_differences(n, batch, names, rng):
    model = _model(n, rng, names=names)
    sim = Simulator(model)
    theta = rng.uniform(-7, 7, model.n_params)
    x = rng.normal(0, 2, (batch, model.n_features))
    y = rng.integers(0, 2, batch)
    assert np.max(np.abs(sim.probabilities(theta, x) - reference_probs(model, theta, x))) < 1e-10
    _, grad = sim.loss_and_grad(theta, x, y)
    assert np.allclose(grad, finite_difference(sim, theta, x, y), atol=1e-7)


@pytest.mark.parametrize("n,batch", [(3, 16), (5, 40), (6, 5)])
def test_amplitude_then_encoders_between_blocks(n, batch, rng):
    model = _model(n, rng, amplitude=True, blocks=3)
    sim = Simulator(model)
    theta = rng.uniform(-7, 7, model.n_params)
    x = rng.normal(0, 1, (batch, model.n_features))
    y = rng.integers(0, 2, batch)
    # qiskit_io's input vector is the amplitude tree's angles, so encoders after an amplitude
    # encoding have no qiskit form there: evolve the amplitude state through the rest instead.
    rest = VQC(n, model.n_features, model.ops[1:], model.readout)
    q = to_qiskit(rest, theta)
    amps = amplitude_state(x, n).T
    ref = np.array([
        Statevector(a).evolve(q.circuit.assign_parameters(dict(zip(q.inputs, v)), strict=False)).probabilities()
        for a, v in zip(amps, x)
    ])
    assert np.max(np.abs(sim.probabilities(theta, x) - ref)) < 1e-10
    assert np.allclose(sim.loss_and_grad(theta, x, y)[1], finite_difference(sim, theta, x, y), atol=1e-7)


def test_trailing_encoder_propagates_the_cotangent(rng):
    """Regression: encoders after the last trainable gate used to be skipped in the backward pass."""
    model = VQC(1, 1, (Gate("rx", (0,), (0,)), Encode("rx", 0, 0)), Readout("basis", ((0,), (1,))))
    sim = Simulator(model)
    theta, x, y = np.array([2.73923375]), np.array([[-0.26420973]]), np.array([0])
    assert np.allclose(sim.loss_and_grad(theta, x, y)[1], finite_difference(sim, theta, x, y), atol=1e-8)


@given(st.integers(1, 5), st.integers(0, 2**32 - 1), st.booleans())
def test_dense_and_sweep_paths_agree(n, seed, amplitude):
    rng = np.random.default_rng(seed)
    model = _model(n, rng, amplitude=amplitude)
    theta = rng.uniform(-7, 7, model.n_params)
    x = rng.normal(0, 2, (40, model.n_features))
    y = rng.integers(0, 2, 40)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine, "DENSE_MAX_DIM", 1 << n)  # dense prefix products
        loss, grad = Simulator(model).loss_and_grad(theta, x, y)
        mp.setattr(engine, "DENSE_MAX_DIM", 0)  # folded fused groups
        loss_f, grad_f = Simulator(model).loss_and_grad(theta, x, y)
        mp.setattr(engine, "FUSE_QUBITS", 0)  # folded kernel sweep
        loss_k, grad_k = Simulator(model).loss_and_grad(theta, x, y)
    direct = [Simulator(model).loss_and_grad(theta, x[i : i + 1], y[i : i + 1]) for i in range(40)]
    assert np.isclose(loss, loss_k) and np.allclose(grad, grad_k, atol=1e-12)
    assert np.isclose(loss, loss_f) and np.allclose(grad, grad_f, atol=1e-12)
    assert np.isclose(loss, np.mean([d[0] for d in direct]))
    assert np.allclose(grad, np.mean([d[1] for d in direct], axis=0), atol=1e-12)


def test_ten_qubits_folded_and_direct_agree(rng):
    model = VQC(10, 10, (*[Encode("ry", w, w) for w in range(10)], *_random_gates(10, 30, rng, list(GATE_TYPES))),
                default_readout(10, 2))
    sim = Simulator(model)
    theta = rng.uniform(-3, 3, model.n_params)
    x = rng.uniform(0, 3, (1024, 10))
    y = rng.integers(0, 2, 1024)
    loss, grad = sim.loss_and_grad(theta, x, y)  # 1024 ≥ 2^10: folded
    parts = [sim.loss_and_grad(theta, x[i : i + 256], y[i : i + 256]) for i in range(0, 1024, 256)]  # direct
    assert np.isclose(loss, np.mean([p[0] for p in parts]))
    assert np.allclose(grad, np.mean([p[1] for p in parts], axis=0), atol=1e-11)
    assert np.max(np.abs(sim.probabilities(theta, x[:3]) - reference_probs(model, theta, x[:3]))) < 1e-10


def test_main_case_matches_statevector_and_blas_limit_is_restored(rng):
    import threadpoolctl  # a dependency (the engine uses it): a broken install must fail here, not skip
    before = [c.num_threads for c in threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers]
    model = build_model("4x4_ryzxy", "random50", 2, arch_seed=0)
    theta = model.init_params(rng)
    x = rng.uniform(0, np.pi, (64, 16))
    assert np.max(np.abs(model.probabilities(theta, x) - reference_probs(model, theta, x))) < 1e-10
    model.loss_and_grad(theta, x, rng.integers(0, 2, 64))
    after = [c.num_threads for c in threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers]
    assert before == after


def test_fused_groups_run_with_every_blas_limited_even_one_loaded_after_the_first_look(rng, monkeypatch):
    """The groups' GEMMs run in scipy's BLAS (numba's np.dot), one per thread of ours: a BLAS
    thread pool under them only contends. So during a fused call every BLAS is at BLAS_THREADS,
    also when the engine looked for BLAS libraries before that one was loaded."""
    import threadpoolctl

    from compvqc.simulate import fused

    stale = threadpoolctl.ThreadpoolController().select(user_api="blas", filepath="numpy").lib_controllers
    monkeypatch.setattr(engine, "_BLAS", {False: stale})  # as if found before the groups' BLAS was there
    seen = []
    real = fused.apply

    def spy(*args):
        seen.append({c.filepath: c.num_threads for c in threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers})
        return real(*args)

    monkeypatch.setattr(fused, "apply", spy)
    model = _model(7, rng, encoders=False)
    Simulator(model).loss_and_grad(model.init_params(rng), np.zeros((4, model.n_features)), np.zeros(4, int))
    assert seen and fused.blas_loaded()
    assert any("scipy.libs" in path or "scipy/" in path for path in seen[0]), seen[0]
    assert all(n == engine.BLAS_THREADS for threads in seen for n in threads.values()), seen[0]


@settings(max_examples=30, deadline=None)
@given(st.integers(5, 14), st.integers(0, 2**32 - 1), st.sampled_from([1, 2, 3, 4, 5, 6]), st.sampled_from([1, 7, 40]),
       st.booleans())
def test_fused_groups_match_statevector_and_the_gate_by_gate_sweep(n, seed, k, batch, tape):
    """Fused groups of k qubits, 5-14 qubits, with the forward's group inputs kept or undone again
    (``tape``): probabilities against Statevector, loss and gradient against the gate-by-gate path
    (itself checked against finite differences above), and against finite differences directly
    where that is cheap."""
    rng = np.random.default_rng(seed)
    model = _model(n, rng)
    theta = rng.uniform(-7, 7, model.n_params)
    x = rng.normal(0, 2, (batch, model.n_features))
    y = rng.integers(0, 2, batch)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine, "FUSE_QUBITS", k)
        mp.setattr(engine, "FUSE_TAPE_BYTES", engine.FUSE_TAPE_BYTES if tape else 0)
        sim = Simulator(model)
        probs = sim.probabilities(theta, x[:3])
        loss, grad = sim.loss_and_grad(theta, x, y)
        fd = finite_difference(sim, theta, x[:2], y[:2]) if n <= 7 else None
        small = sim.loss_and_grad(theta, x[:2], y[:2])[1]
        mp.setattr(engine, "FUSE_QUBITS", 0)
        loss_k, grad_k = Simulator(model).loss_and_grad(theta, x, y)
    assert np.max(np.abs(probs - reference_probs(model, theta, x[:3]))) < 1e-10
    assert np.isclose(loss, loss_k) and np.allclose(grad, grad_k, atol=1e-11)
    if fd is not None:
        assert np.allclose(small, fd, atol=1e-7)


def test_groups_reorder_only_commuting_gates():
    """A gate joins an earlier group only past groups on other wires, never past one it shares a
    wire with; and no group is wider than k."""
    from compvqc.simulate.fused import groups
    from compvqc.simulate.lower import Prim

    def p(t, c=None):
        return Prim(t, c, "rx", ((0, 1.0, 0.0),))

    # p(1, 2) fits neither group; p(0) and p(3) commute past it (no shared wire) into theirs
    out = groups([p(0, 1), p(2, 3), p(1, 2), p(0), p(3)], 2)
    assert [(q, len(m)) for q, m in out] == [((0, 1), 2), ((2, 3), 2), ((1, 2), 1)]
    # p(1) shares wire 1 with the later group (1, 2), so it may not move back into (0, 1)
    out = groups([p(0, 1), p(1, 2), p(1)], 2)
    assert [(q, len(m)) for q, m in out] == [((0, 1), 1), ((1, 2), 2)]
    assert out[1][1][1].target == 0  # local wire: qubit 1 is bit 0 of the group (1, 2)
    wide = groups([p(0, 1), p(1, 2), p(2, 3), p(3, 4)], 3)
    assert all(len(q) <= 3 for q, _ in wide)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9), st.integers(0, 6), st.lists(st.tuples(st.integers(0, 8), st.integers(-1, 8)), max_size=60))
def test_both_partitions_keep_every_wires_gate_order_and_fit_k(n, k, pairs):
    """A partition is exact when, read group by group, every wire meets its gates in circuit
    order (gates on disjoint wires commute) and no group is wider than k (a wider gate alone);
    groups() returns the cheaper, with each group's qubits and its gates on local wires."""
    from compvqc.simulate.fused import PASS_COST, cost, from_front, groups, in_order, wires_of
    from compvqc.simulate.lower import Prim

    prims = [Prim(t % n, None if c < 0 or c % n == t % n else c % n, "rx", ((i, 1.0, 0.0),))
             for i, (t, c) in enumerate(pairs)]
    wires = [wires_of(p) for p in prims]
    partitions = [in_order(wires, k), from_front(wires, k)]
    for partition in partitions:
        order = [g for _, members in partition for g in members]
        assert sorted(order) == list(range(len(prims)))
        for q in range(n):
            on_q = [g for g in order if q in wires[g]]
            assert on_q == sorted(on_q)
        assert all((len(used) <= k or len(members) == 1) and used == set().union(*(wires[g] for g in members))
                   for used, members in partition)
    costs = [sum(2 ** len(used) + PASS_COST for used, _ in partition) for partition in partitions]
    assert costs == [cost(partition) for partition in partitions]
    chosen = groups(prims, k)
    picked = partitions[int(costs[1] < costs[0])]
    assert [p.slots[0][0] for _, members in chosen for p in members] == [g for _, m in picked for g in m]
    for qubits, members in chosen:
        assert list(qubits) == sorted(set().union(*(wires[p.slots[0][0]] for p in members)))
        for p in members:
            original = prims[p.slots[0][0]]
            assert qubits[p.target] == original.target
            assert (p.control is None) == (original.control is None)
            assert p.control is None or qubits[p.control] == original.control
