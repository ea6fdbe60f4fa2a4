"""Asynchronous writer, run-directory manager, SIGTERM handling and exact resume."""

import json
import signal

import numpy as np

from compvqc.checkpoint import CheckpointManager, load_checkpoint
from compvqc.cli.main import main
from tests.checkpoint_helpers import full_checkpoint, start_at


def test_rotation_latest_and_best(tmp_path):
    c = full_checkpoint(with_profile=False)
    m = CheckpointManager(tmp_path, keep_last=2, best_metric="val_accuracy", writer="process")
    for step, metric in [(1, 0.5), (2, 0.9), (3, 0.6), (4, 0.7), (5, 0.65)]:
        m.save(c, step=step, metric=metric)
    m.close()
    names = sorted(p.name for p in tmp_path.glob("ckpt-*.ckpt"))
    assert names == ["ckpt-000000002.ckpt", "ckpt-000000004.ckpt", "ckpt-000000005.ckpt"]
    assert (tmp_path / "latest").read_text().strip() == "ckpt-000000005.ckpt"
    assert m.best_path.name == "ckpt-000000002.ckpt"
    assert [e["step"] for e in json.loads((tmp_path / "index.json").read_text())] == [2, 4, 5]


def test_restore_skips_corrupt_checkpoints_and_says_so(tmp_path):
    c = full_checkpoint(with_profile=False)
    m = CheckpointManager(tmp_path, keep_last=5, writer="sync")
    for step in (1, 2, 3):
        c.run["step"] = step
        m.save(c, step=step)
    (tmp_path / "ckpt-000000003.ckpt").write_bytes(b"torn")
    data = bytearray((tmp_path / "ckpt-000000002.ckpt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "ckpt-000000002.ckpt").write_bytes(bytes(data))
    said = []
    restored = CheckpointManager(tmp_path, log=said.append).restore()
    assert restored.run["step"] == 1
    assert len(said) == 2 and all("skipping corrupt checkpoint" in s for s in said)
    assert CheckpointManager(tmp_path / "empty").restore() is None


TRAIN = ["train", "--dataset", "syn4", "--arch", "random14", "--epochs", "30", "--n-samples", "600",
         "--batch-size", "8", "--seed", "3"]


def test_kill_and_resume_is_bit_identical(tmp_path, capsys):
    assert main([*TRAIN, "-o", str(tmp_path / "straight.ckpt")]) == 0
    capsys.readouterr()
    run_dir = tmp_path / "run"
    args = [*TRAIN, "-o", str(tmp_path / "resumed.ckpt"), "--checkpoint-dir", str(run_dir), "--save-every-steps", "7"]
    proc, _ = start_at("training", args)  # paused right after the first save, mid-run
    proc.kill()  # SIGKILL: no chance to save
    proc.wait()
    assert not (tmp_path / "resumed.ckpt").exists(), "the run finished before it was killed; make it longer"
    assert main([*args, "--resume"]) == 0
    a, b = load_checkpoint(tmp_path / "straight.ckpt"), load_checkpoint(tmp_path / "resumed.ckpt")
    assert np.array_equal(a.theta, b.theta)
    for k in a.optimizer_state:
        assert np.array_equal(a.optimizer_state[k], b.optimizer_state[k])


def test_sigterm_saves_and_exits_cleanly_then_resumes(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = [*TRAIN, "-o", str(tmp_path / "out.ckpt"), "--checkpoint-dir", str(run_dir), "--save-every-steps", "1000"]
    proc, _ = start_at("training", args)  # training is under way: its first save is done
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.decode().count("\n") == 1 and "resume" in err.decode()
    last = load_checkpoint(run_dir / (run_dir / "latest").read_text().strip())
    assert last.run["stage"] == "training"
    assert main([*args, "--resume"]) == 0
    assert main([*TRAIN, "-o", str(tmp_path / "straight.ckpt")]) == 0
    capsys.readouterr()
    assert np.array_equal(load_checkpoint(tmp_path / "out.ckpt").theta, load_checkpoint(tmp_path / "straight.ckpt").theta)


def test_resume_refuses_a_different_run(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main([*TRAIN, "--epochs", "1", "-o", str(tmp_path / "a.ckpt"), "--checkpoint-dir", str(run_dir)]) == 0
    code = main([*TRAIN, "--seed", "99", "-o", str(tmp_path / "b.ckpt"), "--checkpoint-dir", str(run_dir), "--resume"])
    _, err = capsys.readouterr()
    assert code == 1 and "different settings" in err and "seed" in err


def test_inspect_cli(tmp_path, capsys):
    path = tmp_path / "m.ckpt"
    from compvqc.checkpoint import save_checkpoint

    save_checkpoint(path, full_checkpoint())
    assert main(["inspect", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    for key in ("theta", "theta_original", "prune_mask", "quant_mask", "levels", "gates", "shots",
                "hardware_profile", "lut_provenance"):
        assert key in doc
    assert isinstance(doc["theta"], list) and doc["gates"][2]["type"] == "cu3" and doc["shots"] == 1024
    assert doc["levels"][2] == [np.pi, np.pi / 2, 0.0]
    assert main(["inspect", str(path), "--against", "fake_torino"]) == 0
    out = capsys.readouterr().out
    assert "fake_manila → fake_torino" in out and "cz" in out and "T1" in out
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(path.read_bytes()[:500])
    assert main(["inspect", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_save_every_seconds(tmp_path, monkeypatch, capsys):
    import compvqc.checkpoint.manager as mod

    now = [100.0]
    monkeypatch.setattr(mod.time, "monotonic", lambda: now[0])
    m = CheckpointManager(tmp_path / "run", every_steps=None, every_seconds=2.0, writer="sync")
    assert not m.due(step=1)
    now[0] += 2.5
    assert m.due(step=2) and m.due(step=3)  # due until a save happens
    m.save(full_checkpoint(with_profile=False), step=3)
    assert not m.due(step=4)
    now[0] += 2.0
    assert m.due(step=5)
    m.close()
    monkeypatch.undo()
    run_dir = tmp_path / "cli"
    code = main([*TRAIN, "--epochs", "1", "-o", str(tmp_path / "a.ckpt"), "--checkpoint-dir", str(run_dir),
                 "--save-every-seconds", "0.000001"])
    assert code == 0
    steps = sorted(int(p.name[5:14]) for p in run_dir.glob("ckpt-*.ckpt"))
    last = steps[-1]
    assert last > 10 and steps[-3:] == [last - 2, last - 1, last]  # a save after every step; rotation keeps 3
    assert main([*TRAIN, "-o", str(tmp_path / "b.ckpt"), "--checkpoint-dir", str(run_dir),
                 "--save-every-seconds", "0"]) == 2
    err = capsys.readouterr().err
    assert "--save-every-seconds must be positive" in err
