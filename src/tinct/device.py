"""Choosing a torch device from a user's string (shared by training, inference and serving)."""

from __future__ import annotations

import torch


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def pick_device(name: str | torch.device | None = "auto", local_rank: int = 0) -> torch.device:
    """`auto` (or None) → cuda:`local_rank` if available, else mps, else cpu. Anything else must
    name a device that exists here; otherwise ValueError with the reason."""
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
