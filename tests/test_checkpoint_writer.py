"""Background checkpoint writers: the thread (AsyncWriter) and the child process (ProcessWriter)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compvqc.checkpoint import AsyncWriter, CheckpointError, ProcessWriter, load_checkpoint, save_checkpoint
from compvqc.checkpoint.container import encode
from compvqc.checkpoint.process_writer import pack_save, read_frame, unpack_save
from tests.checkpoint_helpers import full_checkpoint

WRITERS = [AsyncWriter, ProcessWriter]


@pytest.mark.parametrize("make", WRITERS)
def test_writer_copies_synchronously_and_writes_save_checkpoints_bytes(make, tmp_path):
    c = full_checkpoint()
    save_checkpoint(tmp_path / "ref.ckpt", c)
    with make() as w:
        w.submit(tmp_path / "a.ckpt", c)
        c.theta += 100.0  # the caller keeps training
        c.optimizer_state["mu"][:] = 0.0
        c.run["epoch"] = 99
    assert (tmp_path / "a.ckpt").read_bytes() == (tmp_path / "ref.ckpt").read_bytes()


@pytest.mark.parametrize("make", WRITERS)
def test_writer_errors_surface_on_next_call_and_close(make, tmp_path):
    c = full_checkpoint(with_profile=False)
    w = make()
    w.submit(tmp_path / "missing-dir" / "a.ckpt", c)
    with pytest.raises(CheckpointError, match="missing-dir"):
        w.flush()
    w.submit(tmp_path / "b.ckpt", c)  # the writer goes on after an error
    w.submit(tmp_path / "missing-dir" / "c.ckpt", c)
    with pytest.raises(CheckpointError, match="c.ckpt"):
        w.close()
    assert load_checkpoint(tmp_path / "b.ckpt").model == c.model
    with pytest.raises(CheckpointError, match="closed"):
        w.submit(tmp_path / "d.ckpt", c)


@pytest.mark.parametrize("make", WRITERS)
def test_writer_runs_the_file_steps_after_the_save(make, tmp_path):
    c = full_checkpoint(with_profile=False)
    (tmp_path / "old.ckpt").write_bytes(b"old")
    then = {"write": [[str(tmp_path / "latest"), "a.ckpt\n"]], "unlink": [str(tmp_path / "old.ckpt")]}
    with make() as w:
        w.submit(tmp_path / "a.ckpt", c, then=then)
    assert (tmp_path / "latest").read_text() == "a.ckpt\n" and not (tmp_path / "old.ckpt").exists()
    # a failed save skips its steps: `latest` never names a file that was not written
    with pytest.raises(CheckpointError):
        with make() as w:
            w.submit(tmp_path / "nope" / "b.ckpt", c, then={"write": [[str(tmp_path / "latest"), "b.ckpt\n"]]})
    assert (tmp_path / "latest").read_text() == "a.ckpt\n"


_PROFILED = full_checkpoint()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(0, 4), with_model=st.booleans())
def test_frames_round_trip_every_field(seed, steps, with_model):
    c = _PROFILED.copy()
    rng = np.random.default_rng(seed)
    c.theta = rng.normal(size=c.theta.shape)
    c.gradient_history = rng.normal(size=(steps, c.model.n_params))
    c.run["loss"] = float(rng.normal())
    c.metrics["per_epoch"] = {int(k): float(rng.normal()) for k in rng.integers(0, 20, 5)}  # int keys
    r, w = os.pipe()
    frame = pack_save("/x/y.ckpt", c, seq=3, model=c.model.to_dict() if with_model else None)
    os.write(w, frame)
    os.close(w)
    header, payload = read_frame(r)
    assert read_frame(r) is None  # end of input
    os.close(r)
    assert header["path"] == "/x/y.ckpt" and header["seq"] == 3 and (header["model"] is not None) == with_model
    back, texts = unpack_save(header, payload, c.model)
    assert encode(back, doc_texts=texts) == encode(c)  # the bytes save_checkpoint writes


def test_frames_refuse_object_arrays_and_bad_documents():
    c = full_checkpoint(with_profile=False)
    c.optimizer_state["mu"] = np.array([object()] * c.model.n_params)
    with pytest.raises(CheckpointError, match="dtype"):
        pack_save("/x.ckpt", c, seq=1, model=None)
    c = full_checkpoint(with_profile=False)
    c.metrics = {1: "a", "b": 2}  # keys that cannot be sorted: refused in the caller, as by save_checkpoint
    with pytest.raises(CheckpointError, match="metrics"):
        pack_save("/x.ckpt", c, seq=1, model=None)
    with pytest.raises(CheckpointError, match="metrics"):
        encode(c)


def test_a_torn_frame_is_reported_never_read_as_a_whole_one():
    c = full_checkpoint(with_profile=False)
    frame = pack_save("/x.ckpt", c, seq=1, model=None)
    r, w = os.pipe()
    os.write(w, frame[:-16] + frame)  # a frame cut short, then a whole one
    os.close(w)
    with pytest.raises(CheckpointError, match="corrupt frame"):
        read_frame(r)  # the first frame's tail is the second's head: the checksum says so
    os.close(r)


def test_a_dead_writer_process_is_one_clear_error(tmp_path):
    c = full_checkpoint(with_profile=False)
    w = ProcessWriter()
    w.submit(tmp_path / "a.ckpt", c)
    w.flush()
    w._proc.kill()
    w._proc.wait()
    with pytest.raises(CheckpointError, match="writer process"):
        for _ in range(3):  # the broken pipe shows on the first write after the death
            w.submit(tmp_path / "b.ckpt", c)
            w.flush()
    with pytest.raises(CheckpointError, match="writer process"):
        w.close()


def test_the_writer_process_ignores_sigint_and_the_trainer_decides(tmp_path):
    c = full_checkpoint(with_profile=False)
    w = ProcessWriter()
    w.flush()  # started, handlers installed
    os.kill(w._proc.pid, signal.SIGINT)
    os.kill(w._proc.pid, signal.SIGTERM)
    w.submit(tmp_path / "a.ckpt", c)
    w.close()
    assert load_checkpoint(tmp_path / "a.ckpt").model == c.model


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as f:  # a zombie awaiting its (dead) parent's reap counts as gone
        return f.read().split(")")[-1].split()[0] == "Z"


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc to see the orphan's state")
def test_the_writer_process_ends_when_its_trainer_is_killed(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.getcwd()!r})
        from compvqc.checkpoint import ProcessWriter
        from tests.checkpoint_helpers import full_checkpoint
        w = ProcessWriter()
        w.flush()
        print(w._proc.pid, flush=True)
        c = full_checkpoint(with_profile=False)
        i = 0
        while True:
            w.submit({str(tmp_path)!r} + f"/c{{i % 3}}.ckpt", c)
            i += 1
    """)
    trainer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    child = int(trainer.stdout.readline())
    time.sleep(0.3)
    trainer.kill()  # SIGKILL: no close, no finalizer
    trainer.wait()
    deadline = time.monotonic() + 30
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child)
    for p in tmp_path.glob("c*.ckpt"):  # whatever it finished is whole
        load_checkpoint(p)


def _voluntary_switches(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split(":")[1]) for line in f if line.startswith("voluntary_ctxt_switches"))


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads the child's context switches in /proc")
def test_an_idle_writer_process_sleeps_until_nudged(tmp_path):
    """Between saves the child waits for the trainer's signal, looking at its parent once a
    second — not a timed poll that wakes it tens of times a second through a long epoch."""
    with ProcessWriter() as w:
        w.flush()
        before = _voluntary_switches(w._proc.pid)
        time.sleep(2.0)
        idle = _voluntary_switches(w._proc.pid) - before
        w.submit(tmp_path / "a.ckpt", full_checkpoint(with_profile=False))  # and a nudge still wakes it
        w.flush()
    assert idle <= 4  # two parent checks (and slack); a 20 ms poll would make about 100
    load_checkpoint(tmp_path / "a.ckpt")


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads the child's threads' signal masks in /proc")
def test_every_thread_of_the_writer_process_blocks_the_wake_signal(monkeypatch):
    """A thread that does not block SIGURG (numpy's OpenBLAS workers start at import) may take a
    nudge and drop it, leaving a frame unread for a second: all of them must block it."""
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")  # at least one worker thread in the child
    with ProcessWriter() as w:
        w.flush()
        pid = w._proc.pid
        others = [t for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid]  # the main thread
        masks = {}  # shows its mask as changed while it waits in sigtimedwait: not checked
        for tid in others:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                masks[tid] = int(next(line.split()[1] for line in f if line.startswith("SigBlk:")), 16)
    assert others or os.cpu_count() == 1
    bit = 1 << (signal.SIGURG - 1)
    assert all(m & bit for m in masks.values()), masks


def test_a_forked_trainer_copy_cannot_use_or_end_the_writer(tmp_path):
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {os.getcwd()!r})
        from compvqc.checkpoint import CheckpointError, ProcessWriter, load_checkpoint
        from tests.checkpoint_helpers import full_checkpoint
        c = full_checkpoint(with_profile=False)
        w = ProcessWriter()
        w.submit({str(tmp_path)!r} + "/before.ckpt", c)
        pid = os.fork()
        if pid == 0:  # the fork: refused, and its normal exit leaves the parent's child alone
            try:
                w.flush()
                print("fork flushed", flush=True)
            except CheckpointError as e:
                print("fork refused:", e, flush=True)
            sys.exit(0)
        os.waitpid(pid, 0)
        w.submit({str(tmp_path)!r} + "/after.ckpt", c)
        w.close()
        load_checkpoint({str(tmp_path)!r} + "/after.ckpt")
        print("parent ok", flush=True)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert "fork refused: this checkpoint writer belongs to the process that created it" in out
    assert out.strip().endswith("parent ok")
    load_checkpoint(tmp_path / "before.ckpt")


def test_a_frame_larger_than_the_pipe_is_sent_whole(tmp_path):
    c = full_checkpoint(with_profile=False)
    c.gradient_history = np.random.default_rng(0).normal(size=(70_000, c.theta.size))  # 5 MB: pipe-fulls
    with ProcessWriter() as w:
        w.submit(tmp_path / "big.ckpt", c)
    np.testing.assert_array_equal(load_checkpoint(tmp_path / "big.ckpt").gradient_history, c.gradient_history)


def test_manager_falls_back_to_a_thread_when_no_process_can_start(tmp_path, monkeypatch):
    import subprocess as sp

    from compvqc.checkpoint import CheckpointManager

    def refuse(*a, **kw):
        raise PermissionError("fork refused")

    monkeypatch.setattr(sp, "Popen", refuse)
    said = []
    m = CheckpointManager(tmp_path, log=said.append)
    assert isinstance(m._writer, AsyncWriter) and len(said) == 1 and "thread" in said[0] and "fork refused" in said[0]
    m.save(full_checkpoint(with_profile=False), step=1)
    m.close()
    assert (tmp_path / "latest").read_text() == "ckpt-000000001.ckpt\n"


@pytest.mark.parametrize("writer", ["process", "thread", "sync"])
def test_a_failed_save_leaves_the_index_as_the_disk_says(writer, tmp_path):
    from compvqc.checkpoint import CheckpointManager

    good, bad = full_checkpoint(with_profile=False), full_checkpoint(with_profile=False)
    bad.prune_mask = bad.prune_mask[:-1]  # fails validation when it is encoded
    m = CheckpointManager(tmp_path, keep_last=1, best_metric="acc", writer=writer)
    m.save(good, step=1, metric=0.9)
    with pytest.raises(CheckpointError):
        m.save(bad, step=2, metric=0.95)
        m.save(good, step=3, metric=0.5)  # a background writer reports step 2 here at the latest
        m.flush()
    m.save(good, step=4, metric=0.5)
    m.close()
    files = sorted(p.name for p in tmp_path.glob("ckpt-*.ckpt"))
    assert "ckpt-000000002.ckpt" not in files and m.best_path.exists()
    assert m.best_path.name == "ckpt-000000001.ckpt"  # the best that was written, kept by rotation
    assert files[-1] == "ckpt-000000004.ckpt" and len(files) <= 3  # no orphan left out of rotation
    assert (tmp_path / "latest").read_text() == "ckpt-000000004.ckpt\n"


@pytest.mark.parametrize("make", WRITERS)
def test_model_meta_changes_are_saved(make, tmp_path):
    from dataclasses import replace

    c = full_checkpoint(with_profile=False)
    with make() as w:
        w.submit(tmp_path / "a.ckpt", c)
        c.model = replace(c.model, meta={**c.model.meta, "seed": 999})  # equal model, other meta
        w.submit(tmp_path / "b.ckpt", c)
        c.model.meta["note"] = "in place"
        w.submit(tmp_path / "c.ckpt", c)
    assert load_checkpoint(tmp_path / "b.ckpt").model.meta["seed"] == 999
    assert load_checkpoint(tmp_path / "c.ckpt").model.meta["note"] == "in place"
    save_checkpoint(tmp_path / "ref.ckpt", c)
    assert (tmp_path / "c.ckpt").read_bytes() == (tmp_path / "ref.ckpt").read_bytes()


def test_process_writer_takes_submits_from_several_threads(tmp_path):
    import threading

    base = full_checkpoint(with_profile=False)
    w = ProcessWriter()

    def work(k):
        for i in range(3):
            c = base.copy()
            c.gradient_history = np.full((20000, c.model.n_params), float(k * 10 + i))  # frames beyond a pipe's size
            w.submit(tmp_path / f"t{k}-{i}.ckpt", c)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.close()
    for k in range(3):
        for i in range(3):
            assert load_checkpoint(tmp_path / f"t{k}-{i}.ckpt").gradient_history[0, 0] == k * 10 + i


def test_an_interrupted_submit_makes_the_writer_unusable_not_the_files_wrong(tmp_path, monkeypatch):
    import compvqc.checkpoint.process_writer as pw

    c = full_checkpoint(with_profile=False)
    w = ProcessWriter()
    w.submit(tmp_path / "a.ckpt", c)
    w.flush()
    real = os.write

    calls = []

    def half_then_interrupt(fd, data):  # a short write, then a signal handler raises
        calls.append(fd)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return real(fd, bytes(data[: len(data) // 2]))

    monkeypatch.setattr(pw.os, "write", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        w.submit(tmp_path / "b.ckpt", c)
    monkeypatch.setattr(pw.os, "write", real)
    with pytest.raises(CheckpointError, match="interrupted"):
        w.submit(tmp_path / "c.ckpt", c)
    with pytest.raises(CheckpointError):
        w.close()
    assert load_checkpoint(tmp_path / "a.ckpt").model == c.model
    assert not (tmp_path / "b.ckpt").exists() and not (tmp_path / "c.ckpt").exists()


def test_ctrl_c_to_the_process_group_while_the_writer_starts(tmp_path):
    """The trainer owns Ctrl-C (catch_signals): the child, in its own session, never sees it."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {os.getcwd()!r})
        from compvqc.checkpoint import ProcessWriter
        from tests.checkpoint_helpers import full_checkpoint
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # what catch_signals does for the trainer
        w = ProcessWriter()
        os.killpg(0, signal.SIGINT)  # at once: the child is still importing
        w.submit({str(tmp_path / "a.ckpt")!r}, full_checkpoint(with_profile=False))
        w.close()
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, start_new_session=True,
                         timeout=120)
    assert out.stdout.strip() == "ok", out.stderr
    assert load_checkpoint(tmp_path / "a.ckpt")


def test_process_writer_with_many_open_files(tmp_path):
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if min(hard, 4096) < 1200:
        pytest.skip("the hard RLIMIT_NOFILE is below 1200: no file descriptor above 1024 can be opened")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    files = [open(tmp_path / f"f{i}", "w") for i in range(1100)]  # the writer's fds land above 1024
    try:
        with ProcessWriter() as w:
            w.submit(tmp_path / "a.ckpt", full_checkpoint(with_profile=False))
            w.flush()
    finally:
        for f in files:
            f.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert load_checkpoint(tmp_path / "a.ckpt")


def test_manager_paths_survive_a_chdir_and_stale_temporaries_are_removed(tmp_path, monkeypatch):
    from compvqc.checkpoint import CheckpointManager

    (tmp_path / "run").mkdir()
    stale = tmp_path / "run" / ".ckpt-000000007.ckpt.abc123.tmp"
    stale.write_bytes(b"torn")
    monkeypatch.chdir(tmp_path)
    m = CheckpointManager("run")
    assert not stale.exists()
    monkeypatch.chdir(tmp_path / "run")
    m.save(full_checkpoint(with_profile=False), step=1)
    m.close()
    assert (tmp_path / "run" / "ckpt-000000001.ckpt").exists()
