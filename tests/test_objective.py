"""Objectives beyond depth: cost tables against direct transpiles, the sweep against the DAG,
the estimate against the compiled circuit, and the objective through compression and the CLI."""

import json
import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit import transpile

from compvqc.cli.main import main
from compvqc.compile import Estimator
from compvqc.compile.build import gate_circuit
from compvqc.compile.cost import scheduled_duration, success_probability, two_qubit_gates
from compvqc.compile.objective import OBJECTIVES, costs_for, deployed_cost
from compvqc.compile.tcd import true_tcd
from compvqc.compress.levels import CompressionError
from compvqc.compress.methods import CompressConfig
from compvqc.errors import CompileError
from tests import test_compile_tcd


mnist2 = test_compile_tcd.mnist2  # the 50-gate MNIST-2 model and a θ (a fixture)
_random_compression = test_compile_tcd._random_compression


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    from compvqc.compile import objective

    monkeypatch.setenv("COMPVQC_CACHE", str(tmp_path))
    monkeypatch.setattr(objective, "_MEMO", {})
    return tmp_path


def _alone(name, angles, backend, site):
    """(2q, duration, −log ESP) of one gate compiled alone on one site, straight from qiskit."""
    out = transpile(gate_circuit(name, angles), backend, optimization_level=3, initial_layout=list(site),
                    seed_transpiler=0)
    return (two_qubit_gates(out), scheduled_duration(out, backend.target),
            -math.log(success_probability(out, backend.target)))


def test_cost_tables_are_the_mean_over_sites_of_direct_transpiles(fresh_cache, manila, manila_lut):
    qubits, edges = manila_lut.region()
    for name, sites in (("crx", edges), ("ry", [(q,) for q in qubits])):
        entry = manila_lut[name].levels()[-1]
        direct = np.mean([_alone(name, entry.angles, manila, s) for s in sites], axis=0)
        for k, objective in enumerate(("2q", "duration", "esp")):
            assert costs_for(objective, manila_lut, manila).value(name, entry.angles) == pytest.approx(direct[k])
    assert costs_for("2q", manila_lut, manila).generic["crx"] == 2  # a generic CRX is two CX
    # The table is cached as JSON beside the LUTs: a second process reads it, a corrupt one is rebuilt.
    (path,) = (fresh_cache / "measures").iterdir()
    from compvqc.compile import objective

    objective._MEMO.clear()
    again = costs_for("esp", manila_lut)  # no backend needed once cached
    assert again == costs_for("esp", manila_lut, manila)
    path.write_text("{not json")
    objective._MEMO.clear()
    assert costs_for("esp", manila_lut, manila) == again
    json.loads(path.read_text())


def test_depth_costs_are_the_lut(manila_lut):
    c = costs_for("depth", manila_lut)
    for name, table in manila_lut.gates.items():
        for e in table.entries:
            assert c.value(name, e.angles) == e.depth
        assert c.value(name, (0.123,) * len(table.entries[0].angles)) == table.generic.mode
    with pytest.raises(CompileError, match="unknown objective"):
        costs_for("speed", manila_lut)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), p=st.floats(0, 1), objective=st.sampled_from(["2q", "esp"]))
def test_additive_objectives_sum_the_dag(mnist2, manila, manila_lut, seed, p, objective):
    """For 2q and −log ESP the sweep is the sum of the DAG's node weights (plus readout and the
    placement term), where depth takes its longest path."""
    model, theta = mnist2
    th = _random_compression(model, theta, manila_lut, np.random.default_rng(seed), p)
    est = Estimator(model, manila_lut, costs_for(objective, manila_lut, manila))
    g = est.dag(th)
    counts = np.zeros(len(est.pairs))
    for node, cx in g.nodes(data="cx"):
        if node[0] != "block":
            counts[est.pair_index[tuple(sorted(node[1]))]] += cx
    total = sum(w for _, w in g.nodes(data="weight")) + est.placement(counts) + model.n_qubits * est.costs.readout
    assert est.estimate(th) == pytest.approx(total)
    assert nx.is_directed_acyclic_graph(g)


def test_the_two_qubit_estimate_counts_what_the_compiler_emits(mnist2, manila, manila_lut):
    """On fake_manila (a line) the two-qubit estimate, routing included, is exact for the vanilla
    circuit and within 15% of it for random compressions (measured: 8 of 72 at worst)."""
    from compvqc.compile.cost import best_compilation
    from compvqc.compile.tcd import tcd_circuit

    model, theta = mnist2
    est = Estimator(model, manila_lut, costs_for("2q", manila_lut, manila))
    rng = np.random.default_rng(5)
    errors = []
    for p in (0.0, 0.3, 0.6, 1.0):
        th = _random_compression(model, theta, manila_lut, rng, p)
        true = best_compilation(tcd_circuit(model, th), model.n_qubits, manila, range(4))["two_qubit_gates"]
        errors.append(abs(est.estimate(th) - true))
    assert errors[0] == 0 and max(errors) <= 0.15 * est.estimate(theta)


def test_config_and_selection_follow_the_objective():
    from compvqc.runs.select import Candidate, best

    assert CompressConfig().objective == "depth" and set(OBJECTIVES) == {"depth", "2q", "duration", "esp"}
    with pytest.raises(CompressionError, match="unknown objective"):
        CompressConfig(objective="speed")
    with pytest.raises(CompressionError, match="isolated"):
        CompressConfig(objective="esp", context=False)
    assert CompressConfig.from_dict(CompressConfig(objective="2q").to_dict()).objective == "2q"
    # the rule keeps the cheapest by the objective: the deeper candidate when its ESP is higher
    deep = Candidate(0.5, 0.9, 0.9, 40, 0.0, 0.5, cost=deployed_cost("esp", {"success_probability": 0.6}))
    shallow = Candidate(0.6, 0.9, 0.9, 30, 0.0, 0.5, cost=deployed_cost("esp", {"success_probability": 0.4}))
    assert best([shallow, deep], 1.0)[0] is deep
    assert best([Candidate(0.5, 0.9, 0.9, 40, 0.0, 0.5), Candidate(0.6, 0.9, 0.9, 30, 0.0, 0.5)], 1.0)[0].tcd == 30


def test_cli_compress_with_an_objective_reports_its_measures(tmp_path, capsys):
    ckpt = tmp_path / "m.ckpt"
    assert main(["train", "--dataset", "digits2", "--arch", "random22", "--epochs", "2", "-o", str(ckpt)]) == 0
    capsys.readouterr()
    out = tmp_path / "esp.ckpt"
    assert main(["compress", str(ckpt), "--backend", "fake_lagos", "--objective", "esp", "--ratio", "0.5",
                 "--iters", "2", "--retrain-epochs", "0", "-o", str(out), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["objective"] == "esp"
    for k in ("vanilla", "compressed"):
        assert 0 < d[k]["success_probability"] <= 1 and d[k]["two_qubit_gates"] >= 0 and d[k]["duration"] > 0
    from compvqc.checkpoint import load_checkpoint

    ck = load_checkpoint(out)
    assert ck.training["compress"]["objective"] == "esp"
    assert d["compressed"]["tcd"] == true_tcd(ck.model, ck.theta, "fake_lagos").depth
    assert main(["compress", str(ckpt), "--backend", "fake_lagos", "--objective", "speed"]) == 2
    assert "invalid choice" in capsys.readouterr().err
