"""True TCD (whole circuit, min over recorded seeds) and the fast DAG estimate.

Every TCD the library reports must be reproducible by a fresh ``transpile`` at the reported
seed; the estimate must rank circuits like the true TCD (Spearman; the full 200-circuit study
runs with COMPVQC_FULL=1 and is recorded in benchmarks/RESULTS.md).
"""

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit import transpile
from scipy.stats import spearmanr

from compvqc.compile import (
    TCD_SEEDS,
    CompileError,
    Estimator,
    circuit_tcd,
    estimate_tcd,
    gate_dag,
    in_context_costs,
    load_lut_file,
    resolve_backend,
    true_tcd,
)
from compvqc.compile.cache import prebuilt_path
from compvqc.compile.estimate import dag_longest_path
from compvqc.compile.tcd import tcd_circuit
from compvqc.model import build_model
from tests.conftest import FULL


@pytest.fixture(scope="module")
def mnist2():
    """The 50-gate MNIST-2 model (4x4_ryzxy encoder, random50, arch seed 0) and a θ."""
    model = build_model("4x4_ryzxy", "random50", 2, arch_seed=0)
    return model, model.init_params(np.random.default_rng(0))


def fresh_depth(circuit, backend, seed):
    return transpile(circuit, backend, optimization_level=3, seed_transpiler=seed).depth()


def test_reported_tcd_equals_a_fresh_transpile(mnist2, manila):
    model, theta = mnist2
    r = true_tcd(model, theta, manila, seeds=(0, 3))
    qc = tcd_circuit(model, theta)
    assert r.depths == {s: fresh_depth(qc, manila, s) for s in (0, 3)}
    assert r.depth == min(r.depths.values()) == fresh_depth(qc, manila, r.seed)
    assert true_tcd(model, theta, manila, seeds=(0, 3)) == r  # same seeds, same number


def test_tcd_circuit_leaves_inputs_unbound_and_has_no_measurements(mnist2):
    model, theta = mnist2
    qc = tcd_circuit(model, theta)
    assert {p.name.split("[")[0] for p in qc.parameters} == {"x"} and qc.num_parameters == 16
    assert "measure" not in qc.count_ops()


def test_final_measurements_are_excluded(mnist2, manila):
    model, theta = mnist2
    qc = tcd_circuit(model, theta)
    measured = qc.copy()
    measured.measure_all()
    assert circuit_tcd(measured, manila, (1,)).depth == circuit_tcd(qc, manila, (1,)).depth


def test_tcd_is_the_minimum_over_seeds_on_a_large_backend(mnist2):
    model, theta = mnist2
    backend = resolve_backend("fake_sherbrooke")
    r = true_tcd(model, theta, backend, seeds=(0, 4))
    assert r.depth == min(r.depths.values())
    assert fresh_depth(tcd_circuit(model, theta), backend, r.seed) == r.depth


def test_seed_list_is_validated(mnist2, manila):
    model, theta = mnist2
    with pytest.raises(CompileError):
        true_tcd(model, theta, manila, seeds=())
    with pytest.raises(CompileError):
        true_tcd(model, theta, manila, seeds=(1, 1))
    assert TCD_SEEDS == tuple(range(10))


def _pruned(model, theta, controlled):
    th = theta.copy()
    for g in model.gates:
        if g.type.controlled == controlled:
            th[list(g.params)] = 0.0
    return th


def test_pruning_entanglers_saves_far_more_than_single_qubit_gates(mnist2, manila, manila_lut):
    """DESIGN.md: 196 → 188 pruning the 20 single-qubit gates, → 15 pruning the 30 controlled."""
    model, theta = mnist2
    seeds = (0,)
    base = true_tcd(model, theta, manila, seeds).depth
    no_1q = true_tcd(model, _pruned(model, theta, False), manila, seeds).depth
    no_2q = true_tcd(model, _pruned(model, theta, True), manila, seeds).depth
    assert base - no_1q < 20 and no_2q < 25 and base > 150
    est = Estimator(model, manila_lut)
    assert est.estimate(_pruned(model, theta, True)) < 25  # merged single-qubit runs, not Σ depths
    assert est.estimate(theta) - est.estimate(_pruned(model, theta, False)) < 20


# --- estimate ----------------------------------------------------------------------------------
def _random_compression(model, theta, lut, rng, p):
    """Each gate independently moved, with probability p, to a random level of its LUT."""
    th = theta.copy()
    for g in model.gates:
        if rng.uniform() < p:
            levels = lut[g.name].levels()
            th[list(g.params)] = levels[int(rng.integers(len(levels)))].angles
    return th


@settings(max_examples=15)
@given(seed=st.integers(0, 2**31), p=st.floats(0, 1))
def test_sweep_equals_networkx_longest_path(mnist2, manila_lut, seed, p):
    model, theta = mnist2
    th = _random_compression(model, theta, manila_lut, np.random.default_rng(seed), p)
    assert estimate_tcd(model, th, manila_lut) == dag_longest_path(model, th, manila_lut)
    assert nx.is_directed_acyclic_graph(gate_dag(model, th, manila_lut))


def test_in_context_costs_are_savings_against_the_current_theta(mnist2, manila_lut):
    model, theta = mnist2
    est = Estimator(model, manila_lut)
    base = est.estimate(theta)
    costs = in_context_costs(model, theta, manila_lut)
    assert len(costs) == len(model.gates)
    for i, row in enumerate(costs):
        g = model.gates[i]
        assert {c.kind for c in row} <= {"prune", "quant"} and len(row) == len(manila_lut[g.name].levels())
        for c in row:
            th = theta.copy()
            th[list(g.params)] = c.angles
            assert c.tcd == est.estimate(th) and c.saving == base - c.tcd
    # pruning one entangler saves more, in context, than pruning one single-qubit gate, on average
    prune = lambda controlled: np.mean([c.saving for i, row in enumerate(costs) for c in row  # noqa: E731
                                        if c.kind == "prune" and model.gates[i].type.controlled == controlled])
    assert prune(True) > prune(False)


def test_estimate_covers_amplitude_and_three_angle_models():
    lut = load_lut_file(prebuilt_path("fake_fractional"))
    for model in (build_model("amplitude", "random14", 2, arch_seed=2), build_model("2x2_ryz", "u3cu3_2", 2)):
        theta = model.init_params(np.random.default_rng(1))
        e = estimate_tcd(model, theta, lut)
        assert e == dag_longest_path(model, theta, lut) and e > 0
        assert estimate_tcd(model, np.zeros(model.n_params), lut) < e


def test_estimate_needs_the_gate_types_in_the_lut(manila_lut):
    from compvqc.compile import build_lut

    small = build_lut("fake_manila", ("rx", "ry", "rz"), qubits=(0, 1), progress=False, workers=1)
    with pytest.raises(CompileError, match="no 'cr"):
        Estimator(build_model("4x4_ryzxy", "random10", 2), small)


def _rank_study(model, theta, lut, backend, n, seeds, rng):
    est, tru = [], []
    estimator = Estimator(model, lut)
    for _ in range(n):
        th = _random_compression(model, theta, lut, rng, rng.uniform())
        est.append(estimator.estimate(th))
        tru.append(true_tcd(model, th, backend, seeds).depth)
    return spearmanr(est, tru).statistic, est, tru


def test_estimate_ranks_like_the_true_tcd_small(mnist2, manila, manila_lut):
    model, theta = mnist2
    rho, _, _ = _rank_study(model, theta, manila_lut, manila, 24, TCD_SEEDS[:1], np.random.default_rng(5))
    assert rho >= 0.9


@pytest.mark.slow
def test_estimate_ranks_like_the_true_tcd_full(mnist2, manila, manila_lut):
    """The issue's study: 200 random compressions, true TCD over the recorded seed list
    (CI: 40 compressions, 2 seeds). Prints the figure benchmarks/RESULTS.md records."""
    model, theta = mnist2
    n, seeds = (200, TCD_SEEDS) if FULL else (40, TCD_SEEDS[:2])
    rho, est, tru = _rank_study(model, theta, manila_lut, manila, n, seeds, np.random.default_rng(2022))
    print(f"\nspearman={rho:.4f} n={n} seeds={list(seeds)} true TCD {min(tru)}-{max(tru)} estimate {min(est)}-{max(est)}")
    assert rho >= 0.9


@settings(max_examples=25, deadline=None)
@given(backend=st.sampled_from(["fake_manila", "fake_lagos"]), keep=st.integers(0, 2**6 - 1))
def test_routing_costs_nothing_exactly_when_the_pairs_embed_in_the_coupling_map(mnist2, backend, keep):
    """The routing term against networkx's subgraph monomorphism of the kept pairs' graph into
    the region's coupling graph, and its size against the SWAPs qiskit actually inserts."""
    from networkx.algorithms.isomorphism import GraphMatcher

    from compvqc.compile import get_lut

    from compvqc.compile.objective import costs_for

    model, _ = mnist2
    lut = get_lut(backend, gates=sorted({g.name for g in model.gates}), model=model)
    est = Estimator(model, lut, costs_for("2q", lut))
    assert Estimator(model, lut).routing(set(range(len(est.pairs)))) == 0  # depth leaves routing out
    active = {k for k in range(len(est.pairs)) if keep >> k & 1}
    logical = nx.Graph([est.pairs[k] for k in active])
    qubits, edges = lut.region()
    device = nx.Graph(list(edges))
    device.add_nodes_from(qubits)
    embeds = GraphMatcher(device, logical).subgraph_is_monomorphic()
    assert (est.routing(active) == 0) == embeds
    duration = Estimator(model, lut, costs_for("duration", lut))
    assert (duration.routing(active) == 0) == embeds
    assert est.routing(active) % 3 == 0  # whole SWAPs of three CX each
