"""``compvqc evaluate`` and ``compvqc export`` driven in-process through main(argv)."""

import io
import json

import pytest

from compvqc.cli.main import main

EVAL_KEYS = {"schema", "backend", "executor", "split", "accuracy", "tcd", "two_qubit_gates", "duration",
             "success_probability", "shots", "noise", "samples", "seconds"}


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("deploy") / "syn4.ckpt"
    assert main(["train", "--dataset", "syn4", "--arch", "random14", "--encoder", "2x2_ryz", "--epochs", "1",
                 "--n-samples", "200", "-o", str(path), "--json"]) == 0
    return path


@pytest.mark.parametrize("executor", ["aer", "primitives", "exact"])
def test_evaluate_json(executor, ckpt, capsys):
    code, out, err = run(capsys, "evaluate", ckpt, "--backend", "fake_manila", "--executor", executor,
                         "--samples", 12, "--shots", 256, "--seed", 3, "--json")
    assert code == 0, err
    d = json.loads(out)
    assert EVAL_KEYS <= set(d) and d["schema"] == "compvqc.evaluate/1"
    assert d["backend"] == "fake_manila" and d["executor"] == executor and d["split"] == "test"
    assert d["samples"] == 12 and 0 <= d["accuracy"] <= 1 and d["tcd"] > 0 and 0 < d["success_probability"] < 1
    assert d["shots"] == (0 if executor == "exact" else 256) and d["noise"] == (executor != "exact")
    assert d["engine"] == ("density" if executor == "aer" else None)


def test_evaluate_engine_choice(ckpt, capsys):
    code, out, err = run(capsys, "evaluate", ckpt, "--backend", "fake_manila", "--engine", "aer",
                         "--samples", 6, "--shots", 128, "--json")
    assert code == 0, err
    assert json.loads(out)["engine"] == "aer"
    code, out, err = run(capsys, "evaluate", ckpt, "--backend", "fake_manila", "--engine", "warp")
    assert code == 2 and "Traceback" not in err


def test_evaluate_no_noise_text_and_save_mapping(ckpt, tmp_path, capsys):
    from compvqc.checkpoint import load_checkpoint

    out_path = tmp_path / "mapped.ckpt"
    code, out, err = run(capsys, "evaluate", ckpt, "--backend", "fake_manila", "--no-noise", "--samples", 8,
                         "--shots", 128, "--split", "val", "--save-mapping", "-o", out_path)
    assert code == 0, err
    assert "noise-free" in out and "TCD" in out and str(out_path) in out
    back = load_checkpoint(out_path)
    assert back.qubit_mapping.size == back.model.n_qubits and back.metrics["deployment"]["backend"] == "fake_manila"
    assert load_checkpoint(ckpt).qubit_mapping.size == 0  # the input is untouched
    # never silently overwritten; never the input
    assert run(capsys, "evaluate", ckpt, "--backend", "fake_manila", "--samples", 2, "--save-mapping",
               "-o", out_path)[0] == 1
    assert run(capsys, "evaluate", ckpt, "--backend", "fake_manila", "--save-mapping", "-o", ckpt)[0] == 2
    assert run(capsys, "evaluate", ckpt, "--backend", "fake_manila", "--save-mapping")[0] == 2


def test_evaluate_errors_are_one_line(ckpt, capsys):
    code, _, err = run(capsys, "evaluate", ckpt, "--backend", "fake_nowhere")
    assert code == 1 and err.count("\n") == 1 and "unknown backend" in err
    code, _, err = run(capsys, "evaluate", ckpt, "--backend", "fake_manila", "--shots", 0, "--samples", 2)
    assert code == 1 and "only available without noise" in err


def test_export_logical_and_transpiled(ckpt, tmp_path, capsys):
    from qiskit import qasm3, qpy

    code, out, err = run(capsys, "export", ckpt)
    assert code == 0, err
    assert qasm3.loads(out).num_parameters == 4  # 2x2_ryz: four input angles
    qpy_path = tmp_path / "c.qpy"
    code, out, err = run(capsys, "export", ckpt, "--format", "qiskit-qpy", "--transpiled", "--backend", "fake_manila",
                         "-o", qpy_path, "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["transpiled"] and d["qubits"] == 5 and d["bytes"] == qpy_path.stat().st_size
    (circuit,) = qpy.load(io.BytesIO(qpy_path.read_bytes()))
    assert circuit.num_qubits == 5 and circuit.count_ops()["measure"] == 2
    assert run(capsys, "export", ckpt, "--transpiled")[0] == 2  # needs --backend
    assert run(capsys, "export", ckpt, "--format", "qiskit-qpy")[0] == 2  # binary needs -o
    assert run(capsys, "export", ckpt, "--format", "qiskit-qpy", "-o", qpy_path)[0] == 1  # exists
