"""CIEDE2000 color difference (ΔE00) on L*a*b* tensors.

Follows Sharma, Wu & Dalal, "The CIEDE2000 color-difference formula: implementation notes,
supplementary test data, and mathematical observations", Color Res. Appl. 30 (2005), with the
same branch conventions as ``skimage.color.deltaE_ciede2000`` (hue angles in [0, 2π), hue of a
zero-chroma color taken as 0, no wrap-around when |h1' - h2'| is exactly 180°).
"""

from __future__ import annotations

import math

import torch

from tinct.color import rgb_to_lab
from tinct.metrics._inputs import rgb_pair

_25_POW_7 = 25.0**7


def ciede2000(
    lab1: torch.Tensor, lab2: torch.Tensor, *, kL: float = 1.0, kC: float = 1.0, kH: float = 1.0
) -> torch.Tensor:
    """Per-pixel CIEDE2000 difference between two L*a*b* images.

    Args:
        lab1, lab2: (*, 3, H, W) float tensors (broadcastable), L* in [0, 100], a*, b* in about
            [-128, 127]. The formula is symmetric in its arguments.
        kL, kC, kH: parametric weighting factors; 1 for the standard reference conditions.

    Returns:
        (*, H, W) ΔE00 ≥ 0 in the inputs' dtype (about 1 = just-noticeable difference).
        Meant as a metric: like any distance it is not differentiable where the colors coincide,
        and the hue terms are not differentiable where a chroma is zero.
    """
    for lab in (lab1, lab2):
        if lab.dim() < 3 or lab.shape[-3] != 3:
            raise ValueError(f"expected (*, 3, H, W) L*a*b* tensors, got shape {tuple(lab.shape)}")
    L1, a1, b1 = lab1.unbind(-3)
    L2, a2, b2 = lab2.unbind(-3)

    # Stretch a* by a chroma-dependent factor (corrects the blue region), then work in the
    # primed L*C'h' coordinates.
    c_mean = 0.5 * (torch.hypot(a1, b1) + torch.hypot(a2, b2))
    c7 = c_mean**7
    g = 0.5 * (1 - torch.sqrt(c7 / (c7 + _25_POW_7)))
    a1p = a1 * (1 + g)
    a2p = a2 * (1 + g)
    c1p = torch.hypot(a1p, b1)
    c2p = torch.hypot(a2p, b2)
    two_pi = 2 * math.pi
    h1p = torch.remainder(torch.atan2(b1, a1p), two_pi)  # atan2(0, 0) = 0, as the standard wants
    h2p = torch.remainder(torch.atan2(b2, a2p), two_pi)

    dL = L2 - L1
    dC = c2p - c1p
    cc = c1p * c2p
    chromatic = cc != 0
    h_diff = h2p - h1p
    # Hue difference along the shorter arc; undefined (0) when either color is achromatic.
    dh = torch.where(h_diff > math.pi, h_diff - two_pi, torch.where(h_diff < -math.pi, h_diff + two_pi, h_diff))
    dh = torch.where(chromatic, dh, torch.zeros_like(dh))
    dH = 2 * torch.sqrt(cc) * torch.sin(dh / 2)

    L_mean = 0.5 * (L1 + L2)
    cp_mean = 0.5 * (c1p + c2p)
    h_sum = h1p + h2p
    # Mean hue along the shorter arc; for an achromatic color the other color's hue (the sum).
    wrap = chromatic & (h_diff.abs() > math.pi)
    h_mean = torch.where(wrap, torch.where(h_sum < two_pi, h_sum + two_pi, h_sum - two_pi), h_sum)
    h_mean = torch.where(chromatic, 0.5 * h_mean, h_mean)

    t = (
        1
        - 0.17 * torch.cos(h_mean - math.radians(30))
        + 0.24 * torch.cos(2 * h_mean)
        + 0.32 * torch.cos(3 * h_mean + math.radians(6))
        - 0.20 * torch.cos(4 * h_mean - math.radians(63))
    )
    l50 = (L_mean - 50) ** 2
    s_l = 1 + 0.015 * l50 / torch.sqrt(20 + l50)
    s_c = 1 + 0.045 * cp_mean
    s_h = 1 + 0.015 * cp_mean * t
    cp7 = cp_mean**7
    r_c = 2 * torch.sqrt(cp7 / (cp7 + _25_POW_7))
    d_theta = math.radians(30) * torch.exp(-(((torch.rad2deg(h_mean) - 275) / 25) ** 2))
    r_t = -torch.sin(2 * d_theta) * r_c

    l_term = dL / (kL * s_l)
    c_term = dC / (kC * s_c)
    h_term = dH / (kH * s_h)
    de2 = l_term**2 + c_term**2 + h_term**2 + r_t * c_term * h_term
    # The sum is ≥ 0 mathematically; clamp away a tiny negative rounding error before the root.
    return torch.sqrt(de2.clamp(min=0))


def mean_ciede2000(pred_rgb, target_rgb) -> torch.Tensor:
    """Mean ΔE00 per image between two sRGB images.

    Args:
        pred_rgb, target_rgb: RGB images of the same shape, in any form accepted by
            `tinct.metrics.to_rgb_tensor` (torch (*, 3, H, W) in [0, 1] / uint8, or numpy
            (*, H, W, 3) uint8 / float in [0, 1]).

    Returns:
        Tensor of the inputs' batch shape (`*`; 0-dim for a single image), mean ΔE00 over pixels.
    """
    p, t = rgb_pair(pred_rgb, target_rgb)
    return ciede2000(rgb_to_lab(p), rgb_to_lab(t)).mean(dim=(-2, -1))
