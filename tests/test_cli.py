"""The CLI driven in-process through main(argv), as a script would use it."""

import json

import numpy as np
import pytest

from compvqc.cli.main import build_parser, main
from compvqc.checkpoint import load_checkpoint as load_model

TRAIN_KEYS = {"schema", "dataset", "arch", "arch_seed", "epochs", "seed", "train_accuracy", "val_accuracy",
              "test_accuracy", "loss", "output"}


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_json_and_model_file(tmp_path, capsys):
    out = tmp_path / "m.ckpt"
    code, stdout, err = run(capsys, "train", "--dataset", "digits2", "--arch", "random14", "--epochs", "2",
                            "--seed", "1", "--arch-seed", "4", "-o", str(out), "--json")
    assert code == 0, err
    payload = json.loads(stdout)
    assert TRAIN_KEYS <= set(payload) and payload["schema"] == "compvqc.train/1"
    assert payload["arch_seed"] == 4 and payload["output"] == str(out)
    mf = load_model(out)
    assert mf.theta.dtype == np.float64 and len(mf.model.gates) == 14
    assert mf.dataset["name"] == "digits2" and set(mf.optimizer_state) == {"count", "mu", "nu"}
    assert mf.metrics["vanilla"]["test_accuracy"] == payload["test_accuracy"]
    assert mf.run["stage"] == "trained" and np.array_equal(mf.theta_original, mf.theta)


def test_train_is_reproducible_bit_for_bit(tmp_path, capsys):
    thetas = []
    for name in ("a.ckpt", "b.ckpt"):
        assert run(capsys, "train", "--dataset", "syn4", "--arch", "random14", "--epochs", "1", "--n-samples", "200",
                   "-o", str(tmp_path / name))[0] == 0
        thetas.append(load_model(tmp_path / name).theta)
    assert np.array_equal(*thetas)


def test_existing_output_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "m.ckpt"
    out.write_text("keep me")
    code, _, err = run(capsys, "train", "--dataset", "digits2", "--epochs", "0", "-o", str(out))
    assert code == 1 and err.count("\n") == 1 and "exists" in err
    assert out.read_text() == "keep me"


@pytest.mark.parametrize("argv,code", [
    (["train", "--dataset", "nope", "-o", "x"], 2),
    (["train", "--dataset", "digits2"], 2),
    (["train", "--dataset", "digits2", "--epochs", "x", "-o", "y"], 2),
    (["bogus"], 2),
    (["train", "--dataset", "mnist2", "--data-dir", "/nonexistent", "-o", "/tmp/never.ckpt"], 1),
    (["train", "--dataset", "digits2", "--arch", "weird", "-o", "/tmp/never.ckpt"], 1),
    (["train", "--dataset", "digits2", "--epochs", "0", "-o", "/nonexistent/dir/m.json"], 1),
])
def test_errors_are_one_line_with_exit_code(argv, code, capsys):
    got, out, err = run(capsys, *argv)
    assert got == code
    assert err.count("\n") == 1 and "Traceback" not in err


def _leaf_commands(parser, prefix=()):
    subs = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    if not subs:
        yield prefix
        return
    for name, sub in subs[0].choices.items():
        yield from _leaf_commands(sub, prefix + (name,))


def test_version_and_help_on_every_command(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and "compvqc" in capsys.readouterr().out
    leaves = list(_leaf_commands(build_parser()))
    assert ("train",) in leaves and ("compress",) in leaves and len(leaves) >= 6
    for argv in leaves:
        with pytest.raises(SystemExit) as e:
            main([*argv, "--help"])
        assert e.value.code == 0
        assert "--json" in capsys.readouterr().out, f"{' '.join(argv)} lacks --json"


def test_demo_json(tmp_path, capsys):
    code, out, err = run(capsys, "demo", "--epochs", "1", "--output-dir", str(tmp_path), "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["dataset"] == "digits2"
    sel = d["compression"]["selection"]  # the ratio is chosen on validation, on the device
    assert [c["ratio"] for c in sel["candidates"]] == [0.25, 0.5, 0.75] and d["compression"]["ratio"] == sel["ratio"]
    assert {"vanilla", "compressed"} <= set(d["evaluation"])


def test_help_builds_no_command_and_loads_no_library():
    """`compvqc --help` lists every command from main's table alone: numpy, networkx, onnx and qiskit
    stay unloaded (each command's arguments, which read the library's defaults, are built only
    when it is invoked)."""
    import subprocess
    import sys

    code = ("import contextlib, io, sys\nfrom compvqc.cli.main import COMMANDS, main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):\n"
            "    main(['--help'])\n"
            "assert all(c in out.getvalue() for c in COMMANDS), out.getvalue()\n"
            "print(sorted(m for m in ('numpy', 'networkx', 'onnx', 'qiskit') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
