"""torchrun with 2 CPU processes (gloo) trains exactly what one process does over the same global batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tinct.io.weights import load_weights
from tinct.train import TrainConfig, fit

from .conftest import write_photos

WORKER = Path(__file__).with_name("ddp_worker.py")


@pytest.mark.slow  # torchrun with two training processes plus a one-process run: tens of seconds
def test_two_process_training_matches_one_process(tmp_path):
    data = tmp_path / "data"
    write_photos(data, 8, size=(96, 96))
    # The seed model has no batch norm, so per-process statistics cannot make the runs differ.
    # SGD, because Adam's first steps move every weight by ±lr whatever the gradient's size, so the
    # last-bit differences of a distributed gradient sum flip near-zero gradients into ±lr updates.
    common = dict(
        data=str(data), model="seed", size=128, epochs=2, batch_size=4, lr=1e-2, optimizer="sgd", threads=1, seed=3
    )
    single = fit(TrainConfig(**common, out=str(tmp_path / "single"))).model.state_dict()

    ranks = tmp_path / "ranks"
    ranks.mkdir()
    config = json.dumps({**common, "out": str(tmp_path / "ddp")})
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(WORKER),
        config,
        str(ranks),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]

    rank0, _ = load_weights(ranks / "rank0.safetensors")
    rank1, _ = load_weights(ranks / "rank1.safetensors")
    for name, value in single.items():
        assert torch.equal(rank0[name], rank1[name]), f"ranks differ at {name}"
        diff = (rank0[name] - value).abs().max().item()
        assert diff <= 1e-5, f"DDP differs from one process at {name} by {diff}"
    # Only rank 0 wrote the run folder, and it is complete.
    assert (tmp_path / "ddp" / "checkpoints" / "last.safetensors").is_file()
    assert len((tmp_path / "ddp" / "metrics.csv").read_text().splitlines()) == 3
