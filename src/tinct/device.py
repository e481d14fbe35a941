"""Choosing a torch device from a user's string (shared by training, inference and serving).

torch is imported inside the functions: :func:`accelerator_may_exist` lets the torch-free
inference path decide without it.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from typing import Any


def _mps_available() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def accelerator_may_exist() -> bool:
    """Whether ``pick_device("auto")`` could pick something other than the CPU, answered without
    importing torch (~1 s): False for a CPU-only torch build (its version ends in ``+cpu``) and
    where no GPU device node exists (NVIDIA ``/dev/nvidia0``, AMD ROCm ``/dev/kfd``) and the
    machine is not an Apple Silicon Mac (MPS). A True answer is only a "maybe": torch decides."""
    try:
        if importlib.metadata.version("torch").endswith("+cpu"):
            return False
    except importlib.metadata.PackageNotFoundError:
        return False
    if sys.platform == "darwin":
        return platform.machine() == "arm64"
    return os.path.exists("/dev/nvidia0") or os.path.exists("/dev/kfd")


def pick_device(name: Any = "auto", local_rank: int = 0) -> Any:
    """`auto` (or None) → cuda:`local_rank` if available, else mps, else cpu (a ``torch.device``).
    Anything else must name a device that exists here; otherwise ValueError with the reason."""
    import torch

    if name is None or name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: no CUDA device is available")
    if device.type == "mps" and not _mps_available():
        raise ValueError(f"device {name!r}: MPS is not available")
    return device


def local_device(name: str = "auto", local_rank: int | None = None) -> str:
    """The device of one of several processes on a machine (torchrun starts one per GPU):
    ``"auto"`` or ``"cuda"`` → the GPU :func:`pick_device` gives ``local_rank`` (default: torchrun's
    ``LOCAL_RANK``), modulo the number of GPUs, where CUDA is available; any other name, or no
    CUDA, → ``name`` as given. A name for :func:`pick_device` or ``Colorizer.load``; torch is not
    imported where no GPU can exist (:func:`accelerator_may_exist`)."""
    if name not in ("auto", "cuda") or not accelerator_may_exist():
        return name
    import torch

    if not torch.cuda.is_available():
        return name
    rank = int(os.environ.get("LOCAL_RANK", 0)) if local_rank is None else local_rank
    return str(pick_device("auto", rank % torch.cuda.device_count()))
