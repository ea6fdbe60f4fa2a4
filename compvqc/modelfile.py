"""The trained-model file: one JSON document (safe to load, no pickle), written atomically.

This is the interim format of ``compvqc train -o``; the ONNX checkpoint container replaces it
(and reads it) once it lands. Floats are written with ``repr``-exact JSON, so θ round-trips
bit-identical.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from compvqc.errors import CompVQCError, ModelError
from compvqc.fsutil import atomic_write_bytes
from compvqc.model.circuit import VQC

FORMAT = "compvqc-model"
VERSION = 1
MAX_BYTES = 64 << 20


class ModelFileError(CompVQCError):
    """A model file is missing, unreadable, malformed or inconsistent."""


@dataclass
class ModelFile:
    model: VQC
    theta: np.ndarray
    theta_original: np.ndarray
    dataset: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    optimizer: dict = field(default_factory=dict)  # {"name", "config", "state": {name: array}}
    metrics: dict = field(default_factory=dict)

    def to_json(self) -> str:
        opt = dict(self.optimizer)
        if "state" in opt:
            opt["state"] = {k: np.asarray(v).tolist() for k, v in opt["state"].items()}
        doc = {
            "format": FORMAT,
            "version": VERSION,
            "model": self.model.to_dict(),
            "theta": np.asarray(self.theta, dtype=np.float64).tolist(),
            "theta_original": np.asarray(self.theta_original, dtype=np.float64).tolist(),
            "dataset": self.dataset,
            "training": self.training,
            "optimizer": opt,
            "metrics": self.metrics,
        }
        return json.dumps(doc, indent=1, allow_nan=False)


def save_model(path, mf: ModelFile) -> Path:
    return atomic_write_bytes(path, mf.to_json().encode())


def load_model(path) -> ModelFile:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ModelFileError(f"{path}: {size} bytes is larger than a model file can be")
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ModelFileError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ModelFileError(f"{path}: not a compvqc model file ({type(e).__name__})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a compvqc model file")
    if doc.get("version") != VERSION:
        raise ModelFileError(f"{path}: unsupported model file version {doc.get('version')!r}")
    try:
        model = VQC.from_dict(doc["model"])
        theta = _vector(doc["theta"], model.n_params, "theta")
        theta0 = _vector(doc.get("theta_original", doc["theta"]), model.n_params, "theta_original")
        opt = dict(doc.get("optimizer") or {})
        if "state" in opt:
            opt["state"] = {k: np.asarray(v, dtype=np.int64 if k == "count" else np.float64) for k, v in opt["state"].items()}
    except (KeyError, TypeError, ValueError, ModelError) as e:
        raise ModelFileError(f"{path}: {e}") from None
    return ModelFile(model, theta, theta0, doc.get("dataset") or {}, doc.get("training") or {}, opt,
                     doc.get("metrics") or {})


def _vector(values, n: int, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"{name} has shape {arr.shape}, the model needs ({n},)")
    if not all(math.isfinite(v) for v in arr):
        raise ValueError(f"{name} has non-finite values")
    return arr
