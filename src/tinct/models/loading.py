"""Save and load models as self-describing safetensors files."""

from __future__ import annotations

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
    config = model.config.to_dict()
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


def load_model(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", *, arch: str | None = None
) -> tuple[ColorizationModel, dict[str, Any]]:
    """The one loader: a weights file → ``(model in eval mode on map_location, what the file says)``.

    What the file holds decides how the model is built, and the config is validated (known
    architecture, known fields, valid values) before any weights are copied:

    * a tinct ``.safetensors`` file: the architecture and config in its metadata;
    * any other file (``.pth``/``.pt`` read with ``torch.load(weights_only=True)``, or a
      ``.safetensors`` file without tinct's metadata), ``arch`` None: a published checkpoint,
      recognised by its keys (:func:`recognise_state_dict`; DDColor, both encoder sizes);
    * ``arch`` given: a bare state dict for a fresh ``arch`` with its default config (e.g. the
      authors' ``.pth`` for ``eccv16`` / ``siggraph17``); for ``ddcolor`` the encoder size and
      decoder settings are read from the keys.

    Checkpoints that wrap the state dict under ``"params"`` (DDColor's releases), ``"state_dict"``
    or ``"model"`` are unwrapped. Keys and shapes are checked in one report naming every missing,
    unexpected or mis-shaped key. For a file that does not describe itself, the metadata returned
    is what a tinct file would hold, with ``source`` naming the file (so ``tinct convert`` can write
    it out as a self-describing file).

    Raises:
        ValueError: ``arch`` is not a registered architecture.
        WeightsError: unreadable, refused (unsafe pickle) or corrupt file, a state dict of no known
            layout, an invalid config, or keys/shapes that do not match. One line naming the file.
    """
    path = Path(path)
    if arch is not None and arch not in list_models():
        raise ValueError(
            f"a state-dict weights file needs the model to name an architecture ({', '.join(list_models())}), "
            f"got {arch!r}"
        )
    meta: dict[str, Any] = {}
    if arch is None and path.suffix == ".safetensors":
        state, meta = load_weights(path)
        state = state if meta or not state else read_state_dict(path, state)
    else:
        state = read_state_dict(path)
    if meta or (arch is None and not state):
        name, overrides = _described_architecture(path, meta)
    else:
        found = recognise_state_dict(state) if arch in (None, "ddcolor") else None
        if found is None and arch is None:
            raise WeightsError(
                f"{path}: not a tinct weights file, and its keys are not those of a published checkpoint tinct "
                f"knows (DDColor); for a bare state dict of a tinct architecture use --model ARCH --weights FILE"
            )
        name, overrides = found or (arch, {})
    try:
        model = create_model(name, **overrides)
    except (TypeError, ValueError) as err:
        raise WeightsError(f"{path}: invalid model config ({err})") from None
    if not meta:
        _fill_defaults(model, state)  # files that do not describe themselves may leave constants out
    load_state_dict_checked(model, state, strict=True, source=path)
    model.to(map_location).eval()
    return model, meta or model_metadata(model, source=path.name)


def _described_architecture(path: Path, meta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(architecture, config) from a tinct file's metadata, checked before anything is built."""
    name = meta.get("model")
    if meta.get("format") != FORMAT or not isinstance(name, str):
        raise WeightsError(f"{path}: not a tinct weights file (no model description in its metadata)")
    if name not in list_models():
        raise WeightsError(f"{path}: unknown architecture {name!r}; available: {', '.join(list_models())}")
    config = meta.get("config")
    if not isinstance(config, dict):
        raise WeightsError(f"{path}: metadata 'config' must be an object")
    return name, {k: v for k, v in config.items() if k != "name"}


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
