"""Color math (imports nothing else from tinct), one job per module:

- :mod:`~tinct.color.constants`: the numbers of sRGB <-> L*a*b* (torch-free);
- :mod:`~tinct.color.lab`: ``rgb_to_lab`` / ``lab_to_rgb`` / ``rgb_to_lightness`` on (*, 3, H, W) tensors;
- :mod:`~tinct.color.fast`: the fast full-resolution CPU path (numba kernels in ``_kernels`` on a
  thread pool) and the 8-bit output functions;
- :mod:`~tinct.color.gamut_mapping`: bringing out-of-gamut colors inside at their L* and hue;
- :mod:`~tinct.color.ab_bins`: the quantized a*b* classes (soft encoding, rebalancing, annealed mean).
"""

from tinct.color.constants import WHITE_D65, XYZ_FROM_RGB
from tinct.color.fast import lab_to_rgb_uint8, lightness_chroma_to_rgb_uint8
from tinct.color.lab import lab_to_rgb, linear_to_srgb, rgb_to_lab, rgb_to_lightness, srgb_to_linear

__all__ = [
    "WHITE_D65",
    "XYZ_FROM_RGB",
    "lab_to_rgb",
    "lab_to_rgb_uint8",
    "lightness_chroma_to_rgb_uint8",
    "linear_to_srgb",
    "rgb_to_lab",
    "rgb_to_lightness",
    "srgb_to_linear",
]
