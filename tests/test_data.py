import gzip
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from compvqc.data import load_dataset
from compvqc.data.idx import MAGIC_IMAGES, MAGIC_LABELS, read_idx
from compvqc.data.preprocess import pool, scale_features
from compvqc.data.synthetic import make_synthetic
from compvqc.errors import DatasetError


def test_mnist2_splits_are_disjoint_and_sized(data_dir):
    d = load_dataset("mnist2", data_dir=data_dir)
    assert len(d.test) == 1968  # 1010 threes + 958 sixes
    assert len(d.train) + len(d.val) == 6131 + 5918
    assert abs(len(d.val) - 0.1 * (6131 + 5918)) < 1
    assert d.train.x.shape[1] == 16 and d.train.x.dtype == np.float64
    assert 0 <= d.train.x.min() and d.train.x.max() <= np.pi
    rows = {r.tobytes() for r in d.train.x}
    assert not any(r.tobytes() in rows for r in d.val.x[:200] if r.any())


@pytest.mark.parametrize("name,classes", [("mnist4", 4), ("fashion2", 2), ("fashion3", 3), ("fashion4", 4)])
def test_named_sets(data_dir, name, classes):
    d = load_dataset(name, data_dir=data_dir, preprocess="standardize", max_train=100)
    assert d.n_classes == classes and len(d.train) == 100
    assert set(np.unique(d.test.y)) == set(range(classes))


def test_preprocessing():
    img = np.zeros((1, 28, 28), dtype=np.uint8)
    img[0, 2:8, 2:8] = 255  # the top-left pooling cell of the centre crop
    x = pool(img, 24, 4) / 255.0
    assert x.shape == (1, 16) and x[0, 0] == 1.0 and x[0, 1:].sum() == 0
    assert np.allclose(scale_features(x, "scale")[0, 0], np.pi)
    assert np.allclose(scale_features(x, "standardize")[0, 1], -0.1307 / 0.3081)


def test_digits2_needs_no_download():
    d = load_dataset("digits2")
    assert d.n_classes == 2 and len(d.train) > 200 and len(d.test) > 50


@given(st.sampled_from([4, 16]), st.integers(2, 400), st.integers(0, 10))
def test_synthetic_is_seeded_and_balanced(features, n, seed):
    x1, y1 = make_synthetic(features, n, seed)
    x2, y2 = make_synthetic(features, n, seed)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert abs(int(y1.sum()) - n // 2) <= 1


def test_synthetic_class_means():
    x, y = make_synthetic(4, 4000, 0)
    assert np.allclose(x[y == 0, :2].mean(), 1.0, atol=0.05) and np.allclose(x[y == 0, 2:].mean(), 2.0, atol=0.05)
    assert np.allclose(x[y == 1, :2].mean(), 2.0, atol=0.05)


def _write_idx(path, magic, dims, payload: bytes, compress=True):
    raw = struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + payload
    path.write_bytes(gzip.compress(raw) if compress else raw)


def test_idx_reader_roundtrip_and_errors(tmp_path):
    p = tmp_path / "l.gz"
    _write_idx(p, MAGIC_LABELS, (3,), bytes([1, 2, 3]))
    assert read_idx(p, MAGIC_LABELS).tolist() == [1, 2, 3]
    q = tmp_path / "raw"
    _write_idx(q, MAGIC_LABELS, (3,), bytes([1, 2, 3]), compress=False)
    assert read_idx(q, MAGIC_LABELS).tolist() == [1, 2, 3]
    bad = tmp_path / "bad.gz"
    _write_idx(bad, MAGIC_LABELS, (5,), bytes([1, 2]))  # truncated payload
    with pytest.raises(DatasetError, match="bad.gz"):
        read_idx(bad, MAGIC_LABELS)
    with pytest.raises(DatasetError, match="magic"):
        read_idx(p, MAGIC_IMAGES)
    junk = tmp_path / "junk.gz"
    junk.write_bytes(b"\x1f\x8bnot really gzip")
    with pytest.raises(DatasetError, match="junk.gz"):
        read_idx(junk, MAGIC_LABELS)
    with pytest.raises(DatasetError, match="missing"):
        read_idx(tmp_path / "missing", MAGIC_LABELS)


def test_missing_data_dir_says_how_to_fix(monkeypatch):
    monkeypatch.delenv("COMPVQC_DATA", raising=False)
    with pytest.raises(DatasetError, match="--data-dir"):
        load_dataset("mnist2")


def test_missing_dataset_file_is_named(tmp_path):
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte"):
        load_dataset("mnist2", data_dir=tmp_path)
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset("cifar")
