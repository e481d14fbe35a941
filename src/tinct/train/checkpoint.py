"""Run-folder checkpoints: release weights (.safetensors) and an exact-resume state file.

The resume file holds only tensors, numbers, strings, lists and dicts, so it loads with
`torch.load(weights_only=True)`: no pickled code is ever executed.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from tinct.io.images import atomic_write_bytes
from tinct.io.weights import load_torch_checkpoint


def save_resume_state(path: str | Path, state: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_resume_state(path: str | Path) -> dict[str, Any]:
    state = load_torch_checkpoint(path)
    if not isinstance(state, dict) or "epoch" not in state or "model" not in state:
        raise ValueError(f"{path}: not a tinct resume file")
    return state
