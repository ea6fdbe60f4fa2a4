"""compvqc: compiler-aware compression of variational quantum circuits.

Pipeline (one subpackage per stage, imports flow one way):
model → simulate → train → compile (LUT, TCD) → compress → deploy; checkpoint and cli on top.
"""

from importlib.metadata import PackageNotFoundError, version

from compvqc.errors import CompVQCError, ConversionError, DatasetError, ModelError, TrainingError
from compvqc.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from compvqc.model import VQC, build_model

try:
    __version__ = version("compvqc")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = [
    "VQC",
    "build_model",
    "CompVQCError",
    "ConversionError",
    "DatasetError",
    "ModelError",
    "TrainingError",
    "Checkpoint",
    "CheckpointError",
    "load_checkpoint",
    "save_checkpoint",
    "__version__",
]
