"""Named datasets and their train / validation / test splits.

Splits are disjoint: validation is carved from the official training split (``val_fraction``,
default 10%, by ``split_seed``), test is the official test split. Sets without an official
test split (digits2, syn4, syn16) carve test first. ReCL, mask scores, ratio choices and early
stopping look only at validation; test is for reporting.

Nothing is downloaded: MNIST / Fashion-MNIST come from IDX files in ``data_dir`` (or the
``COMPVQC_DATA`` environment variable), digits2 from scikit-learn's bundled copy. A path to a
``.npz`` or ``.csv`` file in place of a name is the user's own data (``data.user``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from compvqc.data.idx import MAGIC_IMAGES, MAGIC_LABELS, read_idx
from compvqc.data.preprocess import MODES, pool, scale_features
from compvqc.data.synthetic import make_synthetic
from compvqc.data.user import is_user_file, labelled_splits
from compvqc.limits import MAX_SAMPLES
from compvqc.errors import DatasetError

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# name: (source, original labels in class order, default encoder)
DATASETS = {
    "mnist2": ("mnist", (3, 6), "4x4_ryzxy"),
    "mnist4": ("mnist", (0, 1, 2, 3), "4x4_ryzxy"),
    "fashion2": ("fashion-mnist", (3, 6), "4x4_ryzxy"),  # dress, shirt
    "fashion3": ("fashion-mnist", (3, 6, 0), "4x4_ryzxy"),  # dress, shirt, T-shirt/top
    "fashion4": ("fashion-mnist", (0, 1, 2, 3), "4x4_ryzxy"),  # T-shirt, trouser, pullover, dress
    "digits2": ("sklearn-digits", (3, 6), "4x4_ryzxy"),
    "digits2-2x2": ("sklearn-digits", (3, 6), "2x2_ryz"),  # pooled to 2x2: 4 features
    "syn4": ("synthetic", (0, 1), "2x2_ryz"),
    "syn16": ("synthetic", (0, 1), "4x4_ryzxy"),
}


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # (N, features) float64
    y: np.ndarray  # (N,) int64 class indices

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Split
    val: Split
    test: Split
    n_classes: int
    default_encoder: str
    reference: dict = field(default_factory=dict)  # everything needed to rebuild the splits

    @property
    def n_features(self) -> int:
        return self.train.x.shape[1]


def _source_dir(data_dir, source: str) -> Path:
    """``data_dir`` (else ``$COMPVQC_DATA``), or its subfolder named after the source if it has one."""
    data_dir = data_dir or os.environ.get("COMPVQC_DATA")
    if not data_dir:
        raise DatasetError(f"{source} needs --data-dir (or COMPVQC_DATA) naming a folder with the IDX files")
    sub = Path(data_dir) / source
    return sub if sub.is_dir() else Path(data_dir)


def _idx_pair(folder: Path, part: str):
    paths = []
    for base in IDX_FILES[part]:  # images, labels
        for candidate in (folder / f"{base}.gz", folder / base):
            if candidate.is_file():
                paths.append(candidate)
                break
        else:
            raise DatasetError(f"{folder / (base + '.gz')}: file not found")
    images = read_idx(paths[0], MAGIC_IMAGES)
    labels = read_idx(paths[1], MAGIC_LABELS)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DatasetError(f"{paths[0]}: expected 28×28 images, got {images.shape[1:]}")
    if len(images) != len(labels):
        raise DatasetError(f"{paths[1]}: {len(labels)} labels for {len(images)} images")
    return images, labels


def _select(x, labels, classes):
    keep = np.isin(labels, classes)
    lut = {c: i for i, c in enumerate(classes)}
    return x[keep], np.array([lut[int(v)] for v in labels[keep]], dtype=np.int64)


def _carve(x, y, fraction, rng) -> tuple[Split, Split]:
    order = rng.permutation(len(y))
    k = int(round(fraction * len(y)))
    if k < 1 or k >= len(y):
        raise DatasetError(f"split fraction {fraction} leaves an empty split of {len(y)} samples")
    held, rest = order[:k], order[k:]
    return Split(x[rest], y[rest]), Split(x[held], y[held])


def check_reference(ref: dict) -> None:
    """A stored dataset reference (``Dataset.reference``) is one ``load_dataset`` can rebuild:
    known name, and every setting of the right type and within its bounds (one DatasetError)."""
    if not isinstance(ref, dict):
        raise DatasetError("a dataset reference must be a JSON object")
    if ref.get("name") == "file":
        if not all(isinstance(ref.get(k), str) for k in ("path", "sha256")):
            raise DatasetError("a data-file reference needs the file's path and sha256")
    elif ref.get("name") not in DATASETS:
        raise DatasetError(f"unknown dataset {ref.get('name')!r} (known: {', '.join(DATASETS)})")
    checks = {
        "preprocess": lambda v: v in MODES,
        "val_fraction": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1,
        "split_seed": lambda v: _int_in(v, 0, 2**63 - 1),
        "n_samples": lambda v: _int_in(v, 2, MAX_SAMPLES),
        "max_train": lambda v: v is None or _int_in(v, 1, MAX_SAMPLES),
        "data_dir": lambda v: isinstance(v, str),
        "source": lambda v: isinstance(v, str),
        "classes": lambda v: isinstance(v, list),
        "label": lambda v: v is None or isinstance(v, str),
    }
    for key, ok in checks.items():
        if key in ref and not ok(ref[key]):
            raise DatasetError(f"dataset reference: {key} = {ref[key]!r} is out of range")


REBUILD_KEYS = ("preprocess", "val_fraction", "split_seed", "n_samples", "max_train", "label")


def load_reference(ref: dict, data_dir=None, data_file=None) -> "Dataset":
    """The dataset a stored reference (``Dataset.reference``) names, rebuilt split for split.
    The IDX folder is ``data_dir``, else ``$COMPVQC_DATA``, else the folder the reference
    recorded (when it is still there): a checkpoint compresses on the machine it was trained on
    without ``--data-dir``. A user's file is ``data_file`` if given (it moved), else the recorded
    path; either must have the recorded sha256."""
    check_reference(ref)
    recorded = ref.get("data_dir")
    if not data_dir and not os.environ.get("COMPVQC_DATA") and recorded and Path(recorded).is_dir():
        data_dir = recorded
    if ref["name"] != "file":
        if data_file is not None:
            raise DatasetError(f"the model was trained on {ref['name']}, not on a data file")
        return load_dataset(ref["name"], data_dir=data_dir, **{k: ref[k] for k in REBUILD_KEYS if k in ref})
    path = str(data_file or ref["path"])
    if not Path(path).is_file():
        raise DatasetError(f"{path}: the model's data file is not there (moved?); give its place with --data FILE")
    data = load_dataset(path, **{k: ref[k] for k in REBUILD_KEYS if k in ref})
    if data.reference["sha256"] != ref["sha256"]:
        what = "changed since the model was trained on it" if data_file is None else "is not the file the model was trained on"
        raise DatasetError(f"{path} {what} (sha256 differs)")
    return data


def _int_in(v, low: int, high: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def load_dataset(name: str, *, data_dir=None, preprocess: str = "scale", val_fraction: float = 0.1, split_seed: int = 0,
                 n_samples: int = 1000, max_train: int | None = None, label: str | None = None) -> Dataset:
    """Load a named dataset with its three splits.

    ``n_samples`` sizes the synthetic sets; ``max_train`` keeps the first N training samples
    (after the validation carve) for quick runs.
    """
    user = is_user_file(name)
    if not user and name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r} (known: {', '.join(DATASETS)}, or a .npz or .csv file)")
    if preprocess not in MODES:
        raise DatasetError(f"unknown preprocessing {preprocess!r} (use {' or '.join(MODES)})")
    if not 0.0 < val_fraction < 1.0:
        raise DatasetError("val_fraction must be in (0, 1)")
    source, classes, encoder = DATASETS.get(name, ("file", (), None))
    rng = np.random.default_rng(split_seed)
    reference = {"name": name, "source": source, "classes": list(classes), "preprocess": preprocess,
                 "val_fraction": val_fraction, "split_seed": split_seed}
    if label is not None and not user:
        raise DatasetError(f"a label column names a column of your .csv file; {name} is a built-in dataset")
    if user:  # the user's features are used as given: the reference records no preprocessing
        d = labelled_splits(name, val_fraction=val_fraction, split_seed=split_seed, carve=_carve, label=label)
        train, val, test, reference = d["train"], d["val"], Split(*d["test"]), d["reference"]
        classes, encoder = d["classes"], d["encoder"]
    elif source == "synthetic":
        n_features = 4 if name == "syn4" else 16
        x, y = make_synthetic(n_features, n_samples, split_seed)
        reference["n_samples"] = n_samples
        rest, test = _carve(x, y, 0.1, rng)
        train, val = _carve(rest.x, rest.y, val_fraction, rng)
    elif source == "sklearn-digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = digits.images / 16.0  # (N, 8, 8) in [0, 1]
        side = 2 if name.endswith("2x2") else 4  # pooled to side x side
        x01 = images.reshape(-1, side, 8 // side, side, 8 // side).mean(axis=(2, 4)).reshape(-1, side * side)
        x, y = _select(scale_features(x01, preprocess), digits.target, classes)
        rest, test = _carve(x, y, 0.25, rng)
        train, val = _carve(rest.x, rest.y, val_fraction, rng)
    else:
        folder = _source_dir(data_dir, source)
        parts = {}
        for part in ("train", "test"):
            images, labels = _idx_pair(folder, part)
            keep = np.isin(labels, classes)
            x = scale_features(pool(images[keep], 24, 4) / 255.0, preprocess)
            parts[part] = _select(x, labels[keep], classes)
        train, val = _carve(*parts["train"], val_fraction, rng)
        test = Split(*parts["test"])
        reference["data_dir"] = str(folder.resolve())  # so another working directory finds it
    if max_train is not None:
        if max_train < 1:
            raise DatasetError("max_train must be at least 1")
        train = Split(train.x[:max_train], train.y[:max_train])
        reference["max_train"] = max_train
    return Dataset(name, train, val, test, len(classes), encoder, reference)
