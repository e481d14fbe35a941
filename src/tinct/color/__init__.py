"""Color math, one job per module (imports nothing else from tinct but the leaves
``tinct.threads`` and ``tinct._lazy``):

- :mod:`~tinct.color.constants`: the numbers of sRGB <-> L*a*b* (torch-free);
- :mod:`~tinct.color.lab`: ``rgb_to_lab`` / ``lab_to_rgb`` / ``rgb_to_lightness`` on (*, 3, H, W) tensors;
- :mod:`~tinct.color.fast`: their fast float32 CPU path (numba kernels in ``_kernels``);
- :mod:`~tinct.color.rgb8`: 8-bit images in and out at full resolution (compiled kernels in
  ``_rgb8.c``; torch-free, the inference path);
- :mod:`~tinct.color.gamut_mapping`: bringing out-of-gamut colors inside at their L* and hue;
- :mod:`~tinct.color.ab_bins`: the quantized a*b* classes (soft encoding, rebalancing, annealed mean).

Names are imported on first use (PEP 562), so ``tinct.color.rgb8`` loads without torch.
"""

from __future__ import annotations

from tinct._lazy import lazy_exports

_EXPORTS = {
    "WHITE_D65": "constants",
    "XYZ_FROM_RGB": "constants",
    "lab_to_rgb_uint8": "rgb8",
    "lightness_chroma_to_rgb_uint8": "rgb8",
    "uint8_lightness": "rgb8",
    "lab_to_rgb": "lab",
    "linear_to_srgb": "lab",
    "rgb_to_lab": "lab",
    "rgb_to_lightness": "lab",
    "srgb_to_linear": "lab",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
