"""Benchmark harness: knob ranges, fronts and statistics against independent computations, the
CLI, executors that give identical rows, and a killed sweep that resumes to the same rows."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from compvqc.bench.fronts import front, hypervolume, operating_points, paired_interval
from compvqc.bench.grid import Sweep, knob_values
from compvqc.cli.main import main
from compvqc.errors import UsageError


# --- knob ranges ------------------------------------------------------------------------------
@given(st.integers(0, 50), st.integers(0, 50), st.integers(1, 20))
def test_ranges_include_both_ends_as_exact_decimals(a, n, k):
    start, step = Decimal(a) / 100, Decimal(k) / 100
    stop = start + n * step
    values = knob_values(f"{start}:{stop}:{step}")
    assert len(values) == n + 1 and Decimal(values[0]) == start and Decimal(values[-1]) == stop
    assert all(Decimal(v) == start + i * step for i, v in enumerate(values))


def test_the_papers_ranges_and_bad_ones():
    assert knob_values("0.3:0.8:0.1") == ("0.3", "0.4", "0.5", "0.6", "0.7", "0.8")
    assert knob_values("0.9:0.99:0.03") == ("0.9", "0.93", "0.96", "0.99")
    assert knob_values("0.5,0.25") == ("0.5", "0.25")
    for bad in ("0.8:0.3:0.1", "0.3:0.8:0", "a:b:c", "0.5,0.5", "nan", "0.1:0.2"):
        with pytest.raises(UsageError):
            knob_values(bad)
    with pytest.raises(UsageError, match="ratio 1.5"):
        Sweep(datasets=("digits2",), methods=("prune",), ratios=("1.5",))


# --- fronts and statistics --------------------------------------------------------------------
points = st.lists(st.tuples(st.integers(1, 60), st.floats(0.0, 1.0)), min_size=1, max_size=12)


@given(points)
def test_the_front_is_exactly_the_non_dominated_points(pts):
    def dominated(p):
        return any(q[0] <= p[0] and q[1] >= p[1] and q != p for q in pts)

    f = front(pts)
    assert set(f) == {p for p in pts if not dominated(p)} and len(f) == len(set(f))
    assert all(t1 < t2 and a1 < a2 for (t1, a1), (t2, a2) in zip(f, f[1:]))


@given(points, st.integers(1, 70))
def test_the_hypervolume_is_the_dominated_area(pts, ref):
    """Against counting the unit cells of a 1/200-accuracy grid that some point dominates."""
    cells = 0
    for t in range(ref):  # cell [t, t+1) × [a, a + 1/200) is dominated if some point has tcd ≤ t, acc ≥ a + 1/200
        best = max((a for tp, a in pts if tp <= t), default=0.0)
        cells += math.floor(best * 200 + 1e-9)
    assert hypervolume(pts, ref) == pytest.approx(cells / 200 / ref, abs=1 / 200 + 1e-12)


def test_the_paired_interval_is_scipys():
    from scipy import stats

    a, b = np.array([0.61, 0.58, 0.66, 0.60, 0.63]), np.array([0.55, 0.57, 0.60, 0.58, 0.59])
    ci = paired_interval(list(a - b))
    ref = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert ci["low"] == pytest.approx(ref.low) and ci["high"] == pytest.approx(ref.high) and ci["n"] == 5
    assert paired_interval([0.1])["low"] is None


def test_the_operating_point_is_chosen_on_validation_within_the_budget():
    def row(knob, seed, val, test, speedup):
        return {"dataset": "d", "method": "m", "knob": knob, "seed": seed, "val_accuracy": val, "test_accuracy": test,
                "vanilla_val_accuracy": 0.9, "vanilla_test_accuracy": 0.9, "speedup": speedup, "tcd": 100 / speedup}
    rows = [row("0.3", s, 0.9, 0.7, 1.5) for s in (0, 1)] + [row("0.5", s, 0.895, 0.9, 2.0) for s in (0, 1)] \
        + [row("0.7", s, 0.85, 0.9, 3.0) for s in (0, 1)]  # 0.7's test is fine, its validation is not
    (op,) = operating_points(rows, budget=1.0)
    assert op["knob"] == "0.5" and op["speedup"] == 2.0 and op["val_drop"] == pytest.approx(0.5)
    (none,) = operating_points(rows, budget=0.0)
    assert none["knob"] == "0.3"  # drop 0, the only one within a zero budget


# --- the sweep itself -------------------------------------------------------------------------
ARGS = ["bench", "pareto", "--dataset", "digits2", "--methods", "prune,zero,vanilla", "--ratios", "0.4,0.6",
        "--seeds", "2", "--quick"]
VOLATILE = ("seconds", "host")


def rows_of(out):
    return [{k: v for k, v in json.loads(line).items() if k not in VOLATILE}
            for line in (out / "points.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "one"
    assert main([*ARGS, "--workers", "1", "-o", str(out), "--json"]) == 0
    return out


def test_pareto_writes_tidy_rows_summary_and_figures(reference, capsys):
    rows = rows_of(reference)
    assert len(rows) == 2 * (2 + 2 + 1) and len({r["key"] for r in rows}) == len(rows)
    header = (reference / "points.csv").read_text().splitlines()[0].split(",")
    assert {"method", "knob", "seed", "val_accuracy", "test_accuracy", "tcd", "two_qubit_gates", "duration",
            "success_probability", "speedup", "pruned", "quantized", "versions", "lut_sha256", "host"} <= set(header)
    for r in rows:
        assert r["speedup"] == pytest.approx(r["vanilla_tcd"] / r["tcd"])
        if r["method"] == "vanilla":
            assert r["tcd"] == r["vanilla_tcd"] and r["test_accuracy"] == r["vanilla_test_accuracy"]
    summary = json.loads((reference / "summary.json").read_text())
    assert {h["method"] for h in summary["hypervolume"]} == {"prune", "zero", "vanilla"}
    assert {(c["method"], c["versus"]) for c in summary["comparisons"]} >= {("prune", "zero"), ("zero", "prune")}
    for name in ("pareto-digits2", "ratio-digits2"):
        assert (reference / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert b"<svg" in (reference / "figures" / f"{name}.svg").read_bytes()[:400]


def test_a_row_is_reproduced_and_its_tcd_is_a_fresh_transpile(reference):
    """The point rerun alone gives its row again; its TCD is what qiskit's own transpile of the
    compressed circuit gives (minimum over the sweep's seeds), independent of the harness."""
    from qiskit import transpile

    from compvqc.bench.grid import Point
    from compvqc.bench.harness import compress_config, run_point
    from compvqc.checkpoint.container import decode
    from compvqc.compile.backends import resolve_backend
    from compvqc.compile.cache import get_lut
    from compvqc.compress.stages import compress_parameters
    from compvqc.model.qiskit_io import to_qiskit
    from compvqc.runs.compress import dataset_for

    vanilla = json.loads((reference / "vanilla" / "digits2-s1.json").read_text())
    blob = (reference / "vanilla" / "digits2-s1.ckpt").read_bytes()
    sweep = Sweep.from_dict(json.loads((reference / "sweep.json").read_text())["sweep"])
    point = Point("digits2", 1, "prune", "0.6")
    again = run_point(sweep.to_dict(), (point.dataset, point.seed, point.method, point.knob), blob, vanilla)
    recorded = next(r for r in rows_of(reference) if r["key"] == point.key)
    assert {k: v for k, v in again.items() if k not in VOLATILE} == recorded

    src, backend = decode(blob, "vanilla"), resolve_backend("fake_manila")
    config = compress_config(sweep, point)
    lut = get_lut(backend, gates=sorted({g.name for g in src.model.gates}), model=src.model)
    record, _, _ = compress_parameters(src.model, src.theta, dataset_for(src), lut, config)
    circuit = to_qiskit(src.model, record.theta).circuit
    depth = min(transpile(circuit, backend, optimization_level=3, seed_transpiler=s).depth() for s in config.tcd_seeds)
    assert recorded["tcd"] == depth


def test_two_workers_and_a_dask_cluster_give_the_same_rows(reference, tmp_path):
    from distributed import Client, LocalCluster

    assert main([*ARGS, "--workers", "2", "-o", str(tmp_path / "two"), "--json"]) == 0
    assert rows_of(tmp_path / "two") == rows_of(reference)
    from compvqc.bench.grid import Sweep
    from compvqc.bench.harness import run_sweep

    sweep = Sweep.from_dict(json.loads((reference / "sweep.json").read_text())["sweep"])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        run_sweep(sweep, tmp_path / "dask", scheduler=client, progress=False)
    assert rows_of(tmp_path / "dask") == rows_of(reference)


def test_a_killed_sweep_resumes_to_the_rows_of_an_uninterrupted_one(reference, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "compvqc", *ARGS, "--workers", "1", "-o", str(out), "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600  # turns a hang into a failure; the wait is for the files
    while len(list((out / "points").glob("*.json"))) < 3 if (out / "points").is_dir() else True:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list((out / "points").glob("*.json")))
    assert 3 <= done < 10 and not (out / "points.jsonl").exists()
    assert main([*ARGS, "--workers", "1", "-o", str(out), "--json"]) == 0
    assert rows_of(out) == rows_of(reference)
    assert not [p for p in out.rglob("*.tmp")]


def test_bad_input_is_one_line_before_any_work(tmp_path, capsys):
    for extra, code in ((["--ratios", "0.9:0.1:0.1"], 2), (["--methods", "nope"], 1), (["--backend", "nope"], 1),
                        (["--workers", "0"], 2), (["--seeds", "0"], 2)):
        out = tmp_path / "bad"
        assert main([*ARGS, *extra, "-o", str(out)]) == code, extra
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert not out.exists()


def test_a_directory_of_another_sweep_is_refused(reference, tmp_path, capsys):
    out = tmp_path / "other"
    assert main([*ARGS[:-1], "--seeds", "1", "--methods", "vanilla", "--quick", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["bench", "pareto", "--dataset", "digits2", "--methods", "vanilla", "--seeds", "1",
                 "-o", str(out)]) == 2  # not --quick: other results
    assert "other settings (quick)" in capsys.readouterr().err


# --- the bqskit baseline ----------------------------------------------------------------------
def test_bqskit_resynthesizes_the_trained_block_exactly_and_reports_its_own_tcd():
    """The resynthesized block is the trained block's unitary (up to phase); accuracy and TCD
    come from the compiled circuit, checked against the model and a fresh transpile."""
    from qiskit import QuantumCircuit, qasm2, transpile
    from qiskit.quantum_info import Operator

    from compvqc.compile.backends import resolve_backend
    from compvqc.compress.methods import CompressConfig
    from compvqc.compress.resynth import qualifies, resynthesize, run
    from compvqc.data import load_dataset
    from compvqc.errors import CompressionError
    from compvqc.model import build_model
    from compvqc.model.qiskit_io import to_qiskit

    data = load_dataset("syn4", n_samples=120)
    model = build_model("2x2_ryz", "random14", 2, arch_seed=0)
    theta = model.init_params(np.random.default_rng(0))
    block = QuantumCircuit(2)
    for inst in to_qiskit(model, theta).circuit.data[4:]:  # the encoder is 4 rotations
        block.append(inst)
    out = qasm2.loads(resynthesize(qasm2.dumps(block)), custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    overlap = abs(np.trace(Operator(out).data.conj().T @ Operator(block).data)) / 4
    assert overlap == pytest.approx(1.0, abs=1e-8)

    backend = resolve_backend("fake_manila")
    config = CompressConfig(method="bqskit", tcd_seeds=(0, 1))
    got = run(model, theta, data, backend, config)
    assert got["val_accuracy"] == np.mean(model.predict(theta, data.val.x) == data.val.y)
    assert got["test_accuracy"] == np.mean(model.predict(theta, data.test.x) == data.test.y)
    circuit = QuantumCircuit(2)
    for inst in to_qiskit(model, theta).circuit.data[:4]:
        circuit.append(inst)
    circuit.compose(out, inplace=True)
    assert got["tcd"] == min(transpile(circuit, backend, optimization_level=3, seed_transpiler=s).depth()
                             for s in (0, 1))
    best = min((transpile(circuit, backend, optimization_level=3, seed_transpiler=s) for s in (0, 1)),
               key=lambda c: c.depth())
    assert got["two_qubit_gates"] == sum(1 for i in best.data if i.operation.num_qubits == 2)
    assert 0 < got["success_probability"] < 1 and got["duration"] > 0 and got["note"] is None
    reupload = build_model("2x2_ryz", "reupload2", 2, arch_seed=0)
    assert qualifies(model) and not qualifies(reupload)
    with pytest.raises(CompressionError, match="interleaves"):
        run(reupload, reupload.init_params(np.random.default_rng(0)), data, backend, config)


def test_bqskit_runs_concurrently_and_a_resynthesis_out_of_time_leaves_the_block_as_it_was(monkeypatch):
    """Two resyntheses at once both finish (BQSKit's fixed runtime port made the second wait
    forever); one given no time returns None, and the method then ships the trained block."""
    from concurrent.futures import ThreadPoolExecutor

    from qiskit import QuantumCircuit, qasm2, transpile

    from compvqc.compile.backends import resolve_backend
    from compvqc.compress import resynth
    from compvqc.compress.methods import CompressConfig
    from compvqc.data import load_dataset
    from compvqc.model import build_model
    from compvqc.model.qiskit_io import to_qiskit

    model = build_model("2x2_ryz", "random14", 2, arch_seed=0)
    theta = model.init_params(np.random.default_rng(1))
    block = QuantumCircuit(2)
    for inst in to_qiskit(model, theta).circuit.data[4:]:
        block.append(inst)
    text = qasm2.dumps(block)
    with ThreadPoolExecutor(2) as pool:
        assert all(out and "OPENQASM" in out for out in pool.map(lambda _: resynth.resynthesize(text), range(2)))
    assert resynth.resynthesize(text, timeout=0) is None

    monkeypatch.setattr(resynth, "TIMEOUT", 0)
    backend = resolve_backend("fake_manila")
    got = resynth.run(model, theta, load_dataset("syn4", n_samples=120), backend,
                      CompressConfig(method="bqskit", tcd_seeds=(0, 1)))
    assert "no resynthesis within 0 s" in got["note"]
    assert got["tcd"] == min(transpile(to_qiskit(model, theta).circuit, backend, optimization_level=3,
                                       seed_transpiler=s).depth() for s in (0, 1))


def test_qiskit_approx_reports_the_cost_measures_of_its_compiled_circuit():
    from qiskit import transpile

    from compvqc.compile.backends import resolve_backend
    from compvqc.compile.cost import cost_measures
    from compvqc.compress.methods import CompressConfig, get_method
    from compvqc.data import load_dataset
    from compvqc.model import build_model
    from compvqc.model.qiskit_io import to_qiskit

    model = build_model("2x2_ryz", "random14", 2, arch_seed=0)
    theta = model.init_params(np.random.default_rng(0))
    backend = resolve_backend("fake_manila")
    got = get_method("qiskit-approx").run(model, theta, load_dataset("syn4", n_samples=120), backend,
                                          CompressConfig(method="qiskit-approx", ratio=None, degree=0.9,
                                                         tcd_seeds=(0, 1)))
    fresh = [transpile(to_qiskit(model, theta).circuit, backend, optimization_level=3, seed_transpiler=s,
                       approximation_degree=0.9) for s in (0, 1)]
    best = min(fresh, key=lambda c: c.depth())
    assert got["tcd"] == best.depth()
    assert {k: got[k] for k in ("two_qubit_gates", "duration", "success_probability")} == cost_measures(
        best, 2, backend.target)


def test_compiled_accuracy_matches_a_statevector_of_each_bound_sample_and_the_model_at_degree_one():
    from qiskit.quantum_info import Statevector

    from compvqc.compress.approx import approximate, compiled_accuracy
    from compvqc.model import build_model
    from compvqc.model.qiskit_io import input_values
    from compvqc.model.readout import accuracy

    model = build_model("4x4_ryzxy", "random30", 4, arch_seed=1)
    rng = np.random.default_rng(3)
    theta = model.init_params(rng)
    x, y = rng.uniform(0, 1, (40, 16)), rng.integers(0, 4, 40)
    w = model.readout.weights(model.n_qubits)
    for degree in (0.95, 1.0):
        compiled, _, _ = approximate(model, theta, "fake_manila", degree, seeds=(0,))
        layout = compiled.layout.final_index_layout()
        params = {p.name: p for p in compiled.parameters}
        logits = [Statevector(compiled.assign_parameters({params[f"x[{j}]"]: v[j] for j in range(16)
                                                          if f"x[{j}]" in params})).probabilities(layout) @ w
                  for v in input_values(model, x)]
        assert compiled_accuracy(model, compiled, x, y) == accuracy(np.array(logits), y)
    assert compiled_accuracy(model, compiled, x, y) == accuracy(model.logits(theta, x), y)
