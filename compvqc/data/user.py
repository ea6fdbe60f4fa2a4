"""A user's own data: a ``.npz`` or ``.csv`` file in place of a dataset name.

* ``.npz`` (read with ``allow_pickle=False``): arrays ``x`` (N, features) and ``y`` (N,), or
  ``x_train``, ``y_train``, ``x_test``, ``y_test`` when the data has its own test split;
* ``.csv``: one sample per row, comma-separated; the label is the column named by ``label``
  (which needs a header row), else the last column; a first row with more words than the second
  is a header.

Features are the encoder's angles as given, in radians (no rescaling: the user's
preprocessing is theirs). Labels may be any integers or strings; their sorted distinct values
are the classes, recorded in the reference. Splits are carved as for the named sets: test (25%)
first when the file has none, then validation from training (``val_fraction``, ``split_seed``).
The reference a checkpoint keeps names the file's absolute path and its sha256, so compressing
or evaluating later rebuilds the same splits, and refuses a file that changed since. Written by
hand: the format is a few lines of numpy, and no library we depend on reads "a labelled table"
into these splits.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

from compvqc.errors import DatasetError
from compvqc.fsutil import read_bytes_bounded

SUFFIXES = (".npz", ".csv")
MAX_BYTES = 1 << 30
TEST_FRACTION = 0.25
ENCODERS = {16: "4x4_ryzxy", 4: "2x2_ryz"}  # the default encoder by feature count


def is_user_file(name) -> bool:
    return isinstance(name, str) and name.lower().endswith(SUFFIXES)


def read_user_file(path, label: str | None = None) -> tuple[dict, str]:
    """(arrays by name, sha256 of the file's bytes); any problem is one :class:`DatasetError`."""
    path = Path(path)
    raw = read_bytes_bounded(path, MAX_BYTES, DatasetError, "data file")
    digest = hashlib.sha256(raw).hexdigest()
    if path.suffix.lower() == ".npz":
        if label is not None:
            raise DatasetError(f"{path}: a label column ({label!r}) names a .csv column; a .npz file has arrays x and y")
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as e:
            raise DatasetError(f"{path}: not a readable .npz file ({str(e).splitlines()[0]})") from None
        keys = set(arrays)
        if {"x_train", "y_train", "x_test", "y_test"} <= keys:
            return {k: arrays[k] for k in ("x_train", "y_train", "x_test", "y_test")}, digest
        if {"x", "y"} <= keys:
            return {"x": arrays["x"], "y": arrays["y"]}, digest
        raise DatasetError(f"{path}: needs arrays x and y (or x_train, y_train, x_test, y_test); it has "
                           f"{', '.join(sorted(keys)) or 'none'}")
    rows = [r for r in raw.decode("utf-8", errors="replace").splitlines() if r.strip()]
    header = None
    words = [sum(not _numeric(c) for c in r.split(",")) for r in rows[:2]]
    if words and words[0] > (words[1] if len(words) > 1 else 0):  # more words than a data row: a header
        header, rows = [c.strip() for c in rows[0].split(",")], rows[1:]
    column = -1
    if label is not None:
        if header is None or label not in header:
            raise DatasetError(f"{path}: no column named {label!r} (columns: {', '.join(header or []) or 'no header row'})")
        column = header.index(label)
    try:
        table = np.array([[c.strip() for c in r.split(",")] for r in rows], dtype=object)
        features = [k for k in range(table.shape[1]) if k != column % table.shape[1]]
        x = table[:, features].astype(np.float64)
    except (ValueError, IndexError):
        raise DatasetError(f"{path}: every row must have the same number of numeric features and a label") from None
    if table.ndim != 2 or table.shape[1] < 2:
        raise DatasetError(f"{path}: needs at least one feature column and a label column")
    return {"x": x, "y": table[:, column].astype(str)}, digest


def _numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _features(x, path, what: str) -> np.ndarray:
    try:
        x = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise DatasetError(f"{path}: {what} must be numbers") from None
    if x.ndim != 2 or not len(x):
        raise DatasetError(f"{path}: {what} must be a non-empty (samples, features) array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise DatasetError(f"{path}: {what} holds NaN or infinite values")
    return x


def labelled_splits(path, *, val_fraction: float, split_seed: int, carve, label: str | None = None) -> dict:
    """Train, validation and test splits of a user's file, and the reference that rebuilds them.
    ``carve(x, y, fraction, rng)`` is the registry's own split (one rule for every dataset)."""
    path = Path(path).resolve()
    arrays, digest = read_user_file(path, label)
    own_test = "x_test" in arrays
    xs = {"train": arrays["x_train"], "test": arrays["x_test"]} if own_test else {"all": arrays["x"]}
    ys = {"train": arrays["y_train"], "test": arrays["y_test"]} if own_test else {"all": arrays["y"]}
    xs = {k: _features(v, path, f"x_{k}" if own_test else "x") for k, v in xs.items()}
    width = {v.shape[1] for v in xs.values()}
    if len(width) != 1:
        raise DatasetError(f"{path}: x_train and x_test have different feature counts {sorted(width)}")
    labels = {k: np.asarray(v) for k, v in ys.items()}
    for k, v in labels.items():
        if v.ndim != 1 or len(v) != len(xs[k]):
            raise DatasetError(f"{path}: the labels of {k} must be one per sample ({len(xs[k])}), got shape {v.shape}")
        if v.dtype.kind not in "iuUS":
            raise DatasetError(f"{path}: labels must be integers or strings, got {v.dtype}")
    classes = sorted({c.item() if hasattr(c, "item") else c for v in labels.values() for c in v.tolist()})
    if len(classes) < 2:
        raise DatasetError(f"{path}: needs at least two classes, found {classes}")
    index = {c: i for i, c in enumerate(classes)}
    ys = {k: np.array([index[c] for c in v.tolist()], dtype=np.int64) for k, v in labels.items()}
    rng = np.random.default_rng(split_seed)
    if own_test:
        rest, test = (xs["train"], ys["train"]), (xs["test"], ys["test"])
    else:
        r, t = carve(xs["all"], ys["all"], TEST_FRACTION, rng)
        rest, test = (r.x, r.y), (t.x, t.y)
    train, val = carve(*rest, val_fraction, rng)
    reference = {"name": "file", "path": str(path), "sha256": digest, "classes": classes,
                 "val_fraction": val_fraction, "split_seed": split_seed}
    if label is not None:
        reference["label"] = label
    n = next(iter(width))
    return {"train": train, "val": val, "test": test, "classes": classes, "encoder": ENCODERS.get(n),
            "reference": reference}
