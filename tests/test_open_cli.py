"""Users' own data and circuits from the CLI: `train --data FILE --label COL`, `train --circuit
FILE.qasm`, and compress / evaluate / recompress on the checkpoint without repeating them; the file
moved (one line, then --data NEWPATH) or changed (refused)."""

import json
import shutil

import numpy as np
import pytest
from qiskit import QuantumCircuit, qasm3
from qiskit.circuit.library import real_amplitudes, z_feature_map
from sklearn.datasets import load_iris

from compvqc.checkpoint import load_checkpoint
from compvqc.cli.main import main
from compvqc.model import Fixed

FAST = ["--iters", "2", "--admm-epochs", "1", "--retrain-epochs", "1"]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPVQC_CACHE", str(tmp_path / "cache"))


def _iris_csv(path):
    iris = load_iris()
    rows = ["sepal_length,species,sepal_width,petal_length,petal_width"]  # the label need not be last
    for x, t in zip(iris.data, iris.target):
        rows.append(f"{x[0]},{iris.target_names[t]},{x[1]},{x[2]},{x[3]}")
    path.write_text("\n".join(rows) + "\n")
    return path


def _run(capsys, *args) -> tuple[int, str, str]:
    code = main([*map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_iris_csv_trains_compresses_evaluates_and_recompresses_without_repeating_data(tmp_path, capsys):
    csv = _iris_csv(tmp_path / "iris.csv")
    ckpt = tmp_path / "iris.ckpt"
    code, out, err = _run(capsys, "train", "--data", csv, "--label", "species", "--epochs", "3", "-o", ckpt, "--json")
    assert code == 0, err
    ref = load_checkpoint(ckpt).dataset
    assert ref["path"] == str(csv.resolve()) and ref["label"] == "species"
    assert ref["classes"] == ["setosa", "versicolor", "virginica"]
    manila = tmp_path / "m.ckpt"
    code, out, err = _run(capsys, "compress", ckpt, "--backend", "fake_manila", *FAST, "-o", manila, "--json")
    assert code == 0, err
    assert json.loads(out)["data_file"] == str(csv.resolve())  # says which file it used
    code, out, err = _run(capsys, "evaluate", manila, "--backend", "fake_manila", "--samples", "20", "--json")
    assert code == 0 and json.loads(out)["data_file"] == str(csv.resolve()), err
    code, out, err = _run(capsys, "compress", manila, "--backend", "fake_torino", *FAST, "-o", tmp_path / "t.ckpt")
    assert code == 0 and "fake_torino" in out, err

    moved = tmp_path / "elsewhere" / "iris.csv"  # moved: one line naming --data, then --data works
    moved.parent.mkdir()
    shutil.move(csv, moved)
    code, out, err = _run(capsys, "compress", ckpt, "--backend", "fake_manila", *FAST, "-o", tmp_path / "x.ckpt")
    assert code == 1 and "--data FILE" in err and err.strip().count("\n") == 0
    again = tmp_path / "again.ckpt"
    code, out, err = _run(capsys, "compress", ckpt, "--backend", "fake_manila", *FAST, "--data", moved, "-o", again)
    assert code == 0, err
    assert load_checkpoint(again).dataset["path"] == str(moved.resolve())  # the next command finds it
    code, out, err = _run(capsys, "evaluate", again, "--backend", "fake_manila", "--samples", "10")
    assert code == 0, err

    moved.write_text(moved.read_text().replace("5.1,setosa", "5.2,setosa", 1))  # changed: refused
    code, out, err = _run(capsys, "evaluate", again, "--backend", "fake_manila", "--samples", "10")
    assert code == 1 and "sha256 differs" in err and err.strip().count("\n") == 0


def test_train_data_flag_errors(tmp_path, capsys):
    csv = _iris_csv(tmp_path / "iris.csv")
    code, _, err = _run(capsys, "train", "--data", csv, "--label", "colour", "-o", tmp_path / "a.ckpt")
    assert code == 1 and "no column named 'colour'" in err and "species" in err
    code, _, err = _run(capsys, "train", "--dataset", "syn4", "--data", csv, "-o", tmp_path / "b.ckpt")
    assert code == 2 and "not allowed with" in err
    code, _, err = _run(capsys, "train", "--data", tmp_path / "x.txt", "-o", tmp_path / "c.ckpt")
    assert code == 2 and ".npz or .csv" in err


def test_train_circuit_qasm_from_qiskit_names(tmp_path, capsys):
    """A user's OpenQASM 3 ansatz (qiskit's own export, names x and θ) trains, compresses, evaluates."""
    fm, ansatz = z_feature_map(4, reps=1), real_amplitudes(4, reps=1)
    qc = QuantumCircuit(4)
    qc.compose(fm, inplace=True)
    qc.compose(ansatz, inplace=True)
    path = tmp_path / "zra.qasm"
    path.write_text(qasm3.dumps(qc))
    ckpt = tmp_path / "zra.ckpt"
    code, out, err = _run(capsys, "train", "--dataset", "digits2-2x2", "--circuit", path, "--epochs", "2", "-o", ckpt)
    assert code == 0, err
    model = load_checkpoint(ckpt).model
    assert model.n_params == ansatz.num_parameters and any(isinstance(op, Fixed) for op in model.ops)
    code, out, err = _run(capsys, "compress", ckpt, "--backend", "fake_manila", *FAST, "-o", tmp_path / "c.ckpt",
                          "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["compressed"]["tcd"] > 0 and report["gates"] == ansatz.num_parameters
    code, _, err = _run(capsys, "train", "--dataset", "syn16", "--circuit", path, "-o", tmp_path / "bad.ckpt")
    assert code == 1 and "takes 4 inputs" in err and "16 features" in err
    code, _, err = _run(capsys, "train", "--dataset", "digits2-2x2", "--circuit", path, "--weights", "w",
                        "-o", tmp_path / "bad2.ckpt")
    assert code == 1 and "match neither" in err


def test_digits_pooled_to_two_by_two():
    from compvqc.data import load_dataset

    d = load_dataset("digits2-2x2")
    assert d.n_features == 4 and d.default_encoder == "2x2_ryz" and np.all((d.train.x >= 0) & (d.train.x <= np.pi))


def test_a_cli_export_reads_back_through_from_qasm3(tmp_path, capsys):
    """`compvqc export` (weights bound, final measurements) is readable by from_qasm3 again: the
    bound gates come back as fixed gates, and the probabilities are the checkpoint's."""
    from compvqc.model.qiskit_io import from_qasm3

    ckpt = tmp_path / "s.ckpt"
    assert _run(capsys, "train", "--dataset", "syn4", "--arch", "random14", "--epochs", "1", "-o", ckpt)[0] == 0
    code, text, err = _run(capsys, "export", ckpt, "--format", "qasm3")
    assert code == 0, err
    saved = load_checkpoint(ckpt)
    back = from_qasm3(text, saved.model.readout, weights=[])
    x = np.random.default_rng(0).uniform(0, 3, (5, 4))
    assert np.allclose(back.probabilities([], x), saved.model.probabilities(saved.theta, x), atol=1e-10)


def test_a_relative_data_dir_is_recorded_resolved(data_dir, tmp_path, monkeypatch, capsys):
    import os

    monkeypatch.delenv("COMPVQC_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    relative = os.path.relpath(data_dir, tmp_path)
    ckpt = tmp_path / "m.ckpt"
    assert _run(capsys, "train", "--dataset", "mnist2", "--arch", "random14", "--epochs", "1", "--max-train", "50",
                "--data-dir", relative, "-o", ckpt)[0] == 0
    recorded = load_checkpoint(ckpt).dataset["data_dir"]
    assert os.path.isabs(recorded) and os.path.samefile(recorded, os.path.join(data_dir, "mnist"))
    monkeypatch.chdir(tmp_path.parent)  # elsewhere: the recorded folder is still found
    code, _, err = _run(capsys, "evaluate", ckpt, "--backend", "fake_manila", "--samples", "5", "--no-noise")
    assert code == 0, err
