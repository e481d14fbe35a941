"""Hint maps at other resolutions (used by the unet's hint adapters and by hint propagation)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pool_hints(hints: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Hint maps (N, 3, H, W) = (a*, b*, 0/1 mask), a*b* in any units, pooled to `size` without
    diluting them: each cell gets the mean hint color of its hinted pixels (zero if none) and
    mask 1 if any of its pixels is hinted."""
    if tuple(hints.shape[-2:]) == tuple(size):
        return hints
    mask = hints[:, 2:3]
    stacked = torch.cat((hints[:, :2] * mask, mask), dim=1)
    ratio = (int(hints.shape[-2]) // int(size[0]), int(hints.shape[-1]) // int(size[1]))
    if (ratio[0] * int(size[0]), ratio[1] * int(size[1])) == tuple(hints.shape[-2:]):
        # Sizes that divide (a unet's decoder stages: powers of two): the same cells as the adaptive
        # pool, with a kernel that an ONNX graph keeps at every input size (adaptive pooling has
        # no ONNX form for dynamic sizes).
        weighted = F.avg_pool2d(stacked, ratio, ratio)
    else:
        weighted = F.adaptive_avg_pool2d(stacked, size)
    covered = weighted[:, 2:3]
    color = weighted[:, :2] / covered.clamp(min=1e-6)
    return torch.cat((color, (covered > 0).to(hints.dtype)), dim=1)
