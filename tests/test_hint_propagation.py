"""tinct.inference.hints: geodesic distances against Dijkstra, and hint propagation on a grid
bigger than the one the distances are computed on."""

from __future__ import annotations

import heapq

import numpy as np
import pytest
import torch

from tinct.inference.hints import geodesic_distance, propagate_hints


def dijkstra(L: np.ndarray, seeds: np.ndarray, edge_cost: float) -> np.ndarray:
    """float64 shortest-path distances from the True pixels of ``seeds`` (h, w), step cost 1 + edge_cost·|ΔL|."""
    h, w = L.shape
    dist = np.full((h, w), np.inf)
    heap = [(0.0, y, x) for y, x in zip(*np.nonzero(seeds), strict=True)]
    for _, y, x in heap:
        dist[y, x] = 0.0
    while heap:
        d, y, x = heapq.heappop(heap)
        if d > dist[y, x]:
            continue
        for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
            if 0 <= ny < h and 0 <= nx < w:
                nd = d + 1 + edge_cost * abs(float(L[ny, nx]) - float(L[y, x]))
                if nd < dist[ny, nx]:
                    dist[ny, nx] = nd
                    heapq.heappush(heap, (nd, ny, nx))
    return dist


def maze(h: int, w: int) -> np.ndarray:
    """L* of a serpentine corridor (50) between walls (100): its shortest paths turn many times."""
    L = np.full((h, w), 100.0, np.float32)
    L[::2] = 50
    for i, y in enumerate(range(1, h, 2)):
        L[y, w - 1 if i % 2 == 0 else 0] = 50
    return L


@pytest.mark.parametrize("case", ["texture", "maze"])
def test_geodesic_distance_matches_dijkstra(case):
    rng = np.random.default_rng(0)
    if case == "texture":
        L = rng.uniform(0, 100, (23, 31)).astype(np.float32)
        L[5:15, 8:20] = 40  # a flat region among the texture
    else:
        L = maze(21, 17)
    seeds = np.zeros((3, *L.shape), bool)
    seeds[0, 0, 0] = True
    seeds[1, 10, 12] = seeds[1, -1, 3] = True  # two seeds in one field
    # seeds[2] has none: inf everywhere
    got = geodesic_distance(L, seeds, edge_cost=1.0)
    for k in range(2):
        np.testing.assert_allclose(got[k], dijkstra(L, seeds[k], 1.0), rtol=1e-5, atol=1e-3)
    assert np.isinf(got[2]).all()


def test_geodesic_distance_rounds_are_bounded():
    """The corridor's winding path needs a round per turn or so; with fewer rounds the distances are
    those of paths with fewer turns (here: through the walls), upper bounds of the exact ones."""
    L = maze(41, 9)
    seeds = np.zeros((1, *L.shape), bool)
    seeds[0, 0, 0] = True
    exact = dijkstra(L, seeds[0], 1.0)
    capped = geodesic_distance(L, seeds, edge_cost=1.0, max_rounds=2)[0]
    assert (capped >= exact - 1e-3).all() and (capped > exact + 1).any()
    full = geodesic_distance(L, seeds, edge_cost=1.0)[0]
    np.testing.assert_allclose(full, exact, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("max_side", [256, 64], ids=["full-grid", "coarse-grid"])
def test_propagation_fills_the_hinted_side_more_than_across_an_edge(max_side):
    h, w = 96, 192  # a*b* grid; L* and hints at twice that
    L = np.full((2 * h, 2 * w), 20.0, np.float32)
    L[:, w:] = 80.0  # an edge at a*b* column 96: dark left half, light right half
    hints = np.zeros((1, 3, 2 * h, 2 * w), np.float32)
    hints[0, :, 96:98, 160:162] = np.array([40.0, -20.0, 1.0]).reshape(3, 1, 1)  # a*b* cell (48, 80)
    out = propagate_hints(np.zeros((2, h, w), np.float32), L, hints, max_side=max_side)
    np.testing.assert_allclose(out[:, 48, 80], [40.0, -20.0], atol=1e-5)  # the hinted cell: the hint
    # 30 cells away on the hint's side: weight exp(-(30/96)²) = 0.91; 30 cells away across the
    # edge, whose 60 L* cost 60 cells more: exp(-(90/96)²) = 0.42.
    same_side, across = out[0, 48, 50] / 40, out[0, 48, 110] / 40
    assert 0.85 < same_side < 0.95 and 0.3 < across < 0.5
    assert out[0, 48, 10] > out[0, 48, 150]  # 70 cells away: still more on the hint's side


def test_numpy_hint_pooling_and_resizing_equal_torch():
    """The numpy twins used at inference against the torch operations the network and the
    previous propagation used: pooling (uneven ratios), adaptive means, bilinear resizing."""
    import torch.nn.functional as F

    from tinct.color.rgb8 import upsample_width
    from tinct.inference.hints import adaptive_mean, pool_hint_map
    from tinct.ops.hints import pool_hints

    rng = np.random.default_rng(0)
    hints = np.zeros((3, 37, 53), np.float32)
    ys, xs = rng.integers(0, 37, 12), rng.integers(0, 53, 12)
    hints[:2, ys, xs] = rng.normal(0, 30, (2, 12))
    hints[2, ys, xs] = 1
    for size in ((9, 13), (20, 7), (37, 53)):
        expected = pool_hints(torch.from_numpy(hints)[None], size)[0].numpy()
        np.testing.assert_allclose(pool_hint_map(hints, size), expected, atol=1e-4)
    L = rng.uniform(0, 100, (2, 45, 61)).astype(np.float32)
    expected = F.adaptive_avg_pool2d(torch.from_numpy(L), (16, 22)).numpy()
    np.testing.assert_allclose(adaptive_mean(L, (16, 22)), expected, atol=1e-4)
    small = rng.uniform(0, 1, (3, 8, 11)).astype(np.float32)
    resized = upsample_width(upsample_width(small, 40).swapaxes(-1, -2), 29).swapaxes(-1, -2)
    expected = F.interpolate(torch.from_numpy(small)[None], size=(29, 40), mode="bilinear", align_corners=False)[0]
    np.testing.assert_allclose(resized, expected.numpy(), atol=1e-5)


def test_hint_colors_in_lab_match_scikit_image():
    from skimage.color import rgb2lab

    from tinct.color.rgb8 import srgb8_to_lab

    colors = np.random.default_rng(1).integers(0, 256, (50, 3))
    np.testing.assert_allclose(srgb8_to_lab(colors), rgb2lab(colors[None] / 255.0)[0], atol=1e-6)
