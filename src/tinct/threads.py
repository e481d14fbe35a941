"""How many CPU threads tinct's own work uses (color conversion pools, ONNX Runtime, torch).

A leaf module (it imports nothing of tinct's, and not torch), so that every layer, the torch-free
inference path included, reads one setting: ``tinct colorize --threads N`` sets it.
"""

from __future__ import annotations

import os
import sys

__all__ = ["get_num_threads", "set_num_threads", "torch_threads_set"]

_threads: int | None = None


def _available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))  # respects taskset / container CPU sets
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def get_num_threads() -> int:
    """The thread count set by :func:`set_num_threads`, else the CPUs this process may run on."""
    return _threads if _threads is not None else _available_cores()


def set_num_threads(n: int) -> None:
    """Use ``n`` >= 1 threads from now on; torch too, if it is imported now or later by tinct
    (``tinct.inference.backends.TorchBackend`` applies it)."""
    global _threads
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"threads must be at least 1, got {n!r}")
    _threads = int(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(_threads)


def torch_threads_set() -> bool:
    """Whether a thread count was set explicitly (torch then gets it too)."""
    return _threads is not None
