"""Runs: the pipeline's stages joined into the jobs users start, with checkpoints.

Each stage below (``train``, ``compile``, ``compress``, ``deploy``) works on arrays and
dataclasses and knows nothing of files; a run trains to a checkpoint (``train``), compresses a
checkpoint for a backend (``compress``), chooses a ratio on validation on the device
(``select``), or does all of it for the demo (``demo``), saving and resuming through
:class:`~compvqc.checkpoint.CheckpointManager`.
"""

from compvqc.runs.compress import compress_checkpoint, dataset_for
from compvqc.runs.select import Candidate, check_ratios, select_ratio
from compvqc.runs.train import TrainedModel, run_training, train_on_dataset, training_checkpoint
from compvqc.train.config import TrainConfig

__all__ = ["TrainConfig", "TrainedModel", "train_on_dataset", "run_training", "training_checkpoint",
           "compress_checkpoint", "dataset_for", "Candidate", "check_ratios", "select_ratio"]
