"""Save and load models as self-describing safetensors files."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

import tinct
from tinct.io.weights import WeightsError, load_state_dict_checked, load_torch_checkpoint, load_weights, save_weights
from tinct.models._registry import create_model, list_models
from tinct.models.base import ColorizationModel

FORMAT = "tinct-weights/1"


def model_metadata(model: ColorizationModel, **extra: Any) -> dict[str, Any]:
    """What a weights file says about itself: architecture, config, I/O conventions, version."""
    config = dataclasses.asdict(model.config)
    config.pop("pretrained", None)  # the weights themselves replace any pretrained init
    return {
        "format": FORMAT,
        "model": model.config.name,
        "config": config,
        "input": "L* in [0, 100], shape (N, 1, H, W)",
        "output": "a*b*/128 (regression) or logits over a*b* bins (classification)",
        "tinct_version": tinct.__version__,
        **extra,
    }


def save_model(path: str | Path, model: ColorizationModel, dtype: torch.dtype | None = None, **extra: Any) -> None:
    """Write `model`'s weights and description atomically to a .safetensors file."""
    save_weights(path, model.state_dict(), model_metadata(model, **extra), dtype=dtype)


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[ColorizationModel, dict[str, Any]]:
    """Rebuild a model from a tinct .safetensors file. The config in the metadata is validated
    (known architecture, known fields, valid values) before any weights are copied."""
    state, meta = load_weights(path)
    name = meta.get("model")
    if meta.get("format") != FORMAT or not isinstance(name, str):
        raise WeightsError(f"{path}: not a tinct weights file (no model description in its metadata)")
    if name not in list_models():
        raise WeightsError(f"{path}: unknown architecture {name!r}; available: {', '.join(list_models())}")
    config = meta.get("config")
    if not isinstance(config, dict):
        raise WeightsError(f"{path}: metadata 'config' must be an object")
    config = {k: v for k, v in config.items() if k != "name"}
    try:
        model = create_model(name, **config)
    except (TypeError, ValueError) as err:
        raise WeightsError(f"{path}: invalid model config ({err})") from None
    load_state_dict_checked(model, state, strict=True, source=path)
    model.to(map_location).eval()
    return model, meta


def load_state_dict_file(
    arch: str, path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> ColorizationModel:
    """A fresh ``arch`` (a registered architecture, default config) with the state dict in ``path``.

    For weights that do not describe themselves, e.g. the authors' published ``.pth`` files for
    ``eccv16`` / ``siggraph17``: ``.safetensors`` files are read with safetensors, anything else
    with ``torch.load(weights_only=True)``. A checkpoint that wraps the state dict under
    ``"state_dict"`` or ``"model"`` is unwrapped. Keys and shapes are checked as for
    :func:`load_model` (one report naming every missing, unexpected or mis-shaped key).

    Raises:
        ValueError: ``arch`` is not a registered architecture.
        WeightsError: unreadable file, not a state dict, or keys/shapes that do not match.
    """
    if arch not in list_models():
        raise ValueError(
            f"a state-dict weights file needs the model to name an architecture ({', '.join(list_models())}), "
            f"got {arch!r}"
        )
    path = Path(path)
    state = load_weights(path)[0] if path.suffix == ".safetensors" else load_torch_checkpoint(path)
    if isinstance(state, Mapping) and not all(isinstance(v, torch.Tensor) for v in state.values()):
        state = next((state[k] for k in ("state_dict", "model") if isinstance(state.get(k), Mapping)), state)
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: not a state dict (a mapping of parameter names to tensors)")
    model = create_model(arch)
    state = dict(state)
    for key, value in model.state_dict().items():
        if key.endswith(".num_batches_tracked"):  # BatchNorm counters: absent from older files, unused here
            state.setdefault(key, value)
    load_state_dict_checked(model, state, strict=True, source=path)
    return model.to(map_location).eval()
