"""Compression engine: exact LUT levels, ADMM mechanics, methods, resume, CLI, recompression."""

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compvqc.checkpoint import CheckpointManager, load_checkpoint
from compvqc.cli.main import main
from compvqc.compile.lut import LUT, DepthStats, Entry, GateTable
from compvqc.compress.admm import ADMM, ADMMConfig
from compvqc.compress.levels import circular_delta, nearest_representative
from compvqc.compress.methods import METHODS, CompressConfig
from compvqc.compress.stages import compress_parameters
from compvqc.data import load_dataset
from compvqc.model import build_model
from compvqc.model.gates import GATE_TYPES


@pytest.fixture(scope="module")
def syn4():
    return load_dataset("syn4", n_samples=120)


def synthetic_lut(draw_kinds, names) -> LUT:
    """A LUT on the π/8 grid with arbitrary kinds (the engine must respect whatever it says)."""
    gates = {}
    for name in names:
        gt = GATE_TYPES[name]
        entries = []
        grid = [k * math.pi / 8 for k in range(32)] if gt.n_params == 1 else \
            [(t * math.pi / 2, p * math.pi / 2, 0.0) for t in range(8) for p in range(4)]
        for k, a in enumerate(grid):
            kind = draw_kinds(name, k)
            depth = {"prune": 0, "quant": 1, "generic": 5, "deep": 9}[kind]
            entries.append(Entry((a,) if gt.n_params == 1 else tuple(a), depth, kind))
        gates[name] = GateTable(name, DepthStats.of([5]), tuple(entries))
    return LUT({"backend": "synthetic"}, gates, {"1q": DepthStats.of([3]), "cx": DepthStats.of([1])})


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 1000), st.sampled_from(["compvqc", "prune", "quant", "snap", "zero"]),
       st.floats(0.0, 1.0), st.lists(st.sampled_from(["prune", "quant", "generic", "deep"]), min_size=64, max_size=64))
def test_masked_parameters_are_exact_lut_levels(syn4, seed, method, ratio, kinds):
    model = build_model("2x2_ryz", "random8", 2, arch_seed=seed,
                        gate_set=("rx", "ry", "rz", "crx", "cry", "crz", "u3", "cu3"))
    kinds = list(kinds)
    if method == "zero":  # zero-only pruning needs 0 to be a pruning level, as it is on hardware
        kinds[0] = "prune"
    lut = synthetic_lut(lambda name, k: kinds[k % len(kinds)] if k else kinds[0], {g.name for g in model.gates})
    theta = model.init_params(np.random.default_rng(seed))
    cfg = CompressConfig(method=method, ratio=ratio, retrain_epochs=1,
                         admm=ADMMConfig(ratio=ratio, iterations=2, min_steps=4, epochs=1))
    record, final, targets = compress_parameters(model, theta, syn4, lut, cfg)
    out = record.theta
    masked = final.prune_mask | final.quant_mask
    assert masked.sum() <= round(ratio * len(model.gates))
    allowed = METHODS[method].lut_kinds
    for i in np.flatnonzero(masked):
        g = model.gates[i]
        entry = lut[g.name].lookup(out[list(g.params)])
        assert entry is not None, "masked θ is not bit-identical to a LUT entry"
        assert entry.kind in allowed and entry.kind not in ("deep", "generic")
        assert np.array_equal(final.levels[i, : len(g.params)], out[list(g.params)])
        assert final.prune_mask[i] == (entry.kind == "prune")


@given(st.floats(-100, 100), st.floats(0, 4 * math.pi, exclude_max=True))
def test_nearest_representative_is_unwrapped_and_close(v, level):
    rep = nearest_representative(np.array([v]), (level,), 4 * math.pi)[0]
    assert abs(rep - v) <= 2 * math.pi + 1e-9
    assert abs(circular_delta(rep, level, 4 * math.pi)) < 1e-9


def test_admm_mask_counts_and_prefers_close_gates():
    model = build_model("2x2_ryz", "random6", 2, arch_seed=0, gate_set=("rx", "ry"))
    targets = [Entry((0.0,), 0, "prune")] * 6
    admm = ADMM(model, targets, ratio=0.5, alpha=1.0)
    theta = np.array([0.01, 3.0, -0.02, 2.0, 0.05, 1.0])
    state = admm.init(theta)
    assert list(np.flatnonzero(admm.mask(theta, state))) == [0, 2, 4]
    assert np.allclose(state.Z[[0, 2, 4]], 0.0) and np.array_equal(state.Z[[1, 3, 5]], theta[[1, 3, 5]])
    p, g = admm.penalty(theta, state)
    assert np.isclose(p, 0.5 * state.rho * np.sum((theta - state.Z) ** 2)) and np.allclose(g, state.rho * (theta - state.Z))
    new, report = admm.update(theta, state)
    assert new.iteration == 1 and np.isclose(new.rho, state.rho * 1.3)
    assert np.allclose(new.u, state.u + theta - new.Z) and report.primal_residual > 0


def test_user_owned_loop(syn4):
    """The README's pattern: the user adds the penalty to their loss and calls update()."""
    model = build_model("2x2_ryz", "random8", 2, arch_seed=1)
    lut = synthetic_lut(lambda name, k: "prune" if k in (0, 16) else "quant" if k % 4 == 0 else "generic",
                        {g.name for g in model.gates})
    theta = model.init_params(np.random.default_rng(0))
    from compvqc.compile.estimate import Estimator
    from compvqc.compress.levels import candidate_levels
    from compvqc.compress.recl import recl

    targets = [c.level for c in recl(model, theta, lut, candidate_levels(model, lut, ("prune", "quant")),
                                     syn4.val.x, syn4.val.y)]
    admm = ADMM(model, targets, ratio=0.5, rho=2.0, estimator=Estimator(model, lut))
    state = admm.init(theta)
    for _ in range(6):
        for _ in range(40):
            loss, grad = model.loss_and_grad(theta, syn4.train.x, syn4.train.y)
            _, pgrad = admm.penalty(theta, state)
            theta = theta - 0.05 * (grad + pgrad)
        state, info = admm.update(theta, state)
    assert info.primal_residual < 0.5
    final = admm.finalize(theta, info.mask)
    for i in np.flatnonzero(info.mask):
        assert lut[model.gates[i].name].lookup(final.theta[list(model.gates[i].params)]) is not None


class _Killed(Exception):
    pass


class _DyingManager(CheckpointManager):
    def __init__(self, *a, die_after, **kw):
        super().__init__(*a, **kw)
        self.left = die_after

    def save(self, *a, **kw):
        path = super().save(*a, **kw, wait=True)
        self.left -= 1
        if self.left == 0:
            raise _Killed
        return path


def test_killed_compression_resumes_bit_identical(syn4, tmp_path):
    model = build_model("2x2_ryz", "random8", 2, arch_seed=2)
    lut = synthetic_lut(lambda name, k: "prune" if k in (0, 16) else "quant" if k % 4 == 0 else "generic",
                        {g.name for g in model.gates})
    theta = model.init_params(np.random.default_rng(0))
    cfg = CompressConfig(ratio=0.5, retrain_epochs=2, admm=ADMMConfig(ratio=0.5, iterations=4, min_steps=20, zeta=0))
    straight = compress_parameters(model, theta, syn4, lut, cfg)[0].theta

    def persist_to(manager):
        from compvqc.checkpoint import Checkpoint
        from compvqc.runs.compress import run_checkpoint

        return lambda record, targets: manager.save(run_checkpoint(Checkpoint(model, theta), record, targets, 0.01),
                                                    step=record.admm.iteration + 100 * record.epoch)

    for die_after in (2, 5):  # during ADMM, and during retraining
        run = tmp_path / f"run{die_after}"
        with pytest.raises(_Killed):
            compress_parameters(model, theta, syn4, lut, cfg,
                                persist=persist_to(_DyingManager(run, die_after=die_after, writer="sync")))
        from compvqc.runs.compress import record_of

        restored = record_of(CheckpointManager(run, writer="sync").restore())
        resumed = compress_parameters(model, theta, syn4, lut, cfg, restored=restored)[0].theta
        assert np.array_equal(resumed, straight)


@pytest.mark.parametrize("zeta", [0.0, 1e9])  # never converges; converges at the second iteration
def test_a_run_resumed_from_any_record_it_persisted_ends_bit_identical(syn4, zeta):
    """Every record handed to ``persist`` is a resume point: continuing from its stage gives the
    uninterrupted result (with convergence, ADMM must not iterate again after it)."""
    model = build_model("2x2_ryz", "random8", 2, arch_seed=4)
    lut = synthetic_lut(lambda name, k: "prune" if k in (0, 16) else "quant" if k % 4 == 0 else "generic",
                        {g.name for g in model.gates})
    theta = model.init_params(np.random.default_rng(1))
    cfg = CompressConfig(ratio=0.5, retrain_epochs=2, admm=ADMMConfig(ratio=0.5, iterations=4, min_steps=20, zeta=zeta))
    records = []
    straight, _, _ = compress_parameters(model, theta, syn4, lut, cfg, persist=lambda r, t: records.append(r))
    stages = [r.stage for r in records]
    assert stages.count("admm") == (3 if zeta == 0 else 1) and stages[-1] == "retrain" and straight.stage == "done"
    for rec in records:
        resumed, _, _ = compress_parameters(model, theta, syn4, lut, cfg, restored=rec)
        assert np.array_equal(resumed.theta, straight.theta) and resumed.history == straight.history


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "digits.ckpt"
    assert main(["train", "--dataset", "digits2", "--arch", "random22", "--epochs", "5", "-o", str(path),
                 "--backend", "fake_manila"]) == 0
    return path


KEYS = {"schema", "backend", "method", "ratio", "vanilla", "compressed", "speedup", "pruned", "quantized", "output"}


def test_cli_compress_and_recompress_for_another_backend(trained, tmp_path, capsys):
    capsys.readouterr()
    out = tmp_path / "manila.ckpt"
    assert main(["compress", str(trained), "--backend", "fake_manila", "--ratio", "0.4", "--iters", "3",
                 "-o", str(out), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert KEYS <= set(d) and d["ratio"] == 0.4 and {"accuracy", "tcd"} <= set(d["compressed"])
    ck = load_checkpoint(out)
    assert ck.run["stage"] == "compressed" and ck.lut_provenance["backend"] == "fake_manila"
    # The reported TCD equals a fresh transpile of the exported circuit over the same seeds.
    from qiskit import qasm3, transpile

    from compvqc.compile.backends import resolve_backend
    from compvqc.compile.tcd import TCD_SEEDS
    from compvqc.model.qiskit_io import to_qasm3

    circuit = qasm3.loads(to_qasm3(ck.model, ck.theta))
    fresh = min(transpile(circuit, resolve_backend("fake_manila"), optimization_level=3, seed_transpiler=s).depth()
                for s in TCD_SEEDS)
    assert fresh == d["compressed"]["tcd"]
    for i in np.flatnonzero(ck.prune_mask | ck.quant_mask):
        assert np.array_equal(ck.theta[list(ck.model.gates[i].params)], ck.levels[i, : len(ck.model.gates[i].params)])
    # Recompression for fake_torino starts from the original θ, bit-identical.
    out2 = tmp_path / "torino.ckpt"
    assert main(["compress", str(out), "--backend", "fake_torino", "--iters", "2", "--warm-start-masks",
                 "-o", str(out2), "--json"]) == 0
    capsys.readouterr()
    ck2 = load_checkpoint(out2)
    assert np.array_equal(ck2.theta_original, load_checkpoint(trained).theta)
    assert ck2.lut_provenance["backend"] == "fake_torino" and ck2.hardware_profile["backend"] == "fake_torino"


def test_cli_qiskit_approx_and_errors(trained, tmp_path, capsys):
    capsys.readouterr()
    out = tmp_path / "approx.ckpt"
    assert main(["compress", str(trained), "--backend", "fake_manila", "--method", "qiskit-approx", "--degree",
                 "0.95", "-o", str(out), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["ratio"] is None and d["degree"] == 0.95 and d["compressed"]["tcd"] <= d["vanilla"]["tcd"]
    assert main(["compress", str(trained), "--backend", "fake_manila", "-o", str(out)]) == 1  # exists
    assert "exists" in capsys.readouterr().err
    assert main(["compress", str(trained), "--backend", "fake_manila", "--method", "qiskit-approx"]) == 2
    assert main(["compress", str(trained), "--backend", "nope"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "Traceback" not in err


@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
def test_the_ratio_reaches_admm(syn4, ratio):
    """CompressConfig(ratio=r) alone must mask round(r·|G|) gates (it once stayed at 0.5)."""
    assert CompressConfig(ratio=ratio).admm.ratio == ratio
    model = build_model("2x2_ryz", "random8", 2, arch_seed=3)
    lut = synthetic_lut(lambda name, k: "prune" if k % 4 == 0 else "quant", {g.name for g in model.gates})
    cfg = CompressConfig(ratio=ratio, retrain_epochs=0, admm=ADMMConfig(iterations=1, min_steps=2))
    _, final, _ = compress_parameters(model, model.init_params(np.random.default_rng(0)), syn4, lut, cfg)
    assert int((final.prune_mask | final.quant_mask).sum()) == round(ratio * len(model.gates))


# --- choosing the ratio on validation (compvqc.runs.select, compress --ratios) ---------------
candidate_keys = st.tuples(st.sampled_from([-0.5, 0.4, 1.0, 1.7]), st.sampled_from([20, 30, 40]),
                           st.sampled_from([0.1, 0.25, 0.5, 0.75]))


@given(st.lists(candidate_keys, min_size=1, max_size=6, unique_by=lambda k: k[2]), st.sampled_from([0.0, 0.5, 1.0]))
def test_the_rule_is_the_shallowest_within_the_budget_then_the_larger_ratio(keys, budget):
    from compvqc.runs.select import Candidate, best

    cands = [Candidate(r, 0.9, 0.9, tcd, upper - 0.3, upper) for upper, tcd, r in keys]
    chosen, within = best(cands, budget)
    ok = [k for k in keys if k[0] <= budget]
    assert within == bool(ok)
    if ok:
        assert chosen.tcd == min(t for _, t, _ in ok)
        assert chosen.ratio == max(r for _, t, r in ok if t == chosen.tcd)
    else:
        assert chosen.drop_upper == min(u for u, _, _ in keys)


@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=2, max_size=60))
def test_the_drop_bound_is_scipys_one_sided_paired_interval(pairs):
    from scipy import stats

    from compvqc.runs.select import drop_bound

    v, c = np.array(pairs, dtype=float).T
    mean, upper = drop_bound(v, c)
    assert mean == pytest.approx(100 * (v.mean() - c.mean()))
    if np.ptp(v - c) == 0:
        assert upper == pytest.approx(mean)
    else:
        ref = stats.ttest_rel(v, c, alternative="less").confidence_interval(0.95).high
        assert upper == pytest.approx(100 * ref)


def test_select_ratio_scores_every_candidate_on_the_validation_split(trained):
    from compvqc.compile.backends import resolve_backend
    from compvqc.runs.compress import dataset_for
    from compvqc.runs.select import select_ratio
    from compvqc.deploy import evaluate

    src = load_checkpoint(trained)
    backend = resolve_backend("fake_manila")
    config = CompressConfig(admm=ADMMConfig(iterations=2), retrain_epochs=1)
    chosen, cands = select_ratio(src, backend, [0.25, 0.5], config, shots=256, seed=3, noise=True, progress=False)
    data = dataset_for(src)
    assert [c.ratio for c in cands] == [0.25, 0.5]
    from compvqc.runs.select import best, drop_bound

    vanilla = evaluate(src.model, src.theta_original, data.val.x, data.val.y, backend, shots=256, seed=3)
    for c in cands:  # each score is reproduced independently (same seed: the same shots)
        assert c.checkpoint.metrics["compression"]["compressed"]["tcd"] == c.tcd
        assert c.exact_val_accuracy == np.mean(c.checkpoint.model.predict(c.checkpoint.theta, data.val.x) == data.val.y)
        again = evaluate(c.checkpoint.model, c.checkpoint.theta, data.val.x, data.val.y, backend, shots=256, seed=3)
        assert c.backend_val_accuracy == again.accuracy
        assert (c.drop, c.drop_upper) == drop_bound(vanilla.predictions == data.val.y, again.predictions == data.val.y)
    pick, within = best(cands, 1.0)
    assert np.array_equal(chosen.theta, pick.checkpoint.theta)
    sel = chosen.metrics["compression"]["selection"]
    assert sel["ratio"] == pick.ratio and sel["shots"] == 256 and sel["noise"] and len(sel["candidates"]) == 2
    assert sel["budget"] == 1.0 and sel["within_budget"] == within and "non-inferiority" in sel["rule"]
    assert sel["vanilla_val_accuracy"] == vanilla.accuracy


def test_cli_compress_chooses_among_ratios(trained, tmp_path, capsys):
    capsys.readouterr()
    out, run = tmp_path / "chosen.ckpt", tmp_path / "run"
    assert main(["compress", str(trained), "--backend", "fake_manila", "--ratios", "0.25", "0.5", "--iters", "2", "--noisy",
                 "--shots", "256", "--checkpoint-dir", str(run), "-o", str(out), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert KEYS <= set(d) and d["ratio"] in (0.25, 0.5) and d["selection"]["ratio"] == d["ratio"]
    assert [c["ratio"] for c in d["selection"]["candidates"]] == [0.25, 0.5]
    assert sorted(p.name for p in run.iterdir()) == ["ratio-0.25", "ratio-0.5"]
    assert [c["backend_val_accuracy"] <= 1 for c in d["selection"]["candidates"]] == [True, True]
    ck = load_checkpoint(out)
    assert ck.metrics["compression"]["selection"] == d["selection"]
    assert int((ck.prune_mask | ck.quant_mask).sum()) == round(d["ratio"] * len(ck.model.gates))
    # Bad choices: one line, no traceback, nothing written.
    for bad in (["--ratios", "0.5", "1.5"], ["--ratios", "0.5", "0.5"], ["--ratios", "0.5", "--ratio", "0.2"],
                ["--method", "qiskit-approx", "--degree", "0.9", "--ratios", "0.5"], ["--ratios", "0.5", "--shots", "0"],
                ["--ratios", "0.5", "--budget", "-1"], ["--budget", "0.5", "--ratio", "0.2"],
                ["--method", "vanilla", "--budget", "0.5"],
                ["--method", "vanilla", "--ratios", "0.25", "0.5"], ["--ratio", "0.5", "--no-noise"],
                ["--ratio", "0.5", "--shots", "100"], ["--ratios", "0.5", "--shots", "100"],
                ["--ratios", "0.5", "--noisy", "--no-noise"], ["--ratio", "0.5", "--noisy"],
                ["--ratio", "0.5", "--objective", "esp", "--isolated"]):
        target = tmp_path / "bad.ckpt"
        assert main(["compress", str(trained), "--backend", "fake_manila", *bad, "-o", str(target)]) in (1, 2)
        err = capsys.readouterr().err
        assert err.strip().count("\n") <= 1 and "Traceback" not in err and not target.exists(), err


def test_close_ratios_get_their_own_run_directories(trained, tmp_path, capsys):
    """Directory names are the ratio's exact repr: 6 significant digits would merge these two
    (4 and 5 of 22 gates), and a resume would then reuse one's run for the other."""
    run = tmp_path / "run"
    assert main(["compress", str(trained), "--backend", "fake_manila", "--ratios", "0.20454541", "0.20454549",
                 "--iters", "1", "--retrain-epochs", "0", "--no-noise", "--checkpoint-dir", str(run),
                 "-o", str(tmp_path / "c.ckpt"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert sorted(p.name for p in run.iterdir()) == ["ratio-0.20454541", "ratio-0.20454549"]
    assert d["selection"]["noise"] is False and d["selection"]["shots"] == 0


def test_a_killed_ratio_selection_resumes_bit_identical(trained, tmp_path):
    """Killed during the second ratio's ADMM (the first finished): --resume picks both runs up
    from their own directories and chooses the same model, bit for bit."""
    from compvqc.compile.backends import resolve_backend
    from compvqc.runs.select import select_ratio

    src = load_checkpoint(trained)
    backend = resolve_backend("fake_manila")
    config = CompressConfig(admm=ADMMConfig(iterations=3), retrain_epochs=1)
    kw = dict(shots=128, seed=1, progress=False)
    straight, _ = select_ratio(src, backend, [0.25, 0.5], config, **kw)
    root = tmp_path / "run"

    def dying(r):
        if r == 0.5:
            return _DyingManager(root / f"ratio-{r!r}", die_after=2, writer="sync")
        return CheckpointManager(root / f"ratio-{r!r}", writer="sync")

    with pytest.raises(_Killed):
        select_ratio(src, backend, [0.25, 0.5], config, manager_for=dying, **kw)
    found = {}

    class Recording(CheckpointManager):
        def restore(self):
            ck = super().restore()
            found[self.directory.name] = None if ck is None else ck.run["stage"]
            return ck

    resumed, _ = select_ratio(src, backend, [0.25, 0.5], config, resume=True,
                              manager_for=lambda r: Recording(root / f"ratio-{r!r}", writer="sync"), **kw)
    assert found["ratio-0.25"] is not None and found["ratio-0.5"] is not None  # both runs picked up
    assert np.array_equal(resumed.theta, straight.theta)
    assert np.array_equal(resumed.prune_mask, straight.prune_mask) and np.array_equal(resumed.quant_mask,
                                                                                      straight.quant_mask)
    assert resumed.metrics["compression"]["selection"] == straight.metrics["compression"]["selection"]


def test_a_method_registered_here_runs_through_the_cli(trained, tmp_path, capsys):
    """A new method is one ``register`` call: its choices, help, validation and the whole
    compress → finalize → retrain → measure path come from the registry (nothing else edited)."""
    from compvqc.compress.methods import METHODS, Method, lowest, register

    def first_gates(model, theta, data, lut, config):
        """Prune the first ratio·|G| gates that have a pruning level at 0."""
        targets = [lut[g.name].lookup((0.0,) * len(g.params)) for g in model.gates]
        targets = [t if t is not None and t.kind == "prune" else None for t in targets]
        return targets, lowest(np.arange(len(targets), dtype=float), targets, config.ratio)

    register(Method("toy", "ratio", ("prune",), select=first_gates, help="prune the first gates"))
    try:
        out = tmp_path / "toy.ckpt"
        assert main(["compress", str(trained), "--backend", "fake_manila", "--method", "toy", "--ratio", "0.3",
                     "--retrain-epochs", "1", "-o", str(out), "--json"]) == 0
        d = json.loads(capsys.readouterr().out)
        ck = load_checkpoint(out)
        assert d["method"] == "toy" and d["pruned"] == ck.prune_mask.sum() > 0 and d["quantized"] == 0
        assert np.flatnonzero(ck.prune_mask).max() < round(0.3 * len(ck.model.gates)) and ck.run["method"] == "toy"
        with pytest.raises(SystemExit):
            main(["compress", "--help"])
        assert "toy: prune the first gates" in " ".join(capsys.readouterr().out.split())
    finally:
        METHODS.pop("toy")


def test_admm_state_carries_everything_an_update_needs(tmp_path):
    """ADMMState is frozen and complete: the ζ test's previous θ and the projection's mask travel
    in it (and through a checkpoint file), so a fresh ADMM object continues any state exactly."""
    import dataclasses

    from compvqc.checkpoint import Checkpoint, save_checkpoint
    from compvqc.compress.admm import ADMM
    from compvqc.compress.levels import candidate_levels

    model = build_model("2x2_ryz", "random8", 2, arch_seed=2)
    lut = synthetic_lut(lambda name, k: "prune" if k in (0, 16) else "quant" if k % 4 == 0 else "generic",
                        {g.name for g in model.gates})
    targets = [levels[0] if levels else None for levels in candidate_levels(model, lut, ("prune", "quant"))]
    cfg = ADMMConfig(ratio=0.5)
    theta = model.init_params(np.random.default_rng(3))
    s0 = ADMM(model, targets, cfg).init(theta)
    assert s0.mask.shape == (len(model.gates),) and s0.prev_theta.size == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        s0.Z = theta
    s1, r1 = ADMM(model, targets, cfg).update(theta + 0.1, s0)
    assert r1.delta_theta is None and np.array_equal(s1.prev_theta, theta + 0.1) and np.array_equal(s1.mask, r1.mask)
    save_checkpoint(tmp_path / "a.ckpt", Checkpoint(model, theta, admm=s1))
    back = load_checkpoint(tmp_path / "a.ckpt").admm
    a = ADMM(model, targets, cfg).update(theta + 0.25, s1)
    b = ADMM(model, targets, cfg).update(theta + 0.25, back)  # a new object, the state from the file
    assert a[1].delta_theta == b[1].delta_theta == pytest.approx(np.sum(0.15 ** 2 * np.ones_like(theta)))
    for x, y in zip(dataclasses.astuple(a[0]), dataclasses.astuple(b[0])):
        assert np.array_equal(x, y)


@settings(max_examples=60, deadline=None)
@given(st.sets(st.sampled_from([round(0.05 * k, 2) for k in range(1, 20)])), st.floats(0.0, 5.0))
def test_a_budget_search_keeps_the_deepest_ratio_within_the_budget(inside, budget):
    """Whatever set of ratios is within the budget (not only a prefix: drops are not monotone in
    the ratio), the search keeps the largest of them when it is in the coarse tenths or just above
    one that is, tries at most 10, and keeps the smallest bound when none is within."""
    from compvqc.runs.select import SEARCH, Candidate, best, search

    def candidate(r):
        return Candidate(r, 0.9, 0.9, int(100 * (1 - r)), 0.0, 0.5 * budget if r in inside else budget + 1.0)

    tried = search(candidate, budget)
    assert len(tried) <= 10 and [c.ratio for c in tried] == sorted(c.ratio for c in tried)
    assert {c.ratio for c in tried} <= set(SEARCH)
    chosen, within = best(tried, budget)
    tenths = [r for r in SEARCH[1::2] if r in inside]
    assert within == bool(tenths or SEARCH[0] in inside)  # the finest ratio is tried when no tenth is within
    if tenths:
        top = max(tenths)
        assert chosen.ratio == (round(top + 0.05, 2) if round(top + 0.05, 2) in inside else top)


def test_cli_compress_with_a_budget_alone_searches(trained, tmp_path, capsys):
    from compvqc.runs.select import SEARCH

    out = tmp_path / "b.ckpt"
    assert main(["compress", str(trained), "--backend", "fake_manila", "--budget", "2", "--iters", "1",
                 "--retrain-epochs", "0", "--no-noise", "-o", str(out), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    sel = d["selection"]
    assert sel["searched"] is True and sel["budget"] == 2 and 1 <= len(sel["candidates"]) <= 10
    assert {c["ratio"] for c in sel["candidates"]} <= set(SEARCH) and d["ratio"] in {c["ratio"] for c in sel["candidates"]}
    within = [c for c in sel["candidates"] if c["drop_upper"] <= 2]
    if within:
        assert d["ratio"] == min(within, key=lambda c: (c["tcd"], -c["ratio"]))["ratio"]
    assert load_checkpoint(out).metrics["compression"]["selection"] == sel


def test_a_checkpoint_finds_its_data_where_it_was_trained(data_dir, tmp_path, monkeypatch, capsys):
    """The README's `compvqc compress mnist2.ckpt --backend fake_manila` works without --data-dir:
    the IDX folder recorded in the checkpoint is used when neither --data-dir nor COMPVQC_DATA
    names one; a recorded folder that is gone is one clear line."""
    monkeypatch.delenv("COMPVQC_DATA", raising=False)
    ckpt = tmp_path / "mnist2.ckpt"
    assert main(["train", "--dataset", "mnist2", "--arch", "random22", "--epochs", "1", "--max-train", "200",
                 "--data-dir", str(data_dir), "-o", str(ckpt)]) == 0
    capsys.readouterr()
    out = tmp_path / "c.ckpt"
    assert main(["compress", str(ckpt), "--backend", "fake_manila", "--ratio", "0.3", "--iters", "1",
                 "--retrain-epochs", "0", "-o", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["compressed"]["tcd"] > 0
    ck = load_checkpoint(ckpt)
    moved = tmp_path / "moved.ckpt"
    from compvqc.checkpoint import save_checkpoint

    save_checkpoint(moved, replace(ck, dataset={**ck.dataset, "data_dir": str(tmp_path / "gone")}))
    assert main(["compress", str(moved), "--backend", "fake_manila", "--ratio", "0.3", "-o", str(tmp_path / "d.ckpt")]) == 1
    err = capsys.readouterr().err
    assert "--data-dir" in err and err.strip().count("\n") == 0


def test_the_readme_compress_and_evaluate_commands_run_as_written(data_dir, tmp_path, monkeypatch, capsys):
    """After `train ... -o mnist2.ckpt`, the README's two lines run exactly as written (no --data-dir)."""
    monkeypatch.delenv("COMPVQC_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--dataset", "mnist2", "--arch", "random22", "--epochs", "1", "--max-train", "200",
                 "--data-dir", str(data_dir), "-o", "mnist2.ckpt"]) == 0
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for line in ("compvqc compress mnist2.ckpt --backend fake_manila --ratio 0.5",
                 "compvqc evaluate mnist2.fake_manila.compvqc.ckpt --backend fake_manila"):
        assert line in readme
        assert main(line.split()[1:]) == 0, capsys.readouterr().err
    assert "accuracy" in capsys.readouterr().out
