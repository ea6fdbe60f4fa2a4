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
from compvqc.checkpoint.process_writer import pack_save, read_frame, unpack_save
from tests.checkpoint_helpers import assert_same, full_checkpoint

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


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(0, 4), with_model=st.booleans())
def test_frames_round_trip_every_field(seed, steps, with_model):
    c = full_checkpoint(with_profile=False)
    rng = np.random.default_rng(seed)
    c.theta = rng.normal(size=c.theta.shape)
    c.gradient_history = rng.normal(size=(steps, c.model.n_params))
    c.run["loss"] = float(rng.normal())
    r, w = os.pipe()
    frame = pack_save("/x/y.ckpt", c, seq=3, with_model=with_model)
    os.write(w, frame)
    os.close(w)
    header, payload = read_frame(r)
    assert read_frame(r) is None  # end of input
    os.close(r)
    assert header["path"] == "/x/y.ckpt" and header["seq"] == 3 and (header["model"] is not None) == with_model
    assert_same(unpack_save(header, payload, c.model), c)


def test_frames_refuse_object_arrays():
    c = full_checkpoint(with_profile=False)
    c.optimizer_state["mu"] = np.array([object()] * c.model.n_params)
    with pytest.raises(CheckpointError, match="dtype"):
        pack_save("/x.ckpt", c, seq=1, with_model=True)


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
