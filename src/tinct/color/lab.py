"""sRGB <-> CIE L*a*b* (D65, 2° observer) on (*, 3, H, W) tensors.

The constants (:mod:`tinct.color.constants`) are the ones scikit-image uses
(`skimage.color.rgb2lab` with its defaults), so results agree with it to float32 precision. Every
constant is created on the input's device and dtype, and every operation is differentiable.

This is the one reference path of each conversion: the same arithmetic whatever the tensor's
size, device or ``requires_grad``. :mod:`tinct.color.fast` has the same conversions for float32
CPU tensors without a gradient, ~10-25x faster, chosen by name by callers that want them and
tested against these. :func:`rgb_to_lightness` gives L* alone (per-level tables for uint8 images,
:mod:`tinct.color.rgb8`).
"""

from __future__ import annotations

import numpy as np
import torch

from tinct.color import rgb8
from tinct.color.constants import EPSILON, FINV_T, KAPPA, LINEAR_T, SRGB_T, WHITE_D65, XYZ_FROM_RGB

__all__ = ["lab_to_rgb", "linear_to_srgb", "rgb_to_lab", "rgb_to_lightness", "srgb_to_linear"]


def _matrix(values, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, device=like.device, dtype=like.dtype)


def _apply_3x3(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Multiply every pixel of a (*, 3, H, W) tensor by a 3×3 matrix."""
    return torch.einsum("ij,...jhw->...ihw", matrix, image)


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB transfer curve inverse: gamma-encoded [0, 1] -> linear [0, 1]."""
    return torch.where(rgb > SRGB_T, ((rgb.clamp(min=SRGB_T) + 0.055) / 1.055) ** 2.4, rgb / 12.92)


def linear_to_srgb(linear: torch.Tensor) -> torch.Tensor:
    """sRGB transfer curve: linear [0, 1] -> gamma-encoded [0, 1] (input assumed ≥ 0)."""
    return torch.where(linear > LINEAR_T, 1.055 * linear.clamp(min=LINEAR_T) ** (1 / 2.4) - 0.055, linear * 12.92)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """Convert sRGB to CIE L*a*b*.

    Args:
        rgb: (*, 3, H, W) float tensor, gamma-encoded sRGB in [0, 1].

    Returns:
        (*, 3, H, W) tensor of the same dtype and device: L* in [0, 100], a* and b* roughly in
        [-128, 127] (about [-86, 98] and [-108, 95] for in-gamut sRGB).
    """
    if rgb.dim() < 3 or rgb.shape[-3] != 3:
        raise ValueError(f"expected a (*, 3, H, W) tensor, got shape {tuple(rgb.shape)}")
    xyz = _apply_3x3(_matrix(XYZ_FROM_RGB, rgb), srgb_to_linear(rgb))
    xyz = xyz / _matrix(WHITE_D65, rgb).view(3, 1, 1)
    # Clamp inside the cube root's branch so its gradient stays finite at 0.
    f = torch.where(xyz > EPSILON, xyz.clamp(min=EPSILON) ** (1 / 3), KAPPA * xyz + 16 / 116)
    fx, fy, fz = f.unbind(-3)
    L = 116 * fy - 16
    a = 500 * (fx - fy)
    b = 200 * (fy - fz)
    return torch.stack((L, a, b), dim=-3)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """Convert CIE L*a*b* to sRGB.

    Args:
        lab: (*, 3, H, W) float tensor with L* in [0, 100] and a*, b* in about [-128, 127].

    Returns:
        (*, 3, H, W) gamma-encoded sRGB. Colors outside the sRGB gamut are clipped to [0, 1]
        per channel (as scikit-image does), so the result is always a valid image.
    """
    if lab.dim() < 3 or lab.shape[-3] != 3:
        raise ValueError(f"expected a (*, 3, H, W) tensor, got shape {tuple(lab.shape)}")
    L, a, b = lab.unbind(-3)
    fy = (L + 16) / 116
    fx = fy + a / 500
    fz = (fy - b / 200).clamp(min=0)  # scikit-image clips z at 0 the same way
    f = torch.stack((fx, fy, fz), dim=-3)
    xyz = torch.where(f > FINV_T, f.clamp(min=FINV_T) ** 3, (f - 16 / 116) / KAPPA)
    xyz = xyz * _matrix(WHITE_D65, lab).view(3, 1, 1)
    rgb_from_xyz = torch.linalg.inv(_matrix(XYZ_FROM_RGB, lab).double()).to(lab.dtype)
    linear = _apply_3x3(rgb_from_xyz, xyz).clamp(min=0)
    return linear_to_srgb(linear).clamp(0, 1)


def rgb_to_lightness(rgb: torch.Tensor) -> torch.Tensor:
    """CIE L* of sRGB colors, without computing a* and b*.

    Args:
        rgb: (*, 3, H, W) tensor: float gamma-encoded sRGB in [0, 1], or uint8 sRGB in 0..255
            (any strides, e.g. ``torch.from_numpy(hwc_image).permute(2, 0, 1)``).

    Returns:
        (*, H, W) L* in [0, 100], ``rgb_to_lab(rgb)[..., 0, :, :]`` to float32 precision: the
        input's dtype for float input (differentiable), float32 for uint8 input (per-level
        tables; where R = G = B, as in a gray photo, one table lookup per pixel).
    """
    if rgb.dim() < 3 or rgb.shape[-3] != 3:
        raise ValueError(f"expected a (*, 3, H, W) tensor, got shape {tuple(rgb.shape)}")
    if rgb.dtype == torch.uint8:
        if rgb.device.type != "cpu":
            return rgb_to_lightness(rgb.float() / 255)
        # (*, 3, H, W) -> (N, H, W, 3) for the 8-bit kernel (a view for a permuted decoded image).
        hwc = rgb.movedim(-3, -1).reshape(-1, *rgb.shape[-2:], 3).contiguous().numpy()
        planes = [rgb8.uint8_lightness(image) for image in hwc]
        return torch.from_numpy(np.stack(planes)).reshape(rgb.shape[:-3] + rgb.shape[-2:])
    y = torch.einsum("j,...jhw->...hw", _matrix(XYZ_FROM_RGB[1], rgb), srgb_to_linear(rgb)) / WHITE_D65[1]
    f = torch.where(y > EPSILON, y.clamp(min=EPSILON) ** (1 / 3), KAPPA * y + 16 / 116)
    return 116 * f - 16
