"""tinct.io: safe image reading/writing and self-describing weights files.

Images: :func:`read_image` -> ``(H, W, 3)`` uint8 RGB or a one-line :class:`ImageReadError`;
:func:`write_image` / :func:`atomic_open` write atomically and never overwrite inputs.
Weights: :func:`save_weights` / :func:`load_weights` (safetensors + JSON metadata),
:func:`load_torch_checkpoint` (``weights_only=True``), :func:`load_state_dict_checked`.
"""

from .images import (
    IMAGE_EXTENSIONS,
    READ_MAX_PIXELS,
    WRITE_FORMATS,
    ImageReadError,
    ImageWriteError,
    atomic_open,
    atomic_write_bytes,
    is_grayscale,
    list_images,
    open_image_size,
    read_image,
    write_image,
)
from .weights import (
    METADATA_KEY,
    WeightsError,
    load_state_dict_checked,
    load_torch_checkpoint,
    load_weights,
    save_weights,
)

__all__ = [
    "READ_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "METADATA_KEY",
    "WRITE_FORMATS",
    "ImageReadError",
    "ImageWriteError",
    "WeightsError",
    "atomic_open",
    "atomic_write_bytes",
    "is_grayscale",
    "list_images",
    "load_state_dict_checked",
    "load_torch_checkpoint",
    "load_weights",
    "open_image_size",
    "read_image",
    "save_weights",
    "write_image",
]
