"""On-chip training: parameter shift with shots on a backend, the journal, retries, PGP, freezing,
resume (also on another device) and the automatic save interval."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from compvqc.errors import BackendFailure, TrainingError, TransientJobError
from compvqc.model.circuit import VQC
from compvqc.model.gates import GATE_TYPES
from compvqc.model.ops import Encode, Fixed, Gate
from compvqc.model.readout import default_readout
from compvqc.onchip import PGP, FlakyRunner, Freeze, Retry, RuntimeRunner, Selection, device_gradient, shot_seed

NO_WAIT = Retry(base=0.0, sleep=lambda s: None)


def every_gate_model():
    """Four qubits, every trainable gate type once, plus a weight shared by two scaled gates."""
    ops = [Encode("ry", q, q) for q in range(4)] + [Fixed("h", (0,)), Fixed("cx", (0, 1))]
    p = 0
    for i, (name, gt) in enumerate(GATE_TYPES.items()):
        wires = (i % 4,) if gt.n_wires == 1 else (i % 4, (i + 1) % 4)
        ops.append(Gate(name, wires, tuple(range(p, p + gt.n_params))))
        p += gt.n_params
    ops += [Gate("rx", (2,), (0,), (2.0,), (0.3,)), Gate("crz", (3, 1), (0,), (-0.5,))]
    return VQC(4, 4, tuple(ops), default_readout(4, 2))


@pytest.fixture(scope="module")
def model_and_batch():
    m = every_gate_model()
    rng = np.random.default_rng(1)
    return m, m.init_params(rng), rng.uniform(0, np.pi, (3, 4)), np.array([0, 1, 1])


@pytest.fixture(scope="module")
def exact_gradient(model_and_batch):
    m, *_ = model_and_batch
    return device_gradient(m, "fake_manila", shots=0, seed=0, per_epoch=1, noise=False)


def test_infinite_shot_limit_equals_the_exact_gradient_for_every_gate_type(model_and_batch, exact_gradient):
    m, theta, x, y = model_and_batch
    assert {g.name for g in m.gates} == set(GATE_TYPES)
    loss, grad, skipped = exact_gradient(theta, x, y, step=0)
    ref_loss, ref = m.loss_and_grad(theta, x, y)
    assert not skipped.any()
    assert abs(loss - ref_loss) < 1e-10
    np.testing.assert_allclose(grad, ref, atol=1e-8, rtol=0)


def test_finite_shots_agree_within_shot_noise(model_and_batch, exact_gradient):
    """K independent estimates (derived seeds of K steps) against the exact gradient: a t-test per
    parameter, Bonferroni over the parameters, false-alarm rate 1e-3 for the whole test."""
    m, theta, x, y = model_and_batch
    _, ref = m.loss_and_grad(theta, x, y)
    g = device_gradient(m, "fake_manila", shots=4096, seed=3, per_epoch=1, noise=False)
    K = 12
    est = np.array([g(theta, x, y, step=k)[1] for k in range(K)])
    se = est.std(axis=0, ddof=1) / np.sqrt(K)
    t = (est.mean(axis=0) - ref) / np.maximum(se, 1e-12)
    alpha = 1e-3 / len(ref)
    assert np.all(np.abs(t) < stats.t.ppf(1 - alpha / 2, K - 1)), t
    assert np.all(se > 0) and np.max(se) < 0.05  # the shots are really there, and there are many


def test_density_engine_and_aer_draw_the_same_law_on_the_training_circuit():
    """Shifted-angle bindings of one step, noisy fake_manila, density engine vs Aer: a two-sample
    chi-square test per binding, Bonferroni, false-alarm rate 1e-3."""
    from compvqc.model import build_model
    from compvqc.onchip import LocalRunner

    m = build_model("2x2_ryz", "random12", 2)
    g = device_gradient(m, "fake_manila", shots=2048, seed=0, per_epoch=1)
    rng = np.random.default_rng(0)
    theta = m.init_params(rng)
    angles = g._angles(theta)
    rows = np.vstack([g.deployment.values(g.expanded, rng.uniform(0, np.pi, (1, 4)), angles + s)
                      for s in (0.0, np.pi / 2, -np.pi / 2, 1.0)])
    dens = LocalRunner(g.deployment, "fake_manila", engine="density").submit(rows, 4096, 1).result()
    aer = LocalRunner(g.deployment, "fake_manila", engine="aer").submit(rows, 4096, 2).result()
    alpha = 1e-3 / len(rows)
    for a, b in zip(dens, aer):
        keep = (a + b) > 0
        _, p, _, _ = stats.chi2_contingency(np.vstack([a[keep], b[keep]]))
        assert p > alpha


def test_shot_seeds_are_derived_not_streamed():
    assert shot_seed(1, 2, 3) == shot_seed(1, 2, 3)
    assert len({shot_seed(1, s, b) for s in range(30) for b in range(4)}) == 120
    assert shot_seed(1, 2, 3) != shot_seed(2, 2, 3)


class Counting:
    """A runner wrapper that counts submissions."""

    def __init__(self, runner):
        self.runner, self.name, self.calibration_date, self.calls = runner, runner.name, runner.calibration_date, 0

    def submit(self, values, shots, seed):
        self.calls += 1
        return self.runner.submit(values, shots, seed)

    def attach(self, job_id):
        return None


def small_gradient(tmp_path=None, shots=256, **kw):
    from compvqc.model import build_model

    m = build_model("2x2_ryz", "random12", 2)
    g = device_gradient(m, "fake_manila", shots=shots, seed=5, per_epoch=4,
                        journal_dir=None if tmp_path is None else tmp_path / "journal", retry=NO_WAIT,
                        max_bindings=40, **kw)
    rng = np.random.default_rng(2)
    return m, g, m.init_params(rng), rng.uniform(0, np.pi, (4, 4)), np.array([0, 1, 0, 1])


def test_journal_replays_recorded_batches_and_reruns_changed_ones(tmp_path):
    m, g, theta, x, y = small_gradient(tmp_path)
    first = g(theta, x, y, step=0)
    assert g.journal.tally.run > 1  # several batches (max_bindings=40)
    _, g2, *_ = small_gradient(tmp_path)
    g2.runner = Counting(g2.runner)
    again = g2(theta, x, y, step=0)
    assert g2.runner.calls == 0 and g2.journal.tally.replayed == g.journal.tally.run
    np.testing.assert_array_equal(first[1], again[1])
    g2(theta + 0.1, x, y, step=0)  # other parameters, same step: the hash differs, so it runs
    assert g2.runner.calls == g.journal.tally.run


def test_a_torn_journal_entry_is_run_again(tmp_path):
    m, g, theta, x, y = small_gradient(tmp_path)
    first = g(theta, x, y, step=0)
    entry = sorted((tmp_path / "journal").glob("s*.npz"))[0]
    entry.write_bytes(entry.read_bytes()[:50])
    _, g2, *_ = small_gradient(tmp_path)
    g2.runner = Counting(g2.runner)
    np.testing.assert_array_equal(g2(theta, x, y, step=0)[1], first[1])
    assert g2.runner.calls == 1


def test_transient_failures_are_retried_and_draw_the_same_shots():
    m, g, theta, x, y = small_gradient()
    clean = g(theta, x, y, step=3)
    _, g2, *_ = small_gradient()
    g2.runner = FlakyRunner(g2.runner, 0.5, seed=1)
    flaky = g2(theta, x, y, step=3)
    assert g2.runner.failures > 0 and g2.executions.retries == g2.runner.failures
    np.testing.assert_array_equal(clean[1], flaky[1])


def test_persistent_failure_is_one_clear_error():
    class Down:
        name, calibration_date = "fake_manila", None

        def submit(self, *a):
            raise TransientJobError("the queue is closed")

        def attach(self, job_id):
            return None

    waits = []
    m, g, theta, x, y = small_gradient()
    g.runner, g.retry = Down(), Retry(attempts=3, base=0.5, cap=1.0, sleep=waits.append)
    with pytest.raises(BackendFailure, match="step 0, batch 0 failed 4 times .*queue is closed"):
        g(theta, x, y, step=0)
    assert waits == [0.5, 1.0, 1.0]


class StandInService:
    """A runtime service and Sampler with job ids (no network here): jobs sample the density
    engine's law, and ``job(id)`` finds a job submitted earlier."""

    def __init__(self, deployment):
        from compvqc.deploy.executors import _density_program

        self.program = _density_program(deployment, "fake_manila", True, None)
        self.jobs, self.runs, self.lookups = {}, 0, 0
        self.options = SimpleNamespace(simulator=SimpleNamespace(seed_simulator=0))

    def run(self, pubs, shots):
        from qiskit.primitives.containers import BitArray

        from compvqc.deploy import density

        (circuit, values), = pubs
        probs = density.probabilities(self.program, values)
        rng = np.random.default_rng(self.options.simulator.seed_simulator)
        outcomes = np.array([rng.choice(len(p), size=shots, p=p) for p in probs], dtype=np.uint8)
        bits = BitArray(outcomes[..., None], num_bits=circuit.num_clbits)
        job_id = f"job-{len(self.jobs)}"
        job = SimpleNamespace(job_id=lambda: job_id,
                              result=lambda: [SimpleNamespace(data=SimpleNamespace(c=bits))])
        self.jobs[job_id] = job
        self.runs += 1
        return job

    def job(self, job_id):
        self.lookups += 1
        return self.jobs[job_id]


def test_a_resumed_run_reattaches_to_a_recorded_job_id(tmp_path):
    m, g, theta, x, y = small_gradient(tmp_path)
    service = StandInService(g.deployment)
    g.runner = RuntimeRunner(g.deployment, "fake_manila", sampler=service, service=service)
    first = g(theta, x, y, step=0)
    n_jobs = service.runs
    log = [json.loads(line) for line in (tmp_path / "journal" / "log.jsonl").read_text().splitlines()]
    assert sum(r["event"] == "job" for r in log) == n_jobs
    for p in (tmp_path / "journal").glob("s*.npz"):  # killed after the submissions, before any result landed
        p.unlink()
    _, g2, *_ = small_gradient(tmp_path)
    g2.runner = RuntimeRunner(g2.deployment, "fake_manila", sampler=service, service=service)
    again = g2(theta, x, y, step=0)
    assert service.runs == n_jobs and service.lookups == n_jobs and g2.journal.tally.attached == n_jobs
    np.testing.assert_array_equal(first[1], again[1])


def test_pgp_windows_ratio_and_both_modes():
    pgp = PGP(0.5, 1, 2)
    assert pgp.saved_fraction == pytest.approx(1 / 3)
    sel = Selection(10, per_epoch=100, seed=0, pgp=pgp)
    assert sel.active(0).all()
    sel.observe(0, np.arange(10.0), np.ones(10, bool))
    masks = [sel.active(t) for t in (1, 2)]
    assert all(mk.sum() == 5 for mk in masks)
    det = Selection(10, per_epoch=100, seed=0, pgp=PGP(0.5, 1, 2, "deterministic"))
    det.active(0)
    det.observe(0, np.arange(10.0), np.ones(10, bool))
    assert set(np.flatnonzero(det.active(1))) == {5, 6, 7, 8, 9}
    assert sel.active(3).all()  # a new stage accumulates again
    # probabilistic: over many draws, frequency follows the accumulated magnitude
    counts = np.zeros(10)
    for t in range(300):
        counts += sel.active(3 * t + 1)
    assert counts[9] > counts[5] > counts[1] and counts[0] < 5
    with pytest.raises(TrainingError):
        PGP.parse("r=1.5")
    assert PGP.parse("r=0.3,wp=3") == PGP(0.3, 1, 3)


def test_freezing_picks_the_smallest_recent_gradients_and_round_trips():
    sel = Selection(8, per_epoch=2, seed=0, freeze=Freeze(0.25, 1))
    for step in (0, 1):
        mask = sel.active(step)
        sel.observe(step, np.array([5, 1, 4, 0.5, 3, 2, 6, 7.0]), mask)
    assert set(np.flatnonzero(~sel.active(2))) == {1, 3}
    state = json.loads(json.dumps(sel.state_dict()))
    again = Selection(8, per_epoch=2, seed=0, freeze=Freeze(0.25, 1))
    again.load_state(state)
    np.testing.assert_array_equal(again.active(3), sel.active(3))
    assert state["gradient_history"][0][1] == 1.0
    assert Freeze.parse("0.25@5") == Freeze(0.25, 5)
    with pytest.raises(TrainingError):
        Freeze.parse("x@y")


def test_executions_saved_are_counted(tmp_path):
    m, g, theta, x, y = small_gradient(pgp=PGP(0.5, 1, 2))
    for step in range(3):
        g(theta, x, y, step=step)
    e = g.executions
    assert e.full == e.saved_pgp + e.saved_freeze + g.journal.tally.bindings_run
    assert e.saved_pgp > 0 and e.saved_freeze == 0


# --- runs: resume bit for bit, failures, devices, save policy -------------------------------------

def _config(**kw):
    from compvqc.train import TrainConfig

    base = dict(dataset="digits2-2x2", arch="random12", encoder="2x2_ryz", epochs=2, max_train=24, batch_size=8,
                device="fake_manila", shots=128, gradient="parameter-shift", pgp="r=0.5,wa=1,wp=2", freeze="0.25@1")
    return TrainConfig(**{**base, **kw})


def _train(tmp_path, name, config, *, stop_at=None, resume=False, wrap=None, auto=None):
    from compvqc.checkpoint import CheckpointManager
    from compvqc.runs.train import train_on_dataset

    manager = CheckpointManager(tmp_path / name, every_steps=1, writer="sync", auto=auto, log=lambda m: None)
    cb = (lambda e: False if e.kind == "step" and e.step == stop_at else None) if stop_at else None
    try:
        return train_on_dataset(config, manager=manager, resume=resume, progress=False, callback=cb,
                                runner_wrap=wrap, retry=NO_WAIT)
    finally:
        manager.close()


@pytest.mark.parametrize("settings", [{}, {"shots": 0, "noise": False}], ids=["shots", "noise-free"])
def test_stopped_and_flaky_runs_end_bit_identical_to_an_uninterrupted_one(tmp_path, settings):
    config = _config(**settings)
    ref = _train(tmp_path, "ref", config)
    _train(tmp_path, "cut", config, stop_at=2)
    again = _train(tmp_path, "cut", config, resume=True, wrap=lambda r: FlakyRunner(r, 0.2, seed=4))
    assert again.result.resumed_from == 1  # the stop came before step 2's save
    np.testing.assert_array_equal(ref.result.theta, again.result.theta)
    assert again.result.onchip["executions"]["retries"] > 0
    assert again.result.onchip["selection"] == ref.result.onchip["selection"]


def test_a_backend_that_keeps_failing_leaves_a_final_checkpoint(tmp_path):
    from compvqc.checkpoint import load_checkpoint

    calls = {"n": 0}

    class DiesAfterThree:
        def __init__(self, runner):
            self.runner, self.name, self.calibration_date = runner, runner.name, runner.calibration_date

        def submit(self, values, shots, seed):
            calls["n"] += 1
            if calls["n"] > 3:
                raise TransientJobError("device offline")
            return self.runner.submit(values, shots, seed)

        def attach(self, job_id):
            return None

    with pytest.raises(BackendFailure, match="device offline.*saved .*resume the run"):
        _train(tmp_path, "dies", _config(), wrap=DiesAfterThree)
    ckpt = load_checkpoint(tmp_path / "dies" / (tmp_path / "dies" / "latest").read_text().strip())
    assert ckpt.run["step"] >= 1 and ckpt.shots == 128 and ckpt.hardware_profile["backend"] == "fake_manila"


def test_resume_on_another_device_prints_the_differences_and_records_the_move(tmp_path):
    from compvqc.checkpoint import CheckpointManager
    from compvqc.runs.train import train_on_dataset

    _train(tmp_path, "move", _config(), stop_at=2)
    said = []
    manager = CheckpointManager(tmp_path / "move", every_steps=1, writer="sync", log=said.append)
    try:
        moved = train_on_dataset(_config(device="fake_lagos"), manager=manager, resume=True, progress=False,
                                 retry=NO_WAIT)
    finally:
        manager.close()
    text = "\n".join(said)
    assert "moves from fake_manila to fake_lagos at step 1" in text and "calibrated" in text
    assert moved.result.onchip["devices"] == [{"backend": "fake_manila", "from_step": 0},
                                              {"backend": "fake_lagos", "from_step": 1}]


def test_auto_save_policy_follows_young_daly_and_counts_failures(tmp_path):
    from compvqc.checkpoint.policy import AutoInterval

    a = AutoInterval(prior_mtbf=100.0)
    assert a.interval(0.0) == 0.0  # no save measured yet: save now
    a.observe_save(0.02)
    assert a.interval(0.0) == pytest.approx(np.sqrt(2 * 0.02 * 100.0))
    b = AutoInterval.resumed({"failures": 1, "wall_seconds": 50.0, "saves": 3}, 100.0, failed=True)
    assert b.failures == 2 and b.mtbf(10.0) == pytest.approx((50 + 10 + 100) / 3)
    _train(tmp_path, "auto", _config(), stop_at=2, auto=AutoInterval(prior_mtbf=1e-3))
    done = _train(tmp_path, "auto", _config(), resume=True, auto=AutoInterval(prior_mtbf=1e-3))
    policy = done.result.save_policy
    assert policy["failures"] == 1 and policy["saves"] >= 2 and policy["interval"] > 0


def test_on_chip_settings_are_checked_first():
    with pytest.raises(TrainingError, match="cannot run on a device"):
        _config(gradient="adjoint")
    with pytest.raises(TrainingError, match="need a device"):
        _config(device=None)
    with pytest.raises(TrainingError, match="only without noise"):
        _config(shots=0)


# --- SIGKILL at random points of an on-chip run, through the real CLI ------------------------------

ONCHIP_ARGS = ["--dataset", "digits2-2x2", "--arch", "random12", "--encoder", "2x2_ryz", "--epochs", "3",
               "--max-train", "24", "--batch-size", "8", "--backend", "fake_manila", "--shots", "128",
               "--pgp", "r=0.5,wa=1,wp=2", "--freeze", "0.25@1", "--save-every-steps", "2",
               "--inject-failures", "0.2", "--retry-backoff", "0.001", "--force", "--json"]


def _cli(*args):
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-m", "compvqc", "train", *ONCHIP_ARGS, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _done_lines(run_dir) -> int:
    try:
        return sum('"event": "done"' in line for line in (run_dir / "journal" / "log.jsonl").read_text().splitlines())
    except OSError:
        return 0


def test_sigkill_at_random_points_then_resume_ends_bit_identical_and_reruns_only_in_flight_batches(tmp_path):
    import signal
    import time

    from compvqc.checkpoint import load_checkpoint
    from tests.test_signals import wait_until_unlocked

    ref = _cli("-o", str(tmp_path / "ref.ckpt"))
    assert ref.wait() == 0, ref.stderr.read()
    run, out = tmp_path / "run", tmp_path / "out.ckpt"
    rng = np.random.default_rng(17)
    kills = 0
    for _ in range(3):  # each kill lands after a random number of newly completed batches
        before, wait_for = _done_lines(run), int(rng.integers(1, 3))
        proc = _cli("-o", str(out), "--checkpoint-dir", str(run), "--resume")
        deadline = time.monotonic() + 300
        while _done_lines(run) < before + wait_for and proc.poll() is None:
            assert time.monotonic() < deadline, "the run recorded no batch"
            time.sleep(0.005)  # polls the journal: an event, not a duration
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        wait_until_unlocked(run)
    final = _cli("-o", str(out), "--checkpoint-dir", str(run), "--resume")
    assert final.wait() == 0, final.stderr.read()
    assert kills >= 2
    np.testing.assert_array_equal(load_checkpoint(out).theta, load_checkpoint(tmp_path / "ref.ckpt").theta)
    log = [json.loads(line) for line in (run / "journal" / "log.jsonl").read_text().splitlines() if line.strip()]
    recorded, reruns = set(), 0
    for rec in log:
        key = (rec["step"], rec["batch"], rec["hash"])
        if rec["event"] == "done":
            recorded.add(key)
        elif rec["event"] == "submit":
            assert key not in recorded, f"batch {key[:2]} was recorded and ran again"
    submits = {}
    for rec in log:
        if rec["event"] == "submit":
            key = (rec["step"], rec["batch"], rec["hash"], rec["pid"])
            submits[key] = submits.get(key, 0) + 1
    by_batch = {}
    for (s, b, h, pid) in submits:
        by_batch.setdefault((s, b, h), set()).add(pid)
    reruns = sum(len(pids) - 1 for pids in by_batch.values())
    assert reruns <= kills  # at most the batch in flight at each kill


def test_a_simulator_run_continues_on_a_device(tmp_path):
    sim = _config(device=None, shots=0, pgp=None, freeze=None)  # exact parameter shift on the simulator
    _train(tmp_path, "sim", sim, stop_at=2)
    on = _train(tmp_path, "sim", _config(pgp=None, freeze=None), resume=True)
    assert on.result.resumed_from == 1
    assert on.result.onchip["devices"] == [{"backend": "simulator", "from_step": 0},
                                           {"backend": "fake_manila", "from_step": 1}]
