"""What an output was made with, recorded inside the output file itself.

A rerun of ``tinct colorize`` must tell apart an output that is up to date (same weights, same
size, vividness and hints: skipped, so an interrupted batch resumes) from one made with other
settings (``--vividness 0.8`` after a plain run: made again, or the user would conclude the
option does nothing) and from a file tinct did not write (never replaced without
``--overwrite``). The settings travel with the file, not in a side file, so that copying,
renaming or sharding a batch over many processes can never separate them.

Where the record lives: a PNG ``tEXt`` chunk named :data:`PNG_KEY`; the EXIF ImageDescription
(tag 270) of a JPEG, WebP or TIFF; the ``comment`` tag of an MP4. Each is read from the file's
header, without decoding pixels. The text is ``"tinct <version> <json>"``; only the JSON part is
compared. torch-free.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "PNG_KEY",
    "compare_path",
    "decode_settings",
    "describe",
    "describe_request",
    "encode_settings",
    "read_settings",
]

#: PNG text chunk holding the record.
PNG_KEY = "tinct"
_EXIF_DESCRIPTION = 270
_PREFIX = "tinct "


def _digest(path: str | os.PathLike) -> str:
    """First 16 hex digits of the file's SHA-256 (an 11 MB weights file: ~15 ms)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()[:16]


def describe(
    weights: str | os.PathLike,
    *,
    architecture: str | None = None,
    onnx: str | os.PathLike | None = None,
    size: int | None = None,
    vividness: float | None = None,
    hints: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """The settings an output depends on, as a JSON-able dict.

    Args:
        weights: the weights file (its bytes are hashed: renaming it changes nothing, retraining
            into the same path does).
        architecture: the architecture name a bare state dict was loaded into (``--weights``).
        onnx: an ONNX file given explicitly (``--onnx``), hashed too.
        size: working resolution in pixels, ``None`` = the model's (fixed by the weights).
        vividness: in [0, 1], ``None`` = the model's (fixed by the weights).
        hints: ``(x, y, (r, g, b))`` tuples or ``{"x", "y", "color"}`` dicts, in input pixels.

    Not included, because outputs do not depend on them beyond one 8-bit level: the backend
    (torch or ONNX Runtime), the device, the thread count.
    """
    from tinct.inference.hint_specs import parse_color

    record: dict[str, Any] = {"weights": _digest(weights)}
    if architecture is not None:
        record["architecture"] = architecture
    if onnx is not None:
        record["onnx"] = _digest(onnx)
    record["size"] = None if size is None else int(size)
    record["vividness"] = None if vividness is None else float(vividness)
    points = []
    for hint in hints or ():
        x, y, color = (hint["x"], hint["y"], hint["color"]) if isinstance(hint, Mapping) else hint
        r, g, b = parse_color(color)
        points.append([float(x), float(y), f"#{r:02x}{g:02x}{b:02x}"])
    record["hints"] = points
    return record


def describe_request(
    model: str | os.PathLike = "default",
    *,
    weights: str | os.PathLike | None = None,
    onnx: str | os.PathLike | None = None,
    size: int | None = None,
    vividness: float | None = None,
    hints: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """:func:`describe` of what ``Colorizer.load(model, weights=weights, onnx=onnx, size=size)``
    and ``colorize(vividness=, hints=)`` would make, found without loading anything: the weights
    file that ``model`` names, or ``weights`` loaded into the architecture ``model``.

    Raises:
        FileNotFoundError: ``weights`` or ``onnx`` is not a file; ``model`` names no weights.
    """
    from tinct.inference.lookup import resolve_weights

    for option, path in (("--weights", weights), ("--onnx", onnx)):
        if path is not None and not os.path.isfile(path):
            raise FileNotFoundError(f"{option} {os.fsdecode(path)}: no such file")
    if weights is not None:
        source, architecture = weights, os.fspath(model)
    else:
        source, architecture = resolve_weights(model), None
    return describe(source, architecture=architecture, onnx=onnx, size=size, vividness=vividness, hints=hints)


def encode_settings(settings: Mapping[str, Any]) -> str:
    """``"tinct <version> <json>"``: what is written into an output's metadata."""
    from tinct import __version__

    return f"{_PREFIX}{__version__} {json.dumps(settings, sort_keys=True, separators=(',', ':'))}"


def decode_settings(text: Any) -> dict[str, Any] | None:
    """The settings dict of an :func:`encode_settings` text; ``None`` for anything else."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str) or not text.startswith(_PREFIX):
        return None
    _, _, payload = text[len(_PREFIX) :].partition(" ")
    try:
        found = json.loads(payload)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def read_settings(path: str | os.PathLike) -> dict[str, Any] | None:
    """The settings recorded in an output file, or ``None`` (not written by tinct, unreadable,
    or written before tinct recorded them). Reads headers only."""
    path = Path(path)
    if path.suffix.lower() == ".mp4":
        try:
            from tinct.io.video import import_av

            with import_av().open(os.fspath(path), "r") as container:
                return decode_settings(container.metadata.get("comment"))
        except Exception:  # any unreadable file is simply "not known to be ours"
            return None
    try:
        from PIL import Image

        with Image.open(path) as img:
            if img.format == "PNG":
                return decode_settings(img.info.get(PNG_KEY))
            return decode_settings(img.getexif().get(_EXIF_DESCRIPTION))
    except Exception:
        return None


def compare_path(output: str | os.PathLike) -> Path:
    """Where ``--compare`` writes the before/after picture of ``output``: ``<stem>.compare<suffix>``
    beside it (``out/old.jpg`` → ``out/old.compare.jpg``; a film → ``film.compare.mp4``)."""
    output = Path(output)
    return output.with_name(f"{output.stem}.compare{output.suffix}")
