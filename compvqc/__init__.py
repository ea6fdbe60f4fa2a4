"""compvqc: compiler-aware compression of variational quantum circuits.

Pipeline (one subpackage per stage, imports flow one way, checked by the import-linter contract
in pyproject.toml): model | data → simulate → train → compile (LUT, TCD) → compress → deploy,
then checkpoint, runs and cli on top.

The names below are imported on first use (module ``__getattr__``), so ``import compvqc`` costs
almost nothing: the console entry point can install its signal handlers before numpy, onnx or
qiskit load, and a library user's ``import compvqc.model`` does not pull in the checkpoint layer.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "VQC": "compvqc.model",
    "build_model": "compvqc.model",
    "CompVQCError": "compvqc.errors",
    "ConversionError": "compvqc.errors",
    "DatasetError": "compvqc.errors",
    "ModelError": "compvqc.errors",
    "TrainingError": "compvqc.errors",
    "Terminated": "compvqc.errors",
    "Checkpoint": "compvqc.checkpoint",
    "CheckpointError": "compvqc.checkpoint",
    "load_checkpoint": "compvqc.checkpoint",
    "save_checkpoint": "compvqc.checkpoint",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("compvqc")
        except PackageNotFoundError:  # pragma: no cover - a source tree without install
            value = "0.0.0"
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        raise AttributeError(f"module 'compvqc' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *__all__])
