"""Training: one loop for a single process and for torchrun (DistributedDataParallel)."""

from tinct.train.args import TrainConfig, load_config
from tinct.train.loop import FitResult, fit

__all__ = ["FitResult", "TrainConfig", "fit", "load_config"]
