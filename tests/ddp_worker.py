"""Run by tests/test_distributed.py under torchrun: train, then save this rank's final weights."""

import json
import sys
from pathlib import Path

from tinct.io.weights import save_weights
from tinct.train import TrainConfig, fit
from tinct.train.dist import DistInfo

if __name__ == "__main__":
    cfg = TrainConfig(**json.loads(sys.argv[1]))
    result = fit(cfg)
    import os

    rank = int(os.environ.get("RANK", DistInfo().rank))
    save_weights(Path(sys.argv[2]) / f"rank{rank}.safetensors", result.model.state_dict(), {})
