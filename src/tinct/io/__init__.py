"""tinct.io: safe image reading/writing and self-describing weights files.

Images: :func:`read_image` -> ``(H, W, 3)`` uint8 RGB or a one-line :class:`ImageReadError`;
:func:`write_image` / :func:`atomic_open` write atomically and never overwrite inputs;
:data:`ENCODINGS` is the one table of output formats and their save options (:func:`encode_image`
encodes in memory, as the server does).
Weights: :func:`save_weights` / :func:`load_weights` (safetensors + JSON metadata),
:func:`read_weights_metadata` (the header only), :func:`load_torch_checkpoint`
(``weights_only=True``), :func:`load_state_dict_checked`.

Names are imported on first use (PEP 562): neither module imports torch at import time.
"""

from __future__ import annotations

from tinct._lazy import lazy_exports

_IMAGES = (
    "DEFAULT_QUALITY", "ENCODINGS", "IMAGE_EXTENSIONS", "READ_MAX_PIXELS", "WRITE_FORMATS", "ImageEncoding",
    "ImageReadError", "ImageWriteError", "atomic_open", "atomic_write_bytes", "encode_image", "is_grayscale",
    "list_images", "open_image_size", "output_encoding", "read_image", "write_image",
)  # fmt: skip
_WEIGHTS = (
    "METADATA_KEY", "WeightsError", "load_state_dict_checked", "load_torch_checkpoint", "load_weights",
    "read_weights_metadata", "save_weights",
)  # fmt: skip

__all__ = sorted(_IMAGES + _WEIGHTS)


__getattr__ = lazy_exports(__name__, {**dict.fromkeys(_IMAGES, "images"), **dict.fromkeys(_WEIGHTS, "weights")})
