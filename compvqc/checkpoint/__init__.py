"""Hardware-aware checkpoints: content, ONNX container, atomic/async writing, run manager."""

from compvqc.checkpoint.content import FORMAT, VERSION, ADMMState, Checkpoint, CheckpointError
from compvqc.checkpoint.io import AsyncWriter, load_checkpoint, save_checkpoint
from compvqc.checkpoint.manager import CheckpointManager
from compvqc.checkpoint.process_writer import ProcessWriter

__all__ = ["FORMAT", "VERSION", "ADMMState", "Checkpoint", "CheckpointError", "AsyncWriter",
           "ProcessWriter", "load_checkpoint", "save_checkpoint", "CheckpointManager"]
