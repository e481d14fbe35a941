"""Training: one loop for a single process and for torchrun (DistributedDataParallel).

Names are imported on first use (PEP 562): ``tinct.train.args`` (the recipe) loads without
torch, so ``tinct --help`` builds the ``train`` options without it.
"""

from __future__ import annotations

from tinct._lazy import lazy_exports

_EXPORTS = {"TrainConfig": "args", "load_config": "args", "resolve_config": "args", "FitResult": "loop", "fit": "loop"}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
