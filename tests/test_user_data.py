"""A user's own data (``.npz`` / ``.csv``): train, compress and evaluate from the checkpoint, the
same splits rebuilt every time, a changed file refused, bad files one line each."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compvqc.cli.main import main
from compvqc.data import load_dataset, load_reference
from compvqc.errors import DatasetError


def _blobs(n=240, seed=0):
    """Two separable classes of 4 features (angles in radians), labels as strings."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(0.6 + 1.6 * y[:, None], 0.3, size=(n, 4))
    return x, np.where(y == 1, "yes", "no")


def test_train_compress_evaluate_on_a_users_npz(tmp_path, capsys):
    x, y = _blobs()
    data = tmp_path / "mine.npz"
    np.savez(data, x=x, y=y)
    ckpt = tmp_path / "mine.ckpt"
    assert main(["train", "--dataset", str(data), "--arch", "random14", "--epochs", "3", "-o", str(ckpt), "--json"]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert trained["test_accuracy"] > 0.8
    out = tmp_path / "c.ckpt"
    assert main(["compress", str(ckpt), "--backend", "fake_manila", "--ratio", "0.3", "--iters", "1",
                 "--retrain-epochs", "0", "-o", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["compressed"]["tcd"] > 0
    assert main(["evaluate", str(out), "--backend", "fake_manila", "--no-noise", "--samples", "8", "--json"]) == 0
    capsys.readouterr()
    from compvqc.checkpoint import load_checkpoint

    ref = load_checkpoint(ckpt).dataset
    assert ref["name"] == "file" and ref["classes"] == ["no", "yes"] and len(ref["sha256"]) == 64
    a, b = load_dataset(str(data)), load_reference(ref)
    for split in ("train", "val", "test"):
        assert np.array_equal(getattr(a, split).x, getattr(b, split).x)
    assert len(a.train) + len(a.val) + len(a.test) == len(y) and len(a.test) == 60
    np.savez(data, x=x + 0.01, y=y)  # the file changes after training
    assert main(["compress", str(ckpt), "--backend", "fake_manila", "--ratio", "0.3", "-o", str(tmp_path / "d.ckpt")]) == 1
    assert "changed since the model was trained" in capsys.readouterr().err


def test_a_csv_with_a_header_and_its_own_test_split_from_npz(tmp_path):
    x, y = _blobs(100)
    csv = tmp_path / "mine.csv"
    csv.write_text("a,b,c,d,label\n" + "\n".join(",".join([*(repr(float(v)) for v in r), l]) for r, l in zip(x, y)) + "\n")
    d = load_dataset(str(csv))
    assert d.n_features == 4 and d.n_classes == 2 and d.default_encoder == "2x2_ryz"
    assert sorted(np.concatenate([d.train.x, d.val.x, d.test.x]).tolist()) == sorted(x.tolist())
    split = tmp_path / "split.npz"
    np.savez(split, x_train=x[:80], y_train=y[:80], x_test=x[80:], y_test=y[80:])
    d = load_dataset(str(split))
    assert np.array_equal(d.test.x, x[80:]) and len(d.train) + len(d.val) == 80


@pytest.mark.parametrize("arrays, message", [
    ({"features": np.zeros((4, 2))}, "needs arrays x and y"),
    ({"x": np.zeros((4, 2)), "y": np.zeros(4, int)}, "at least two classes"),
    ({"x": np.full((4, 2), np.nan), "y": np.arange(4)}, "NaN"),
    ({"x": np.zeros((4, 2)), "y": np.arange(3)}, "one per sample"),
    ({"x": np.zeros(4), "y": np.arange(4)}, "(samples, features)"),
    ({"x": np.zeros((4, 2)), "y": np.linspace(0, 1, 4)}, "integers or strings"),
])
def test_bad_npz_files_are_one_line(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        load_dataset(str(path))
    assert "\n" not in str(e.value)


def test_a_truncated_npz_is_one_line(tmp_path):
    x, y = _blobs(50)
    good = tmp_path / "good.npz"
    np.savez(good, x=x, y=y)
    raw = good.read_bytes()
    for cut in (10, len(raw) // 2, len(raw) - 5):
        bad = tmp_path / "bad.npz"
        bad.write_bytes(raw[:cut])
        with pytest.raises(DatasetError) as e:
            load_dataset(str(bad))
        assert "\n" not in str(e.value)


@settings(max_examples=30, deadline=None)
@given(blob=st.binary(max_size=300), suffix=st.sampled_from([".npz", ".csv"]))
def test_fuzzed_data_files_are_a_dataset_error_or_a_dataset(tmp_path_factory, blob, suffix):
    path = tmp_path_factory.mktemp("fuzz") / f"f{suffix}"
    path.write_bytes(blob)
    try:
        d = load_dataset(str(path))
    except DatasetError as e:
        assert "\n" not in str(e)
    else:
        assert len(d.train) and len(d.test)


def test_cli_refuses_a_missing_file_and_an_unknown_encoder_count(tmp_path, capsys):
    assert main(["train", "--dataset", str(tmp_path / "none.npz"), "-o", str(tmp_path / "m.ckpt")]) == 1
    assert "none.npz: file not found" in capsys.readouterr().err
    x, y = _blobs(60)
    path = tmp_path / "three.npz"
    np.savez(path, x=x[:, :3], y=y)
    assert main(["train", "--dataset", str(path), "--epochs", "1", "-o", str(tmp_path / "m.ckpt")]) == 1
    assert "name an encoder" in capsys.readouterr().err
