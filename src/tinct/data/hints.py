"""Simulated user hints for training hint-aware models (Zhang et al., SIGGRAPH 2017, §3.3)."""

from __future__ import annotations

import torch


def simulate_hints(
    ab: torch.Tensor, generator: torch.Generator, p: float = 1 / 8, max_patch: int = 9, max_points: int = 64
) -> torch.Tensor:
    """Random color hints taken from the ground truth.

    Per image, the number of points is geometric on {0, 1, 2, …} with success probability `p`
    (so 1/8 of images get none and the mean is 7); each point is a square patch of random side
    1–`max_patch` pixels at a uniformly random place, carrying the mean true a*b* of its patch.

    Args:
        ab: (N, 2, H, W) true a*b* in a*b* units.
    Returns:
        (N, 3, H, W): hint a*, b* (a*b* units) and a 0/1 mask; zero where there is no hint.
    """
    n, _, h, w = ab.shape
    hints = torch.zeros(n, 3, h, w, dtype=ab.dtype, device=ab.device)
    # Geometric via inverse CDF: floor(log U / log(1 − p)).
    u = torch.rand(n, generator=generator).clamp(min=1e-12)
    counts = torch.floor(torch.log(u) / torch.log(torch.tensor(1 - p))).long().clamp(max=max_points)
    for i in range(n):
        for _ in range(int(counts[i])):
            side = int(torch.randint(1, max_patch + 1, (1,), generator=generator))
            side = min(side, h, w)
            y = int(torch.randint(0, h - side + 1, (1,), generator=generator))
            x = int(torch.randint(0, w - side + 1, (1,), generator=generator))
            patch = ab[i, :, y : y + side, x : x + side]
            hints[i, :2, y : y + side, x : x + side] = patch.mean(dim=(1, 2), keepdim=True)
            hints[i, 2, y : y + side, x : x + side] = 1.0
    return hints
