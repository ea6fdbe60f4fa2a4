"""SIGTERM/SIGINT anywhere in a command: exit 128+signal, one line, no temporary, queued saves kept.

Every test puts the signal at a chosen moment with tests/signal_harness.py, which tells the test
(through a pipe) when the process is there: nothing waits for a guessed duration.
"""

import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

from compvqc.checkpoint import CheckpointManager, load_checkpoint
from compvqc.cli.main import main
from compvqc.signals import catches
from tests.checkpoint_helpers import full_checkpoint, start_at, temporaries

TRAIN = ["train", "--dataset", "syn4", "--arch", "random14", "--epochs", "30", "--n-samples", "600",
         "--batch-size", "8", "--seed", "3"]
STEPS_PER_EPOCH = 61  # 486 training samples (600 minus test and validation), batches of 8


def _finish(proc, signum):
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, err.decode()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_the_final_flush_still_writes_the_queued_checkpoints(tmp_path, signum):
    run_dir, out = tmp_path / "run", tmp_path / "out.ckpt"
    proc, _ = start_at("flush", [*TRAIN, "-o", out, "--checkpoint-dir", run_dir, "--save-every-steps", "5"])
    code, err = _finish(proc, signum)
    assert code == 128 + signum, err
    assert err.count("\n") == 1 and "interrupted by signal" in err and "resume" in err, err
    assert temporaries(tmp_path) == []
    assert not out.exists()  # stopped before the output: the run is not done
    last = load_checkpoint(run_dir / (run_dir / "latest").read_text().strip())
    assert last.run["epoch"] == 30 and last.run["step"] == 30 * STEPS_PER_EPOCH  # the last save was written


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_the_output_write_leaves_no_temporary(tmp_path, signum):
    out = tmp_path / "out.ckpt"
    proc, _ = start_at("output", [*TRAIN, "--epochs", "2", "-o", out])
    code, err = _finish(proc, signum)
    assert code == 128 + signum, err
    assert err == f"compvqc: interrupted by {signal.Signals(signum).name}\n"
    assert temporaries(tmp_path) == []
    assert load_checkpoint(out).run["stage"] == "trained"  # the write it was in finished whole


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("trained") / "m.ckpt"
    assert main([*TRAIN, "--epochs", "2", "-o", str(path)]) == 0
    return path


@pytest.mark.parametrize("moment, args", [
    ("call:compvqc.runs.compress:compress", ["compress", "{ckpt}", "--backend", "fake_manila", "--iters", "1",
                                                 "--retrain-epochs", "1", "-o", "{tmp}/c.ckpt"]),
    ("call:compvqc.deploy:evaluate", ["evaluate", "{ckpt}", "--backend", "fake_manila", "--samples", "4",
                                      "--save-mapping", "-o", "{tmp}/e.ckpt"]),
    ("call:compvqc.runs.train:fit", ["demo", "--epochs", "1", "--ratio", "0.5", "--output-dir", "{tmp}/demo"]),
    ("call:compvqc.bench.harness:run_point", ["bench", "pareto", "--dataset", "digits2", "--methods", "prune,zero",
                                              "--ratios", "0.5", "--seeds", "1", "--quick", "--workers", "1",
                                              "-o", "{tmp}/bench"]),
    # two worker processes busy when the signal lands: the pool is stopped, one line all the same
    ("call:compvqc.bench.harness:record", ["bench", "pareto", "--dataset", "digits2", "--methods", "prune,zero",
                                           "--ratios", "0.3,0.5,0.7", "--seeds", "2", "--quick", "--workers", "2",
                                           "-o", "{tmp}/bench"]),
])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_compress_evaluate_demo(tmp_path, trained, moment, args, signum):
    args = [a.format(ckpt=trained, tmp=tmp_path) for a in args]
    proc, _ = start_at(moment, args)
    code, err = _finish(proc, signum)
    assert code == 128 + signum, err
    assert err == f"compvqc: interrupted by {signal.Signals(signum).name}\n"
    assert temporaries(tmp_path) == [] and not (tmp_path / "c.ckpt").exists() and not (tmp_path / "e.ckpt").exists()


def test_output_write_of_compress_and_evaluate_is_never_left_half_done(tmp_path, trained):
    for args in (["compress", trained, "--backend", "fake_manila", "--iters", "1", "--retrain-epochs", "1",
                  "-o", tmp_path / "c.ckpt"],
                 ["evaluate", trained, "--backend", "fake_manila", "--samples", "4", "--save-mapping",
                  "-o", tmp_path / "e.ckpt"]):
        proc, _ = start_at("output", args)
        code, err = _finish(proc, signal.SIGTERM)
        assert code == 143 and err == "compvqc: interrupted by SIGTERM\n", err
        assert temporaries(tmp_path) == []
        load_checkpoint(args[-1])  # complete


def test_second_trainer_is_refused_and_the_first_is_untouched(tmp_path):
    run_dir = tmp_path / "run"
    first, pid = start_at("lock", [*TRAIN, "-o", tmp_path / "a.ckpt", "--checkpoint-dir", run_dir],
                          stdin=subprocess.PIPE)
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    second = subprocess.run([sys.executable, "-m", "compvqc", *TRAIN, "--epochs", "5", "-o", str(tmp_path / "b.ckpt"),
                             "--checkpoint-dir", str(run_dir), "--resume"], capture_output=True, text=True)
    assert second.returncode == 1, second.stderr
    assert second.stderr.count("\n") == 1 and f"in use by process {pid}" in second.stderr, second.stderr
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before
    out, err = first.communicate(b"\n", timeout=300)
    assert first.returncode == 0, err
    assert not (tmp_path / "b.ckpt").exists()


def test_a_dead_owners_lock_is_taken_over_once_its_writer_is_gone(tmp_path):
    """The lock file names a dead trainer, but its writer (here: a stand-in) still holds the lock:
    a new manager waits for it to finish, then owns the directory."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys\n"
        f"fd = os.open({str(tmp_path / 'lock')!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        f"os.write(fd, b'{dead.pid}\\n')\n"
        "print('held', flush=True)\n"
        "sys.stdin.readline()\n")], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert holder.stdout.readline() == b"held\n"
    got = []
    waiter = threading.Thread(target=lambda: got.append(CheckpointManager(tmp_path, writer="sync")))
    waiter.start()
    holder.stdin.write(b"\n")  # the writer finishes its last save and exits
    holder.stdin.close()
    holder.wait()
    waiter.join(timeout=120)
    assert got, "the lock was not taken over"
    assert (tmp_path / "lock").read_text() == f"{os.getpid()}\n"
    got[0].close()


def test_writer_child_stops_when_its_trainer_died_during_its_start_up(tmp_path):
    """Saves queued while the child was still importing are not written once the trainer is gone."""
    script = (
        "import sys\n"
        "from compvqc.checkpoint.process_writer import ProcessWriter\n"
        "from tests.checkpoint_helpers import full_checkpoint\n"
        "w = ProcessWriter()\n"
        "print(w._proc.pid, flush=True)\n"
        "sys.stdin.readline()\n"
        "ck = full_checkpoint(with_profile=False)\n"
        f"for i in range(5): w.submit({str(tmp_path)!r} + f'/ckpt-{{i}}.ckpt', ck)\n"
        "print('sent', flush=True)\n"
        "import os; os._exit(0)\n")
    trainer = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               cwd=os.path.dirname(os.path.dirname(__file__)))
    child = int(trainer.stdout.readline())
    os.kill(child, signal.SIGSTOP)  # most likely mid-import; wherever it is, the trainer dies first
    trainer.stdin.write(b"\n")
    trainer.stdin.flush()
    assert trainer.stdout.readline() == b"sent\n"
    trainer.wait()
    os.kill(child, signal.SIGCONT)
    _wait_gone(child)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def _wait_gone(pid: int, timeout: float = 120.0) -> None:
    """Until ``pid`` has exited (an orphan is reaped by init): waits on the kernel's pidfd."""
    import select

    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        assert select.select([fd], [], [], timeout)[0], f"process {pid} did not exit"
    finally:
        os.close(fd)


def test_resume_honours_epochs(tmp_path, capsys):
    run_dir = tmp_path / "run"
    base = [*TRAIN, "--checkpoint-dir", str(run_dir)]
    assert main([*base, "--epochs", "4", "-o", str(tmp_path / "four.ckpt")]) == 0
    capsys.readouterr()
    assert main([*base, "--epochs", "3", "--resume", "-o", str(tmp_path / "three.ckpt")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trained 4 epochs, more than epochs=3" in err, err
    assert not (tmp_path / "three.ckpt").exists()
    assert main([*base, "--epochs", "6", "--resume", "--json", "-o", str(tmp_path / "six.ckpt")]) == 0
    captured = capsys.readouterr()
    import json

    doc = json.loads(captured.out)
    assert doc["epochs"] == 6 and doc["resumed_from"] == 4 * STEPS_PER_EPOCH
    assert f"resumed from step {4 * STEPS_PER_EPOCH}" in captured.err
    assert main([*TRAIN, "--epochs", "6", "-o", str(tmp_path / "straight.ckpt")]) == 0
    assert np.array_equal(load_checkpoint(tmp_path / "six.ckpt").theta, load_checkpoint(tmp_path / "straight.ckpt").theta)


def test_importing_compvqc_keeps_the_callers_signal_handlers():
    code = (
        "import signal, sys\n"
        "mine = lambda s, f: None\n"
        "signal.signal(signal.SIGTERM, mine); signal.signal(signal.SIGINT, mine)\n"
        "import compvqc, compvqc.checkpoint, compvqc.train, compvqc.runs.compress, compvqc.deploy, compvqc.cli.main\n"
        "from compvqc.cli.main import main\n"
        "assert main(['inspect', '/nonexistent.ckpt']) == 1\n"
        "assert signal.getsignal(signal.SIGTERM) is mine and signal.getsignal(signal.SIGINT) is mine\n"
        "print('kept')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout == "kept\n", r.stderr


def test_importing_the_model_stage_loads_neither_onnx_nor_qiskit():
    r = subprocess.run([sys.executable, "-c", "import sys, compvqc.model; "
                        "print(sorted(m for m in ('onnx', 'qiskit') if m in sys.modules))"],
                       capture_output=True, text=True)
    assert r.stdout == "[]\n", r.stderr


def test_deferred_section_redelivers_to_the_previous_handler():
    from compvqc.signals import deferred

    got = []
    previous = signal.signal(signal.SIGTERM, lambda s, f: got.append(("handler", s)))
    try:
        with deferred():
            signal.raise_signal(signal.SIGTERM)
            got.append("inside, after the signal")
        assert got == ["inside, after the signal", ("handler", signal.SIGTERM)]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_save_failure_messages_name_the_write_that_failed(tmp_path, monkeypatch):
    import errno

    import compvqc.checkpoint.io as io

    real = io.atomic_write_bytes

    def full_disk(path, data, **kw):
        if str(path).endswith("index.json"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data, **kw)

    monkeypatch.setattr(io, "atomic_write_bytes", full_disk)
    for writer in ("sync", "thread"):
        d = tmp_path / writer
        m = CheckpointManager(d, writer=writer)
        from compvqc.errors import CheckpointError

        with pytest.raises(CheckpointError) as e:
            m.save(full_checkpoint(with_profile=False), step=20)
            m.flush()
        msg = str(e.value)
        assert "index.json: writing the run index failed (No space left on device)" in msg, msg
        assert "ckpt-000000020.ckpt itself is complete" in msg and "\n" not in msg
        load_checkpoint(d / "ckpt-000000020.ckpt")
        m.close()


def wait_until_unlocked(run_dir, timeout: float = 120.0) -> None:
    """Until no process of the run holds its lock (the writer child of a killed trainer may still
    be finishing a save): polls the lock itself, an event."""
    import fcntl
    import time

    lock = run_dir / "lock"
    if not lock.exists():
        return
    fd = os.open(lock, os.O_RDONLY)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                assert time.monotonic() < deadline, "the run directory stayed locked"
                time.sleep(0.01)
    finally:
        os.close(fd)


@pytest.mark.slow
def test_random_signals_over_the_whole_life(tmp_path, capsys):
    """SIGKILL and SIGTERM at uniformly random times over a run's life (COMPVQC_FULL=1: 100 each;
    CI: 4 each): no death by SIGTERM once the handlers are in, no temporary after a SIGTERM,
    none after any resume, and every resume bit-identical to the uninterrupted run."""
    import json
    import time

    from tests.conftest import FULL

    n = 100 if FULL else 4
    args = [*TRAIN, "--save-every-steps", "7"]
    assert main([*args, "-o", str(tmp_path / "straight.ckpt")]) == 0
    capsys.readouterr()
    reference = load_checkpoint(tmp_path / "straight.ckpt").theta
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "compvqc", *args, "-o", str(tmp_path / "timed.ckpt"), "--checkpoint-dir",
                    str(tmp_path / "timed")], check=True, capture_output=True)
    life = time.monotonic() - start
    rng = np.random.default_rng(2026)
    counts = {"SIGTERM": {}, "SIGKILL": {}}
    for trial, signum in enumerate([signal.SIGTERM, signal.SIGKILL] * n):
        d = tmp_path / f"t{trial}"
        d.mkdir()
        run_dir, out = d / "run", d / "out.ckpt"
        cmd = [*args, "-o", str(out), "--checkpoint-dir", str(run_dir)]
        delay = rng.uniform(0, 1.1 * life)
        proc = subprocess.Popen([sys.executable, "-m", "compvqc", *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(delay)  # the random moment itself (the input of this test, not a wait for anything)
        caught = catches(proc.pid)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=300)
        wait_until_unlocked(run_dir)
        name = signal.Signals(signum).name
        if proc.returncode == 0:
            outcome = "finished"
        elif proc.returncode == -signal.SIGTERM and not caught:
            outcome = "died in the start-up window"
        else:
            outcome = {128 + signal.SIGTERM: "stopped cleanly", -signal.SIGKILL: "killed"}.get(
                proc.returncode, f"exit {proc.returncode}")
        counts[name][outcome] = counts[name].get(outcome, 0) + 1
        assert outcome in ("finished", "died in the start-up window", "stopped cleanly", "killed"), (
            name, delay, proc.returncode, err.decode())
        if signum == signal.SIGTERM:
            assert temporaries(d) == [], (delay, err.decode())
            if outcome == "stopped cleanly":
                assert err.decode().count("\n") == 1, err.decode()
        else:
            left = len(temporaries(d))
            counts[name]["temporaries left by SIGKILL"] = counts[name].get("temporaries left by SIGKILL", 0) + left
        if outcome != "finished":
            again = [*cmd, "--resume"] if run_dir.exists() else cmd
            if out.exists():  # killed after its (atomic) output was written: the rerun replaces it
                counts[name]["killed after writing"] = counts[name].get("killed after writing", 0) + 1
                again = [*again, "--force"]
            assert main(again) == 0, capsys.readouterr().err
            capsys.readouterr()
        assert temporaries(d) == []
        assert np.array_equal(load_checkpoint(out).theta, reference), (name, delay)
    print(json.dumps({"life_seconds": round(life, 2), "trials_per_signal": n, **counts}))
