"""Weights files that describe themselves, and loading that never runs code from a file.

Release weights are ``.safetensors``: raw tensors plus string metadata, no pickle. tinct stores
its own metadata (model name, config, normalization, version...) as one JSON object under the
safetensors metadata key :data:`METADATA_KEY`. Resume checkpoints (``torch.save``) are loaded
only with ``weights_only=True``.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import safe_open

from .images import atomic_write_bytes

if TYPE_CHECKING:  # torch is imported where it is used: read_weights_metadata must stay torch-free
    import torch

__all__ = [
    "METADATA_KEY",
    "WeightsError",
    "load_state_dict_checked",
    "load_torch_checkpoint",
    "load_weights",
    "read_weights_metadata",
    "save_weights",
]

#: safetensors metadata key holding tinct's JSON-encoded metadata dict.
METADATA_KEY = "tinct"

_MAX_LISTED = 8
_MAX_MESSAGE_CHARS = 1500
# zip (torch.save's default format) and pickle protocol 2+ magic bytes.
_TORCH_MAGIC = (b"PK\x03\x04", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


class WeightsError(Exception):
    """A weights/checkpoint file cannot be used; the message is one line naming the file."""


def _one_line(text: str, limit: int = _MAX_MESSAGE_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _error(path: Any, reason: str) -> WeightsError:
    return WeightsError(_one_line(f"{os.fsdecode(os.fspath(path))}: {reason}"))


def _check_file(path: Path) -> None:
    if not path.exists():
        raise _error(path, "no such file")
    if path.is_dir():
        raise _error(path, "is a directory, not a weights file")
    if path.stat().st_size == 0:
        raise _error(path, "empty file (0 bytes)")


def save_weights(
    path: str | os.PathLike,
    state_dict: Mapping[str, torch.Tensor],
    metadata: Mapping[str, Any] | None = None,
    *,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write ``state_dict`` and ``metadata`` to a ``.safetensors`` file, atomically.

    Args:
        state_dict: name -> tensor (any device; copied to CPU, made contiguous). Tensors that
            share memory (tied weights) are stored as separate copies.
        metadata: JSON-serializable dict (e.g. ``{"model": "unet", "config": {...}}``), stored as
            one JSON string under :data:`METADATA_KEY`.
        dtype: if given (e.g. ``torch.float16`` to halve the file), floating-point tensors are
            cast to it; integer/bool tensors (e.g. BatchNorm counters) are kept as they are.

    Returns:
        ``Path(path)``.
    """
    import torch

    path = Path(path)
    if dtype is not None and not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")
    try:
        encoded = json.dumps(dict(metadata or {}), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: metadata must be JSON-serializable ({exc})") from exc
    tensors: dict[str, torch.Tensor] = {}
    seen_storages: set[int] = set()
    for name, value in state_dict.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise TypeError(f"{path}: state_dict entry {name!r} is not a str -> Tensor pair")
        t = value.detach().to("cpu")
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        t = t.contiguous()
        # safetensors refuses tensors sharing storage; copies keep the file self-contained.
        ptr = t.untyped_storage().data_ptr()
        if t.numel() and ptr in seen_storages:
            t = t.clone()
        elif t.numel():
            seen_storages.add(ptr)
        tensors[name] = t
    from safetensors.torch import save as _safetensors_save

    data = _safetensors_save(tensors, metadata={"format": "pt", METADATA_KEY: encoded})
    atomic_write_bytes(path, data)
    return path


def load_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a ``.safetensors`` file (never a pickle).

    Returns:
        ``(state_dict, metadata)``: CPU tensors, floating ones as float32 (whatever was stored);
        ``metadata`` is the dict given to :func:`save_weights`, or ``{}`` for a safetensors file
        written by someone else (no :data:`METADATA_KEY`).

    Raises:
        WeightsError: missing/empty file, not a safetensors file (a PyTorch pickle is named as
            such), or metadata that is not a JSON object. One line, naming the file.
    """

    path = Path(path)
    _check_file(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            raw_meta = f.metadata() or {}
            state_dict = {}
            for name in f.keys():
                t = f.get_tensor(name)
                state_dict[name] = t.float() if t.is_floating_point() else t
    except Exception as exc:
        with open(path, "rb") as fh:
            head = fh.read(4)
        if head.startswith(_TORCH_MAGIC):
            raise _error(
                path,
                "not a safetensors file: it looks like a pickled PyTorch checkpoint; release weights "
                "must be .safetensors (load resume checkpoints with load_torch_checkpoint)",
            ) from exc
        raise _error(path, f"not a safetensors file ({type(exc).__name__}: {_one_line(str(exc), 200)})") from exc
    text = raw_meta.get(METADATA_KEY)
    if text is None:
        return state_dict, {}
    try:
        metadata = json.loads(text)
    except ValueError as exc:
        raise _error(path, f"metadata {METADATA_KEY!r} is not valid JSON ({exc})") from exc
    if not isinstance(metadata, dict):
        raise _error(path, f"metadata {METADATA_KEY!r} must be a JSON object, got {type(metadata).__name__}")
    return state_dict, metadata


def read_weights_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The tinct metadata of a ``.safetensors`` file, read from its header only (no tensors, no
    torch): ``{}`` for a file without it.

    Raises:
        WeightsError: missing file, not a safetensors file, or metadata that is not a JSON object.
    """
    path = Path(path)
    _check_file(path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            raw = (f.metadata() or {}).get(METADATA_KEY)
    except Exception as exc:
        raise _error(path, f"not a safetensors file ({type(exc).__name__}: {_one_line(str(exc), 200)})") from exc
    if raw is None:
        return {}
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError:
        meta = None
    if not isinstance(meta, dict):
        raise _error(path, f"its '{METADATA_KEY}' metadata is not a JSON object")
    return meta


def load_torch_checkpoint(path: str | os.PathLike, *, safe_globals: Sequence[Any] = ()) -> Any:
    """Load a ``torch.save`` file with ``weights_only=True`` onto the CPU.

    Only tensors, containers and plain Python values are allowed (plus the classes/functions in
    ``safe_globals``, e.g. a config dataclass the caller trusts); a file containing any other
    Python object is refused, because unpickling it could execute arbitrary code.

    Raises:
        WeightsError: missing/empty file, a refused (unsafe) pickle, or a corrupt checkpoint.
    """
    import torch

    path = Path(path)
    _check_file(path)
    try:
        if safe_globals:
            with torch.serialization.safe_globals(list(safe_globals)):
                return torch.load(path, map_location="cpu", weights_only=True)
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        found = re.search(r"GLOBAL (\S+)", text)
        if found or "Unsupported global" in text:
            culprit = f": {found.group(1)}" if found else ""
            raise _error(
                path,
                "refused: the file contains arbitrary Python objects, and unpickling them could execute "
                f"code (weights_only=True rejected a disallowed global{culprit})",
            ) from exc
        detail = re.search(r"WeightsUnpickler error:\s*(.*?)\s*(?:Check the documentation|$)", text, re.S)
        reason = _one_line(detail.group(1) if detail else text, 200)
        raise _error(path, f"cannot load checkpoint (corrupt or not a PyTorch checkpoint: {reason})") from exc
    except Exception as exc:
        raise _error(path, f"cannot load checkpoint ({type(exc).__name__}: {_one_line(str(exc), 200)})") from exc


def _shape(shape: Iterable[int]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _listing(label: str, items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    more = f", ... (+{len(items) - _MAX_LISTED} more)" if len(items) > _MAX_LISTED else ""
    return f"{len(items)} {label}: {shown}{more}"


def _prefix_hint(missing: list[str], unexpected: list[str]) -> str:
    for prefix, origin in (("module.", "DistributedDataParallel"), ("_orig_mod.", "torch.compile")):
        if unexpected and all(k.startswith(prefix) for k in unexpected):
            stripped = {k[len(prefix) :] for k in unexpected}
            if stripped & set(missing):
                return f" (hint: keys carry the {prefix!r} prefix of a {origin} wrapper; unwrap it first)"
    return ""


def load_state_dict_checked(
    module: torch.nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    strict: bool = True,
    source: str | os.PathLike | None = None,
) -> Any:
    """``module.load_state_dict`` with a readable report instead of torch's wall of text.

    Keys and shapes are compared by name first. Shape mismatches always raise (loading them is
    never right); missing and unexpected keys raise only when ``strict``.

    Args:
        source: the weights file, to name it in the error message.

    Returns:
        torch's ``(missing_keys, unexpected_keys)`` named tuple (both empty when ``strict``).

    Raises:
        WeightsError: one line such as ``"w.safetensors: weights do not match UNet: 1 missing
            key: head.bias; 1 shape mismatch: head.weight: file (2, 64) vs model (313, 64)"``.
    """

    expected = module.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f"{k}: file {_shape(state_dict[k].shape)} vs model {_shape(expected[k].shape)}"
        for k in expected
        if k in state_dict and tuple(state_dict[k].shape) != tuple(expected[k].shape)
    ]
    parts = []
    if strict and missing:
        parts.append(_listing("missing key" + ("s" if len(missing) > 1 else ""), missing))
    if strict and unexpected:
        parts.append(_listing("unexpected key" + ("s" if len(unexpected) > 1 else ""), unexpected))
    if mismatched:
        parts.append(_listing("shape mismatch" + ("es" if len(mismatched) > 1 else ""), mismatched))
    where = f"{os.fsdecode(os.fspath(source))}: " if source is not None else ""
    if parts:
        hint = _prefix_hint(missing, unexpected)
        raise WeightsError(
            _one_line(f"{where}weights do not match {type(module).__name__}: " + "; ".join(parts) + hint)
        )
    try:
        return module.load_state_dict(state_dict, strict=strict)
    except RuntimeError as exc:  # e.g. a custom _load_from_state_dict refusing a value
        message = f"{where}cannot load weights into {type(module).__name__}: {exc}"
        raise WeightsError(_one_line(message)) from exc
