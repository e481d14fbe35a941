"""tinct.device: which device a user's name, or one torchrun process among several, gets."""

from __future__ import annotations

import pytest
import torch

import tinct.device
from tinct.device import local_device, pick_device


@pytest.fixture
def gpus(monkeypatch):
    """Pretend this machine has ``n`` CUDA devices."""

    def have(n: int) -> None:
        monkeypatch.setattr(tinct.device, "accelerator_may_exist", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)

    return have


def test_each_local_rank_gets_its_own_gpu(gpus, monkeypatch):
    gpus(2)
    assert [local_device("auto", rank) for rank in range(4)] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert local_device("cuda", 1) == "cuda:1"
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert local_device() == "cuda:1"  # torchrun's LOCAL_RANK by default
    assert local_device("cpu") == "cpu" and local_device("cuda:0") == "cuda:0"  # an explicit choice stands


def test_without_cuda_the_name_is_left_for_pick_device(gpus):
    gpus(0)
    assert local_device("auto", 3) == "auto" and local_device("cuda", 1) == "cuda"


def test_pick_device_refuses_unknown_names():
    assert pick_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device"):
        pick_device("gpu7")
