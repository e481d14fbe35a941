"""sRGB <-> CIE L*a*b* (D65, 2° observer) on tensors.

The constants are the ones scikit-image uses (`skimage.color.rgb2lab` with its defaults), so
results agree with it to float32 precision. Every constant is created on the input's device and
dtype, and every operation is differentiable.
"""

from __future__ import annotations

import torch

# sRGB (linear) -> CIE XYZ, the matrix scikit-image uses (`xyz_from_rgb`).
_XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
# D65 reference white for the 2° observer, as in skimage.color.colorconv._illuminants.
_WHITE_D65 = (0.95047, 1.0, 1.08883)
_EPSILON = 0.008856  # (6/29)^3, the CIE threshold between the cube root and the linear segment
_KAPPA = 7.787  # (29/6)^2 / 3


def _matrix(values, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, device=like.device, dtype=like.dtype)


def _apply_3x3(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Multiply every pixel of a (*, 3, H, W) tensor by a 3×3 matrix."""
    return torch.einsum("ij,...jhw->...ihw", matrix, image)


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB transfer curve inverse: gamma-encoded [0, 1] -> linear [0, 1]."""
    return torch.where(rgb > 0.04045, ((rgb.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4, rgb / 12.92)


def linear_to_srgb(linear: torch.Tensor) -> torch.Tensor:
    """sRGB transfer curve: linear [0, 1] -> gamma-encoded [0, 1] (input assumed ≥ 0)."""
    return torch.where(linear > 0.0031308, 1.055 * linear.clamp(min=0.0031308) ** (1 / 2.4) - 0.055, linear * 12.92)


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
    xyz = _apply_3x3(_matrix(_XYZ_FROM_RGB, rgb), srgb_to_linear(rgb))
    xyz = xyz / _matrix(_WHITE_D65, rgb).view(3, 1, 1)
    # Clamp inside the cube root's branch so its gradient stays finite at 0.
    f = torch.where(xyz > _EPSILON, xyz.clamp(min=_EPSILON) ** (1 / 3), _KAPPA * xyz + 16 / 116)
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
    xyz = torch.where(f > 0.2068966, f.clamp(min=0.2068966) ** 3, (f - 16 / 116) / _KAPPA)
    xyz = xyz * _matrix(_WHITE_D65, lab).view(3, 1, 1)
    rgb_from_xyz = torch.linalg.inv(_matrix(_XYZ_FROM_RGB, lab).double()).to(lab.dtype)
    linear = _apply_3x3(rgb_from_xyz, xyz).clamp(min=0)
    return linear_to_srgb(linear).clamp(0, 1)
