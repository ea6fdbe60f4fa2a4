"""Training: explicit-state optimizers and the seeded minibatch loop."""

from compvqc.train.loop import Event, TrainResult, batch_order, evaluate, fit
from compvqc.train.optim import SGD, Adam, AdamState, SGDState, apply_updates, make_optimizer
from compvqc.train.pipeline import Interrupted, TrainConfig, TrainedModel, train_on_dataset, training_checkpoint

__all__ = ["Adam", "SGD", "AdamState", "SGDState", "apply_updates", "make_optimizer",
           "Event", "TrainResult", "batch_order", "evaluate", "fit", "TrainConfig", "TrainedModel",
           "train_on_dataset", "training_checkpoint", "Interrupted"]
