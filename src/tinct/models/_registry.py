"""Model registry: every architecture registers a constructor under a short name (as in timm)."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable:
    """Decorator: register `fn(**config_overrides) -> ColorizationModel` under `name`."""

    def decorator(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        _MODELS[name] = fn
        return fn

    return decorator


def create_model(name: str, **overrides) -> nn.Module:
    """Build a registered architecture with freshly initialised weights.

    Overrides replace fields of the model's config dataclass, e.g. `create_model("unet",
    head="regression")`. Unknown names raise ValueError listing what exists.
    """
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    return _MODELS[name](**overrides)


def list_models() -> list[str]:
    return sorted(_MODELS)
