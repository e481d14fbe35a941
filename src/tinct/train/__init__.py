"""Training: one loop for a single process and for torchrun (DistributedDataParallel).

Names are imported on first use (PEP 562): ``tinct.train.args`` (the recipe) loads without
torch, so ``tinct --help`` builds the ``train`` options without it.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"TrainConfig": "args", "load_config": "args", "FitResult": "loop", "fit": "loop"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tinct.train' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tinct.train.{module}"), name)
