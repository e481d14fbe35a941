"""Accepting images in the forms callers have at hand, and turning them into RGB float tensors."""

from __future__ import annotations

import numpy as np
import torch

# Integer images are scaled by their dtype's full range, as PIL / scikit-image do.
_INT_SCALE = {np.uint8: 255.0, np.uint16: 65535.0}


def to_rgb_tensor(image: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Convert an RGB image or batch to a channel-first float tensor in [0, 1].

    Args:
        image: either
            - a torch tensor (*, 3, H, W), channel-first: float in [0, 1] (kept as is, dtype and
              device preserved) or uint8 in 0-255 (scaled to float32), or
            - a numpy array (*, H, W, 3), channel-last as PIL / scikit-image give it: uint8 (0-255)
              or uint16 (0-65535) scaled to float32, or float in [0, 1] (float64 stays float64).

    Returns:
        (*, 3, H, W) floating tensor with the input's leading (batch) dimensions.
    """
    if isinstance(image, np.ndarray):
        if image.ndim < 3 or image.shape[-1] != 3:
            hint = " (numpy images are channel-last: (H, W, 3))" if image.ndim >= 3 and image.shape[-3] == 3 else ""
            raise ValueError(f"expected a (*, H, W, 3) RGB array, got shape {image.shape}{hint}")
        scale = _INT_SCALE.get(image.dtype.type)
        if scale is not None:
            tensor = torch.from_numpy(image.astype(np.float32) / np.float32(scale))
        elif np.issubdtype(image.dtype, np.floating):
            tensor = torch.from_numpy(np.ascontiguousarray(image))
            if tensor.dtype == torch.float16:
                tensor = tensor.float()
        else:
            raise TypeError(f"unsupported image dtype {image.dtype}; use uint8, uint16 or float in [0, 1]")
        return tensor.movedim(-1, -3)
    if isinstance(image, torch.Tensor):
        if image.dim() < 3 or image.shape[-3] != 3:
            raise ValueError(f"expected a (*, 3, H, W) RGB tensor, got shape {tuple(image.shape)}")
        if image.dtype == torch.uint8:
            return image.float() / 255.0
        if not image.is_floating_point():
            raise TypeError(f"unsupported tensor dtype {image.dtype}; use uint8 or float in [0, 1]")
        return image
    raise TypeError(f"expected a torch.Tensor or numpy.ndarray, got {type(image).__name__}")


def rgb_pair(pred, target) -> tuple[torch.Tensor, torch.Tensor]:
    """Convert two images of the same shape; both end up on pred's device with a common dtype."""
    p, t = to_rgb_tensor(pred), to_rgb_tensor(target)
    if p.shape != t.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(p.shape)} vs {tuple(t.shape)}")
    dtype = torch.promote_types(p.dtype, t.dtype)
    return p.to(dtype), t.to(device=p.device, dtype=dtype)
