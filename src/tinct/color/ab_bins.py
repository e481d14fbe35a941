"""Quantized a*b* space for colorization as classification (Zhang, Isola & Efros, ECCV 2016).

The a*b* plane is cut into a grid of 10-unit cells; the classes are the cells whose centre is
reachable by an in-gamut sRGB color at some lightness. Targets are soft-encoded over the nearest
bins, classes are rebalanced by their rarity, and predictions are decoded by the annealed mean.
All functions work on tensors and follow their input's device and dtype.
"""

from __future__ import annotations

import functools

import torch

from tinct.color.lab import rgb_to_lab

GRID_STEP = 10.0


@functools.lru_cache(maxsize=1)
def _in_gamut_bins() -> torch.Tensor:
    # A cell is in gamut when some sRGB color falls in it. The a*b* footprint of the RGB cube is
    # the footprint of its surface (every a*b* fibre through the cube crosses a face), so a dense
    # sample of the six faces suffices and is 100x cheaper than filling the cube. This gives 261
    # cells; Zhang et al.'s 313 were the cells observed on ImageNet with a looser conversion.
    levels = torch.linspace(0, 1, 256, dtype=torch.float64)
    u, v = (t.reshape(-1) for t in torch.meshgrid(levels, levels, indexing="ij"))
    faces = []
    for axis in range(3):
        for value in (0.0, 1.0):
            channels = [u, v]
            channels.insert(axis, torch.full_like(u, value))
            faces.append(torch.stack(channels))
    rgb = torch.cat(faces, dim=1).reshape(3, 1, -1)
    ab = rgb_to_lab(rgb)[1:].reshape(2, -1)
    cells = torch.unique(torch.round(ab / GRID_STEP).long().T, dim=0)  # sorted by (a, b)
    return (cells * GRID_STEP).float()


def ab_bins(device=None, dtype=torch.float32) -> torch.Tensor:
    """Bin centres of the in-gamut a*b* cells, shape (Q, 2) = (261, 2) in a*b* units."""
    return _in_gamut_bins().to(device=device, dtype=dtype)


def num_bins() -> int:
    return _in_gamut_bins().shape[0]


def soft_encode(ab: torch.Tensor, bins: torch.Tensor, neighbours: int = 5, sigma: float = 5.0) -> torch.Tensor:
    """Soft-encode a*b* targets over their nearest bins.

    Args:
        ab: (N, 2, H, W) a*b* in a*b* units.
        bins: (Q, 2) bin centres from `ab_bins`.
    Returns:
        (N, Q, H, W) distributions: Gaussian weights (σ in a*b* units) on the `neighbours`
        nearest bins, zero elsewhere, summing to 1 over Q.
    """
    n, _, h, w = ab.shape
    pixels = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    dist2 = torch.cdist(pixels, bins.to(pixels)).square()  # (P, Q)
    nearest_d2, nearest = dist2.topk(neighbours, dim=1, largest=False)
    weights = torch.softmax(-nearest_d2 / (2 * sigma**2), dim=1)
    encoded = torch.zeros_like(dist2).scatter_(1, nearest, weights)
    return encoded.reshape(n, h, w, -1).permute(0, 3, 1, 2)


def nearest_bin(ab: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """Index of the nearest bin per pixel: (N, 2, H, W) a*b* -> (N, H, W) int64."""
    n, _, h, w = ab.shape
    pixels = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    return torch.cdist(pixels, bins.to(pixels)).argmin(dim=1).reshape(n, h, w)


def rebalancing_weights(counts: torch.Tensor, bins: torch.Tensor, lam: float = 0.5, sigma: float = 5.0) -> torch.Tensor:
    """Per-class loss weights that counter the dominance of desaturated colors.

    Args:
        counts: (Q,) how often each bin is the nearest bin over the training set.
        bins: (Q, 2) bin centres.
        lam: mixing weight λ with the uniform distribution (0.5 in Zhang et al.).
        sigma: Gaussian smoothing of the empirical distribution, in a*b* units.
    Returns:
        (Q,) weights w ∝ ((1 − λ)·p̃ + λ/Q)⁻¹, normalised so that Σ p̃·w = 1.
    """
    p = counts.double() / counts.sum().clamp(min=1)
    kernel = torch.exp(-torch.cdist(bins.double(), bins.double()).square() / (2 * sigma**2))
    smoothed = kernel @ p
    smoothed = smoothed / smoothed.sum()
    q = bins.shape[0]
    w = 1.0 / ((1 - lam) * smoothed + lam / q)
    w = w / (smoothed * w).sum()
    return w.to(counts.device, torch.float32)


def annealed_mean(logits: torch.Tensor, bins: torch.Tensor, temperature: float) -> torch.Tensor:
    """Decode class logits into a*b* by the annealed mean.

    Args:
        logits: (N, Q, H, W) unnormalised log-probabilities.
        bins: (Q, 2) bin centres in a*b* units.
        temperature: T in (0, 1]; 1 gives the mean (dull), T → 0 the mode (vivid, noisy).
    Returns:
        (N, 2, H, W) a*b* in a*b* units.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    probs = torch.softmax(logits / temperature, dim=1)
    return torch.einsum("nqhw,qc->nchw", probs, bins.to(probs))
