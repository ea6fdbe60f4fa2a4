"""``compvqc lut build|show`` and ``compvqc tcd`` driven in-process through main(argv)."""

import json

import numpy as np
import pytest

from compvqc.cli.main import main
from compvqc.compile import load_lut_file, resolve_backend, true_tcd
from compvqc.compile.cache import prebuilt_path
from compvqc.model import build_model
from compvqc.checkpoint import Checkpoint, save_checkpoint


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPVQC_CACHE", str(tmp_path / "cache"))


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def model_file(tmp_path):
    model = build_model("4x4_ryzxy", "random50", 2, arch_seed=0)
    theta = model.init_params(np.random.default_rng(0))
    path = tmp_path / "m.ckpt"
    save_checkpoint(path, Checkpoint(model=model, theta=theta))
    return path, model, theta


def test_lut_build_to_a_file_and_show_it(tmp_path, capsys):
    out = tmp_path / "tiny.json"
    code, stdout, err = run(capsys, "lut", "build", "--backend", "fake_manila", "--gates", "rx,crx", "--qubits", "0,1",
                            "--samples", "8", "--workers", "1", "-o", str(out), "--json")
    assert code == 0, err
    payload = json.loads(stdout)
    assert payload["schema"] == "compvqc.lut.build/1"
    (row,) = payload["luts"]
    assert row["status"] == "built" and row["qubits"] == [0, 1] and row["gates"] == ["rx", "crx"]
    lut = load_lut_file(out)
    assert lut.sha256 == row["sha256"] and lut.provenance["grid"]["generic_samples"] == 8
    code, stdout, _ = run(capsys, "lut", "build", "--backend", "fake_manila", "--gates", "rx,crx", "--qubits", "0,1",
                          "--samples", "8", "-o", str(out), "--no-rebuild", "--json")
    assert code == 0 and json.loads(stdout)["luts"][0]["status"] == "up-to-date"
    code, stdout, _ = run(capsys, "lut", "show", str(out))
    assert code == 0 and "crx" in stdout and "11*" in stdout  # CRX(π) on (0,1): deep, marked


def test_lut_show_prebuilt_table(capsys):
    code, stdout, err = run(capsys, "lut", "show", "fake_manila", "--no-rebuild")
    assert code == 0, err
    lines = stdout.splitlines()
    header = next(line for line in lines if line.startswith("gate"))
    assert header.split() == ["gate", "0", "π/2", "π", "3π/2", "2π", "5π/2", "3π", "7π/2", "generic"]
    rx = next(line for line in lines if line.startswith("rx "))
    assert rx.split() == ["rx", "0p", "1q", "1q", "3q", "0p", "1q", "1q", "3q", "5"]
    code, stdout, _ = run(capsys, "lut", "show", "fake_manila", "--json")
    payload = json.loads(stdout)
    assert payload["schema"] == "compvqc.lut.show/1" and payload["lut"]["format"] == "compvqc-lut"
    assert payload["sha256"] == load_lut_file(prebuilt_path("fake_manila")).sha256


def test_unknown_backend_lists_valid_names(capsys):
    code, _, err = run(capsys, "lut", "show", "fake_nowhere")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "fake_manila" in err and "fake_sherbrooke" in err
    code, _, err = run(capsys, "tcd", "x.ckpt", "--backend", "nowhere")
    assert code == 1 and "fake_manila" in err and len(err.strip().splitlines()) == 1


def test_corrupt_lut_file_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_bytes(prebuilt_path("fake_manila").read_bytes()[:5000])
    code, _, err = run(capsys, "lut", "show", str(bad))
    assert code == 1 and len(err.strip().splitlines()) == 1 and "bad.json" in err


def test_tcd_command_reports_a_reproducible_figure(model_file, capsys):
    path, model, theta = model_file
    code, stdout, err = run(capsys, "tcd", str(path), "--backend", "fake_manila", "--seeds", "0,1", "--json")
    assert code == 0, err
    payload = json.loads(stdout)
    assert payload["schema"] == "compvqc.tcd/1" and payload["method"] == "transpile"
    expected = true_tcd(model, theta, resolve_backend("fake_manila"), (0, 1))
    assert payload["tcd"] == expected.depth and payload["seed"] == expected.seed and payload["seeds"] == [0, 1]
    code, stdout, _ = run(capsys, "depth", str(path), "--backend", "fake_manila", "--seeds", "0")
    assert code == 0 and stdout.startswith(f"TCD {true_tcd(model, theta, 'fake_manila', (0,)).depth} ")


def test_tcd_estimate_uses_the_prebuilt_lut(model_file, capsys):
    from compvqc.compile import estimate_tcd

    path, model, theta = model_file
    code, stdout, err = run(capsys, "tcd", str(path), "--backend", "fake_manila", "--estimate", "--no-rebuild", "--json")
    assert code == 0, err
    payload = json.loads(stdout)
    lut = load_lut_file(prebuilt_path("fake_manila"))
    assert payload["method"] == "estimate" and payload["tcd"] == estimate_tcd(model, theta, lut)


def test_usage_errors(capsys):
    assert run(capsys, "lut", "build")[0] == 2
    assert run(capsys, "lut", "build", "--backend", "fake_manila", "--all")[0] == 2
    assert run(capsys, "lut", "build", "--backend", "fake_manila", "--qubits", "a,b")[0] == 2
    assert run(capsys, "lut")[0] == 2
