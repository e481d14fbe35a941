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
    (known architecture, known fields, valid values) before any weights are copied.

    A file that is not tinct's (any other suffix, e.g. ``.pth``/``.pt``, read with
    ``torch.load(weights_only=True)``; or a ``.safetensors`` file without tinct's metadata) is
    accepted if its keys are those of a published checkpoint tinct knows (see
    :func:`load_published`)."""
    if Path(path).suffix != ".safetensors":
        return load_published(path, map_location)
    state, meta = load_weights(path)
    if not meta and state:
        return load_published(path, map_location, state=state)
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
    ``"params"`` (DDColor's releases), ``"state_dict"`` or ``"model"`` is unwrapped; for ``ddcolor`` the
    encoder size and decoder settings are read from the keys. Keys and shapes are checked as for
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
    state = read_state_dict(path)
    found = recognise_state_dict(state) if arch == "ddcolor" else None
    if found is not None:  # the encoder size and decoder settings are in the keys
        return load_published(path, map_location, state=state)[0]
    model = create_model(arch)
    _fill_defaults(model, state)
    load_state_dict_checked(model, state, strict=True, source=path)
    return model.to(map_location).eval()


#: Keys under which published checkpoints wrap their state dict: basicsr's ``params`` (DDColor's
#: releases) and ``params_ema``, and the common ``state_dict`` / ``model``.
_WRAPPERS = ("params", "params_ema", "state_dict", "model")


def read_state_dict(path: str | os.PathLike, state: Any = None) -> dict[str, torch.Tensor]:
    """The state dict in a weights file that does not describe itself: ``.safetensors`` read with
    safetensors, anything else with ``torch.load(weights_only=True)`` (never an arbitrary pickle),
    unwrapped from ``{"params": ...}`` and the like (see :data:`_WRAPPERS`).

    Raises:
        WeightsError: unreadable, refused or corrupt file, or no mapping of names to tensors.
    """
    path = Path(path)
    if state is None:
        state = load_weights(path)[0] if path.suffix == ".safetensors" else load_torch_checkpoint(path)
    if isinstance(state, Mapping) and not all(isinstance(v, torch.Tensor) for v in state.values()):
        state = next((state[k] for k in _WRAPPERS if isinstance(state.get(k), Mapping)), state)
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: not a state dict (a mapping of parameter names to tensors)")
    return dict(state)


def recognise_state_dict(state: Mapping[str, torch.Tensor]) -> tuple[str, dict[str, Any]] | None:
    """``(architecture, config overrides)`` of a published checkpoint, from its keys and shapes
    alone; None if no known layout matches. Known: DDColor (both encoder sizes)."""
    from tinct.models.ddcolor import config_from_state_dict

    overrides = config_from_state_dict(dict(state))
    return ("ddcolor", overrides) if overrides is not None else None


def _fill_defaults(model: ColorizationModel, state: dict[str, torch.Tensor]) -> None:
    # BatchNorm counters are unused at inference; DDColor's ImageNet mean/std are constants. Files
    # saved without them (the authors load non-strictly) are complete without them.
    for key, value in model.state_dict().items():
        if key.endswith(".num_batches_tracked") or key in ("mean", "std"):
            state.setdefault(key, value)


def load_published(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", *, state: Any = None
) -> tuple[ColorizationModel, dict[str, Any]]:
    """A model built from a published checkpoint exactly as downloaded (e.g. DDColor's
    ``ddcolor_paper_tiny.pth``: ``{'params': state_dict}`` or a bare state dict, ``.pth``/``.pt``
    or ``.safetensors``). The architecture and its config are recognised from the keys, then every
    key and shape is checked (one report naming what differs).

    Returns:
        ``(model, metadata)``, metadata as a tinct file would hold it, with ``source`` naming
        the file, so that ``tinct convert`` can write it out as a self-describing file.

    Raises:
        WeightsError: unreadable, refused (unsafe pickle) or corrupt file; a state dict of no known
            layout; or keys/shapes that do not match the recognised architecture. One line.
    """
    path = Path(path)
    state = read_state_dict(path, state)
    found = recognise_state_dict(state)
    if found is None:
        raise WeightsError(
            f"{path}: not a tinct weights file, and its keys are not those of a published checkpoint tinct "
            f"knows (DDColor); for a bare state dict of a tinct architecture use --model ARCH --weights FILE"
        )
    arch, overrides = found
    model = create_model(arch, **overrides)
    _fill_defaults(model, state)
    load_state_dict_checked(model, state, strict=True, source=path)
    model.to(map_location).eval()
    return model, model_metadata(model, source=path.name)


def convert_checkpoint(
    source: str | os.PathLike, target: str | os.PathLike, *, half: bool = False
) -> tuple[Path, dict[str, Any]]:
    """Rewrite weights (a published checkpoint such as DDColor's ``.pth``, or a tinct file) as a
    self-describing tinct ``.safetensors`` file: architecture, config, ``source`` (the original
    file's name) and tinct's version in its metadata, so that it loads with :func:`load_model`
    without any pickle.

    Args:
        half: store floating-point tensors as float16 (half the size; loaded back as float32).

    Returns:
        ``(Path(target), metadata written)``.

    Raises:
        ValueError: ``target`` does not end in ``.safetensors``.
        WeightsError: ``source`` is not usable weights (see :func:`load_model`).
    """
    source, target = Path(source), Path(target)
    if target.suffix != ".safetensors":
        raise ValueError(f"{target}: the converted file must be a .safetensors file")
    model, meta = load_model(source)
    extra = {k: v for k, v in meta.items() if k not in model_metadata(model)}
    extra.setdefault("source", source.name)
    save_model(target, model, dtype=torch.float16 if half else None, **extra)
    return target, model_metadata(model, **extra)
