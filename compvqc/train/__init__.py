"""Training: explicit-state optimizers, the seeded minibatch loop, and a run's settings."""

from compvqc.train.config import TrainConfig
from compvqc.train.loop import Event, TrainResult, batch_order, evaluate, fit
from compvqc.train.optim import SGD, Adam, AdamState, SGDState, apply_updates, make_optimizer

__all__ = ["Adam", "SGD", "AdamState", "SGDState", "apply_updates", "make_optimizer",
           "Event", "TrainResult", "batch_order", "evaluate", "fit", "TrainConfig"]
