"""Training: one loop for a single process and for torchrun (DistributedDataParallel)."""

from tinct.train.args import TrainConfig, load_config
from tinct.train.fit import fit

__all__ = ["TrainConfig", "fit", "load_config"]
