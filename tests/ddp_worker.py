"""Run by tests/test_distributed.py under torchrun: train, then save this rank's final weights."""

import json
import os
import sys
from pathlib import Path

from tinct.io.weights import save_weights
from tinct.train import TrainConfig, fit

if __name__ == "__main__":
    result = fit(TrainConfig(**json.loads(sys.argv[1])))
    rank = int(os.environ["RANK"])  # set by torchrun for every worker
    save_weights(Path(sys.argv[2]) / f"rank{rank}.safetensors", result.model.state_dict(), {})
