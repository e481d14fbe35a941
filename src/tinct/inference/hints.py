"""User color hints at inference: rasterise them into a model's hint input, and spread their
corrections over the predicted a*b* (parsing them is :mod:`tinct.inference.hint_specs`).

numpy only, like the rest of the inference path: a click in the web page or a ``--hint`` does
not import torch. (The network's own hint pooling, inside its graph, is ``tinct.ops.pool_hints``
in torch; :func:`pool_hint_map` is its numpy twin, tested equal.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tinct.color.rgb8 import srgb8_to_lab, upsample_width
from tinct.inference.hint_specs import Hint, parse_color, parse_hints  # noqa: F401  (re-exported)


def rasterize_hints(
    hints: Sequence[Hint], image_size: tuple[int, int], work_size: tuple[int, int], patch: int = 1
) -> np.ndarray:
    """Rasterise validated hints at the model's working resolution.

    Args:
        hints: from :func:`parse_hints`, positions in input-image pixels.
        image_size: ``(H, W)`` of the input image.
        work_size: ``(h, w)`` the model runs at (the image is resized, possibly squashed, to it).
        patch: side of the square each hint paints, in working-resolution pixels.

    Returns:
        (1, 3, h, w) float32: hint a*, b* (a*b* units) and a 0/1 mask, zero where there is no hint (the
        layout the models are trained with, see ``tinct.data.hints.simulate_hints``). Where
        hints overlap, the later one wins.
    """
    (H, W), (h, w) = image_size, work_size
    out = np.zeros((1, 3, h, w), np.float32)
    if not hints:
        return out
    ab = srgb8_to_lab(np.array([c for _, _, c in hints]))[:, 1:].astype(np.float32)  # (K, 2)
    half = (patch - 1) // 2
    for (x, y, _), (a, b) in zip(hints, ab, strict=True):
        # The working pixel whose footprint contains the input pixel's centre.
        cx = min(w - 1, int((math.floor(x) + 0.5) * w / W))
        cy = min(h - 1, int((math.floor(y) + 0.5) * h / H))
        y0, x0 = max(0, cy - half), max(0, cx - half)
        y1, x1 = min(h, y0 + patch), min(w, x0 + patch)
        out[0, 0, y0:y1, x0:x1] = a
        out[0, 1, y0:y1, x0:x1] = b
        out[0, 2, y0:y1, x0:x1] = 1.0
    return out


def geodesic_distance(L: np.ndarray, seeds: np.ndarray, edge_cost: float = 3.0, max_rounds: int = 64) -> np.ndarray:
    """Shortest-path distances from seed pixels over the 4-neighbour grid, where a step costs
    1 + edge_cost·|ΔL*|: distances grow slowly inside regions of even lightness and fast across
    edges and texture.

    Args:
        L: (h, w) L* in [0, 100].
        seeds: (n, h, w) bool; field k is the distance to the seeds of seeds[k].
        max_rounds: bound on the rounds of line sweeps (see below); 64 is far more than photos need.
    Returns:
        (n, h, w) float32 distances in pixel units (inf where a field has no seed).

    Each round relaxes every row left to right and right to left, then every column down and up,
    each sweep exactly (any straight run of steps at once, by a running minimum over prefix sums
    of the step costs), so a round settles every path with up to three turns and rounds repeat
    until nothing improves: a handful on photos, where a one-step-per-sweep relaxation
    (Bellman-Ford) needs as many sweeps as the longest path has steps (hundreds). The
    minimum-cost-path solvers that would do this (scikit-image's ``MCP``, scipy's ``dijkstra``) are
    not dependencies of tinct, and they solve one field at a time.
    """
    n = seeds.shape[0]
    Ln = np.asarray(L, dtype=np.float32)
    dist = np.where(np.asarray(seeds, dtype=bool), np.float32(0), np.float32(np.inf))
    # Prefix sums of the step costs along rows (cx) and columns (cy): a straight run from j to x
    # costs cx[x] - cx[j].
    cx = np.zeros(Ln.shape, np.float32)
    np.cumsum(1 + edge_cost * np.abs(np.diff(Ln, axis=1)), axis=1, out=cx[:, 1:])
    cy = np.zeros(Ln.shape, np.float32)
    np.cumsum(1 + edge_cost * np.abs(np.diff(Ln, axis=0)), axis=0, out=cy[1:])
    tmp = np.empty_like(dist)
    for _ in range(max_rounds):
        before = dist.copy()
        for prefix, axis in ((cx, 2), (cy, 1)):
            # Forward: d[x] = min over j <= x of d[j] + prefix[x] - prefix[j].
            np.subtract(dist, prefix, out=tmp)
            np.minimum.accumulate(tmp, axis=axis, out=tmp)
            tmp += prefix
            np.minimum(dist, tmp, out=dist)
            # Backward: d[x] = min over j >= x of d[j] + prefix[j] - prefix[x].
            np.add(dist, prefix, out=tmp)
            flipped = np.flip(tmp, axis=axis)
            np.minimum.accumulate(flipped, axis=axis, out=flipped)
            tmp -= prefix
            np.minimum(dist, tmp, out=dist)
        # Rounding in the prefix sums can shave an ulp off a settled distance: only a real gain
        # (far below the 1-unit cost of a step) counts as progress.
        if n == 0 or not (dist < before - 1e-3).any():
            break
    return dist


def propagate_hints(
    ab: np.ndarray,
    L: np.ndarray,
    hints: np.ndarray,
    reach: float = 0.5,
    edge_cost: float = 1.0,
    max_side: int = 64,
) -> np.ndarray:
    """Spread each hint's correction over the region it sits in, stopping at edges.

    The network already sees the hints, but trained on a few hundred photos it follows them only
    locally. This post-step guarantees the user's intent: every hinted pixel's residual
    (hint a*b* − predicted a*b*) is carried to other pixels with weight exp(−(d/σ)²), d the
    geodesic distance over L* (see `geodesic_distance`) and σ = `reach` × the longer side, so a
    hint fills a region of even lightness and fades across edges and texture.

    Args:
        ab: (2, h, w) float32 predicted a*b* in a*b* units.
        L: (H, W) L* at the working size (H, W multiples of h, w).
        hints: (1, 3, H, W) hint a*, b* and 0/1 mask at the working size.
        max_side: the distances are computed on a grid whose longer side is at most this many
            cells (L* area-averaged) and their weights upsampled bilinearly: the cost grows with
            hints × cells × rounds, and rounds grow with the texture a path winds through (which
            the averaging smooths); a weight that varies over σ (32 cells at 64) loses little.
            ``make bench`` times it.
    Returns:
        (2, h, w) float32 a*b* with the hints applied.
    """
    ab = np.asarray(ab, dtype=np.float32)
    h, w = ab.shape[-2:]
    pooled = pool_hint_map(np.asarray(hints, dtype=np.float32).reshape(3, *np.shape(hints)[-2:]), (h, w))
    hint_ab, mask = pooled[:2], pooled[2] > 0
    if not mask.any():
        return ab
    ys, xs = np.nonzero(mask)
    residual = hint_ab[:, ys, xs] - ab[:, ys, xs]  # (2, n)
    n = len(ys)
    scale = min(1.0, max_side / max(h, w))
    gh, gw = max(1, round(h * scale)), max(1, round(w * scale))
    L_grid = adaptive_mean(np.asarray(L, dtype=np.float32), (gh, gw))
    gy = np.minimum(((ys + 0.5) * gh / h).astype(np.intp), gh - 1)  # the grid cell holding each hint
    gx = np.minimum(((xs + 0.5) * gw / w).astype(np.intp), gw - 1)
    seeds = np.zeros((n, gh, gw), dtype=bool)
    seeds[np.arange(n), gy, gx] = True
    # A grid step spans `step` cells of the a*b* grid: it costs that much length, plus its own
    # lightness change, so distances stay in a*b*-cell units and σ keeps its meaning.
    step = max(h, w) / max(gh, gw)
    dist = step * geodesic_distance(L_grid, seeds, edge_cost / step)
    weights = np.exp(-((dist / np.float32(reach * max(h, w))) ** 2)).astype(np.float32)  # (n, gh, gw)
    if (gh, gw) != (h, w):
        weights = upsample_width(upsample_width(weights, w).swapaxes(-1, -2), h).swapaxes(-1, -2)
        weights[np.arange(n), ys, xs] = 1.0  # each hinted cell keeps its full correction
    spread = np.einsum("cn,nhw->chw", residual, weights) / np.maximum(weights.sum(0), np.float32(1e-6))
    return (ab + weights.max(0) * spread).astype(np.float32)


def adaptive_mean(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(..., H, W) → (..., h, w): each output cell the mean of its input rectangle, the cells of
    ``torch.nn.functional.adaptive_avg_pool2d`` (rows floor(i·H/h) to ceil((i+1)·H/h))."""
    for axis, out in ((-2, size[0]), (-1, size[1])):
        n = x.shape[axis]
        i = np.arange(out)
        starts, ends = (i * n) // out, -((-(i + 1) * n) // out)
        c = np.cumsum(np.moveaxis(x, axis, -1), axis=-1, dtype=np.float64)
        c = np.concatenate((np.zeros_like(c[..., :1]), c), axis=-1)
        x = np.moveaxis(((c[..., ends] - c[..., starts]) / (ends - starts)).astype(np.float32), -1, axis)
    return x


def pool_hint_map(hints: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(3, H, W) hint map (a*, b*, 0/1 mask) pooled to ``size`` without diluting it: each cell
    the mean hint color of its hinted pixels (zero if none) and mask 1 if any pixel is hinted
    (numpy twin of ``tinct.ops.pool_hints``)."""
    if tuple(hints.shape[-2:]) == tuple(size):
        return hints
    mask = hints[2:3]
    weighted = adaptive_mean(np.concatenate((hints[:2] * mask, mask)), size)
    covered = weighted[2:3]
    color = weighted[:2] / np.maximum(covered, np.float32(1e-6))
    return np.concatenate((color, (covered > 0).astype(np.float32)))
