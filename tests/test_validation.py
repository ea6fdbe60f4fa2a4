"""Bad output paths and out-of-bound numbers are refused in one line before any work starts."""

import os

import pytest

from compvqc.cli.main import main

TRAIN = ["train", "--dataset", "syn4", "--arch", "random14", "--epochs", "2", "--n-samples", "200"]


@pytest.fixture
def no_work(monkeypatch):
    """Any training, compression or LUT build that starts fails the test."""
    import compvqc.compile.build
    import compvqc.runs.compress
    import compvqc.runs.train

    def started(*a, **k):
        raise AssertionError("work started before the bad argument was refused")

    monkeypatch.setattr(compvqc.runs.train, "train_on_dataset", started)
    monkeypatch.setattr(compvqc.runs.compress, "compress_checkpoint", started)
    monkeypatch.setattr(compvqc.compile.build, "build_lut", started)


def one_line(capsys, argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "internal error" not in err, err
    return code, err


@pytest.mark.parametrize("output, says", [
    ("", "output path is empty"),
    ("{tmp}", "is a directory"),
    ("{tmp}/missing/out.ckpt", "not found"),
    ("/proc/out.ckpt", "cannot write in /proc"),
])
def test_train_output_checked_before_training(tmp_path, capsys, no_work, output, says):
    code, err = one_line(capsys, [*TRAIN, "-o", output.format(tmp=tmp_path)])
    assert code == 1 and says in err
    assert ".tmp" not in err  # names the user's path, never a temporary


def test_existing_output_and_non_regular_output(tmp_path, capsys, no_work):
    out = tmp_path / "out.ckpt"
    out.write_bytes(b"x")
    assert one_line(capsys, [*TRAIN, "-o", out])[0] == 1
    code, err = one_line(capsys, [*TRAIN, "-o", "/dev/null", "--force"])
    assert code == 1 and "not a regular file" in err


@pytest.mark.parametrize("flags, says", [
    (["--lr", "nan"], "lr must be"),
    (["--lr", "inf"], "lr must be"),
    (["--lr", "-1"], "lr must be"),
    (["--epochs", "1000000000000"], "epochs must be an integer in 0..100000"),
    (["--n-samples", "100000000000"], "n_samples must be an integer in 2..10000000"),
    (["--arch", "random100000000"], "at most 10000 gates"),
    (["--arch", "blocks5000"], "at most 1000 layers"),
    (["--batch-size", "0"], "batch_size"),
    (["--seed", "-1"], "seed must be"),
    (["--val-fraction", "nan"], "val_fraction"),
    (["--gates", "rx,bogus"], "unknown gate type"),
    (["--save-every-seconds", "inf", "--checkpoint-dir", "{tmp}/r"], "--save-every-seconds"),
])
def test_train_numbers_checked_before_training(tmp_path, capsys, no_work, flags, says):
    flags = [f.format(tmp=tmp_path) for f in flags]
    code, err = one_line(capsys, [*TRAIN, *flags, "-o", tmp_path / "o.ckpt"])
    assert code in (1, 2) and says in err, err
    assert not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "m.ckpt"
    assert main([*TRAIN, "-o", str(path)]) == 0
    return path


@pytest.mark.parametrize("flags, says", [
    (["--lr", "nan"], "lr must be"),
    (["--rho", "nan"], "rho must be"),
    (["--zeta", "inf"], "zeta must be"),
    (["--alpha", "nan"], "alpha must be"),
    (["--ratio", "nan"], "ratio must be"),
    (["--iters", "1000000000"], "iterations must be"),
    (["--retrain-epochs", "1000000000000"], "retrain_epochs must be"),
    (["--shots", "1000000000000", "--ratios", "0.25", "0.5"], "--shots must be"),
    (["-o", ""], "output path is empty"),
    (["-o", "{tmp}"], "is a directory"),
])
def test_compress_arguments_checked_before_compressing(tmp_path, capsys, no_work, ckpt, flags, says):
    flags = [f.format(tmp=tmp_path) for f in flags]
    code, err = one_line(capsys, ["compress", ckpt, "--backend", "fake_manila", *flags])
    assert code in (1, 2) and says in err, err


@pytest.mark.parametrize("flags, says", [
    (["--grid", "1073741824"], "power of two in 8..256"),
    (["--grid-u3", "1024"], "U3 grid steps"),
    (["--samples", "100000000"], "random angles"),
    (["--workers", "0"], "workers must be"),
    (["-o", "{tmp}"], "is a directory"),
])
def test_lut_build_arguments_checked_before_building(tmp_path, capsys, no_work, flags, says, monkeypatch):
    import compvqc.compile.build as build

    monkeypatch.setattr(build, "_run", lambda *a, **k: (_ for _ in ()).throw(AssertionError("transpiling started")))
    flags = [f.format(tmp=tmp_path) for f in flags]
    if "-o" not in flags:
        flags += ["-o", str(tmp_path / "l.json")]
    code, err = one_line(capsys, ["lut", "build", "--backend", "fake_manila", "--gates", "rx", *flags])
    assert code in (1, 2) and says in err, err


def test_evaluate_and_export_outputs(tmp_path, capsys, ckpt):
    code, err = one_line(capsys, ["evaluate", ckpt, "--backend", "fake_manila", "--save-mapping", "-o", ""])
    assert code == 1 and "output path is empty" in err
    code, err = one_line(capsys, ["evaluate", ckpt, "--backend", "fake_manila", "--shots", "1000000000000"])
    assert code == 2 and "--shots must be" in err
    code, err = one_line(capsys, ["export", ckpt, "-o", ""])
    assert code == 1 and "output path is empty" in err


def test_a_killed_writers_temporary_beside_the_output_is_removed(tmp_path):
    """SIGKILL during an atomic write leaves its temporary; the next write of that output takes it
    away (it names a dead pid), while a live writer's temporary is left alone."""
    import subprocess
    import sys

    from compvqc.fsutil import check_output

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.ckpt.{dead.pid}.abc123.tmp"
    live = tmp_path / f".out.ckpt.{os.getpid()}.def456.tmp"
    stale.write_bytes(b"torn")
    live.write_bytes(b"in progress")
    check_output(tmp_path / "out.ckpt")
    assert not stale.exists() and live.exists()
