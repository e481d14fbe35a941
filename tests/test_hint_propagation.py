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
    got = geodesic_distance(torch.from_numpy(L), torch.from_numpy(seeds), edge_cost=1.0).numpy()
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
    capped = geodesic_distance(torch.from_numpy(L), torch.from_numpy(seeds), edge_cost=1.0, max_rounds=2).numpy()[0]
    assert (capped >= exact - 1e-3).all() and (capped > exact + 1).any()
    full = geodesic_distance(torch.from_numpy(L), torch.from_numpy(seeds), edge_cost=1.0).numpy()[0]
    np.testing.assert_allclose(full, exact, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("max_side", [256, 64], ids=["full-grid", "coarse-grid"])
def test_propagation_fills_the_hinted_side_more_than_across_an_edge(max_side):
    h, w = 96, 192  # a*b* grid; L* and hints at twice that
    L = torch.full((2 * h, 2 * w), 20.0)
    L[:, w:] = 80.0  # an edge at a*b* column 96: dark left half, light right half
    hints = torch.zeros(1, 3, 2 * h, 2 * w)
    hints[0, :, 96:98, 160:162] = torch.tensor([40.0, -20.0, 1.0]).view(3, 1, 1)  # a*b* cell (48, 80)
    out = propagate_hints(torch.zeros(2, h, w), L, hints, max_side=max_side)
    torch.testing.assert_close(out[:, 48, 80], torch.tensor([40.0, -20.0]))  # the hinted cell: the hint
    # 30 cells away on the hint's side: weight exp(-(30/96)²) = 0.91; 30 cells away across the
    # edge, whose 60 L* cost 60 cells more: exp(-(90/96)²) = 0.42.
    same_side, across = out[0, 48, 50] / 40, out[0, 48, 110] / 40
    assert 0.85 < same_side < 0.95 and 0.3 < across < 0.5
    assert out[0, 48, 10] > out[0, 48, 150]  # 70 cells away: still more on the hint's side
