"""Color from a reference photo: carry a color photo's a*b* onto the gray target wherever the two
show the same things, and leave the automatic colors alone everywhere else.

Method (docs/reference.md says why and what it was measured against):

1. Both images are seen as L* only, at :data:`MATCH_SIDE` pixels on the longer side (the target's
   working-size L*, the reference's own L*), so matching never depends on the target's missing
   color nor on the photo's full resolution.
2. Every :data:`STRIDE`-th pixel gets a gradient-orientation descriptor (SIFT-like: 8 orientation
   bins pooled over a 3×3 layout of 4×4-pixel cells, normalised, clipped at 0.2, normalised again)
   plus its neighbourhood's mean L*, so that structure decides and lightness breaks ties.
   Pixels without texture get none: a flat patch matches anything.
3. A target point keeps its nearest reference point only if the match is mutual, passes Lowe's
   ratio test, and its displacement agrees with those of its matched neighbours (the same scene
   moves coherently; chance matches between unrelated scenes do not).
4. The kept matches are densified: every target point moves like its matched neighbours (a
   confidence- and distance-weighted mean of their displacements) and takes the reference's a*b*
   (mean over 3×3 pixels) where it lands, weighted by how many matches are near, whether it lands
   inside the reference, and whether the lightness there agrees with its own. That weight decides
   how much of the reference color replaces the model's a*b*; far from any match it is zero and
   the automatic colors stay exactly as they were (flat sky between matches is covered, the part
   of the target the reference does not show is not).

numpy only (no torch, no onnxruntime), so the ONNX Runtime path stays torch-free; the cost does
not grow with the photo's size (``make bench``'s "Reference photo" section times it).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
from PIL import Image

from tinct.color.rgb8 import srgb8_to_lab, uint8_lightness, upsample_width
from tinct.io.images import ImageReadError, is_grayscale, read_image

__all__ = [
    "MATCH_SIDE",
    "Reference",
    "ReferenceMatch",
    "apply_reference",
    "confidence_map",
    "coverage",
    "digest_references",
    "load_reference",
    "load_references",
    "match_best",
    "match_lightness",
    "match_reference",
]

#: Longer side, in pixels, at which target and reference are matched.
MATCH_SIDE = 128
#: Distance between descriptor points, in pixels at :data:`MATCH_SIDE`.
STRIDE = 2
#: Cell side of the descriptor's 3×3 layout, in pixels at :data:`MATCH_SIDE`.
CELL = 4
#: Lowe's ratio: best distance / second best below this keeps a match.
RATIO = 0.85
#: A point with less mean gradient magnitude than this (L* units per pixel) has no descriptor.
MIN_TEXTURE = 0.6
#: L* difference (L* units) at which a warped reference pixel's lightness stops being trusted.
LIGHTNESS_TOLERANCE = 16.0
#: Reach of the matches' motion, in grid points (σ of the Gaussian that averages displacements).
WARP_SIGMA = 7.0
#: σ, in grid points, of a normalised blur of the weight map (0: none).
WEIGHT_BLUR = 8.0
#: Share of a grid point's neighbourhood that must be matched for its warp to be fully trusted.
SUPPORT = 0.02
#: Weight of the neighbourhood's mean L* (per 100 L*) appended to the unit-length descriptor.
LIGHTNESS_WEIGHT = 0.8


class ReferenceError(ValueError):
    """A reference that cannot be used; ``str`` is one line naming it and the reason."""


@dataclasses.dataclass(frozen=True)
class Reference:
    """A color photo prepared once for matching against any number of targets (a folder, a film).

    Attributes:
        name: how errors and reports name it (its path, or ``"reference"``).
        L: (h, w) float32 L* in [0, 100] at :data:`MATCH_SIDE` on the longer side.
        ab: (2, h, w) float32 a*b* (a*b* units), box-smoothed over 3×3 pixels at that size.
        points: (n, 2) int row, column of the descriptor points in ``L``.
        descriptors: (n, d) float32 descriptors of those points.
    """

    name: str
    L: np.ndarray
    ab: np.ndarray
    points: np.ndarray
    descriptors: np.ndarray


@dataclasses.dataclass(frozen=True)
class ReferenceMatch:
    """Where a target took its colors from a reference, on the target's descriptor grid.

    Attributes:
        ab: (2, gh, gw) float32 reference a*b* spread over the target grid (a*b* units).
        weight: (gh, gw) float32 in [0, 1]: how much of ``ab`` replaces the model's a*b*.
        matches: number of kept matches.
    """

    ab: np.ndarray
    weight: np.ndarray
    matches: int


def _small(image: np.ndarray, side: int, resample: int = Image.BOX) -> np.ndarray:
    """(H, W[, C]) array → the same at ``side`` pixels on the longer side (float32)."""
    h, w = image.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if image.ndim == 3:
        return np.asarray(Image.fromarray(image).resize(size, resample), dtype=np.uint8)
    return np.asarray(Image.fromarray(np.asarray(image, np.float32)).resize(size, resample), dtype=np.float32)


def _box(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)² window of the last two axes, edges replicated."""
    pad = [(0, 0)] * (x.ndim - 2) + [(r, r), (r, r)]
    c = np.pad(x, pad, mode="edge").cumsum(-1).cumsum(-2)
    c = np.pad(c, [(0, 0)] * (x.ndim - 2) + [(1, 0), (1, 0)])
    k = 2 * r + 1
    return (c[..., k:, k:] - c[..., :-k, k:] - c[..., k:, :-k] + c[..., :-k, :-k]) / (k * k)


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the descriptor points of an (h, w) plane."""
    h, w = shape
    return np.arange(STRIDE // 2, h, STRIDE), np.arange(STRIDE // 2, w, STRIDE)


def _descriptors(L: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(h, w) L* → descriptors (gh, gw, d) float32 on the :func:`_grid` and a (gh, gw) bool mask
    of the points with enough texture to have one."""
    L = L.astype(np.float32)
    gy, gx = np.gradient(L)
    mag = np.hypot(gx, gy)
    # Soft assignment of each gradient to 8 orientation bins, weighted by its magnitude.
    pos = (np.arctan2(gy, gx) % (2 * np.pi)) * (8 / (2 * np.pi))
    low = np.floor(pos).astype(np.intp) % 8
    frac = (pos - np.floor(pos)).astype(np.float32)
    hist = np.zeros((8, *L.shape), np.float32)
    rows, cols = np.indices(L.shape)
    np.add.at(hist, (low, rows, cols), mag * (1 - frac))
    np.add.at(hist, ((low + 1) % 8, rows, cols), mag * frac)
    cells = _box(hist, CELL // 2)  # each pixel: its cell's mean histogram
    ys, xs = _grid(L.shape)
    h, w = L.shape
    parts = []
    for dy in (-CELL, 0, CELL):
        for dx in (-CELL, 0, CELL):
            yy, xx = np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)
            parts.append(cells[:, yy][:, :, xx])
    d = np.concatenate(parts).transpose(1, 2, 0)  # (gh, gw, 72)
    texture = _box(mag, CELL + CELL // 2)[np.ix_(ys, xs)]
    d /= np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-6)
    np.minimum(d, 0.2, out=d)
    d /= np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-6)
    mean_L = _box(L, CELL + CELL // 2)[np.ix_(ys, xs)]
    d = np.concatenate((d, LIGHTNESS_WEIGHT * mean_L[..., None] / 100), axis=-1)
    return d.astype(np.float32), texture >= MIN_TEXTURE


def load_reference(image: Any, name: str | None = None) -> Reference:
    """Prepare a color photo as a :class:`Reference`.

    Args:
        image: an image file path (anything ``tinct.io.read_image`` reads), a PIL image, an
            (H, W, 3) uint8 sRGB array, or a :class:`Reference` (returned as it is).
        name: how errors name it; default the path, else ``"reference"``.

    Raises:
        ReferenceError: a gray reference (nothing to carry over), or a bad array.
        tinct.io.images.ImageReadError: an unreadable file (one line naming it).
    """
    if isinstance(image, Reference):
        return image
    if isinstance(image, (str, os.PathLike)):
        name = name or os.fspath(image)
        try:
            pixels = read_image(image, keep_gray=True, draft_size=(4 * MATCH_SIDE, 4 * MATCH_SIDE))
        except ImageReadError as err:  # already one line naming the file
            raise ReferenceError(str(err)) from None
    elif isinstance(image, Image.Image):
        pixels = np.asarray(image if image.mode == "L" else image.convert("RGB"))
    else:
        pixels = np.asarray(image)
    name = name or "reference"
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] != 3):
        raise ReferenceError(f"{name}: expected an (H, W, 3) uint8 color image, got {pixels.dtype} {pixels.shape}")
    if pixels.shape[0] < 8 or pixels.shape[1] < 8:
        raise ReferenceError(f"{name}: the reference is too small ({pixels.shape[1]}x{pixels.shape[0]} pixels)")
    if is_grayscale(pixels):
        raise ReferenceError(f"{name}: the reference is gray; it has no color to carry over (give a color photo)")
    small = _small(pixels, MATCH_SIDE)
    lab = srgb8_to_lab(small).astype(np.float32)
    # L* from the full-resolution photo, resized like the target's (PIL box on the L* plane).
    L = _small(uint8_lightness(pixels), MATCH_SIDE)
    ab = _box(lab[..., 1:].transpose(2, 0, 1), 1).astype(np.float32)
    desc, ok = _descriptors(L)
    ys, xs = _grid(L.shape)
    points = np.stack(np.meshgrid(ys, xs, indexing="ij"), axis=-1)[ok]
    return Reference(name, L, ab, points.astype(np.intp), np.ascontiguousarray(desc[ok]))


def load_references(references: Any) -> tuple[Reference, ...]:
    """One reference or a list of them (anything :func:`load_reference` takes) → prepared ones."""
    if isinstance(references, (list, tuple)):
        if not references:
            raise ReferenceError("reference: an empty list of references")
        return tuple(load_reference(r) for r in references)
    return (load_reference(references),)


def match_best(references: tuple[Reference, ...], L_small: np.ndarray) -> ReferenceMatch:
    """:func:`match_reference` against each reference; the one with the most kept matches wins
    (several references: each colors the targets, or the film's frames, it shows best)."""
    best = None
    for reference in references:
        match = match_reference(reference, L_small)
        if best is None or match.matches > best.matches:
            best = match
    assert best is not None
    return best


def match_reference(reference: Reference, L_small: np.ndarray) -> ReferenceMatch:
    """Match the target's L* against a reference and spread the kept matches' colors.

    Args:
        reference: from :func:`load_reference`.
        L_small: (h, w) target L* in [0, 100] at any size (the model's working size; it is
            resized to :data:`MATCH_SIDE`).

    Returns:
        The spread reference a*b* and its weight on the target's descriptor grid.
    """
    L = _small(np.asarray(L_small, np.float32), MATCH_SIDE)
    desc, ok = _descriptors(L)
    gh, gw = desc.shape[:2]
    empty = ReferenceMatch(np.zeros((2, gh, gw), np.float32), np.zeros((gh, gw), np.float32), 0)
    if len(reference.descriptors) < 2 or ok.sum() < 2:
        return empty
    t_idx = np.flatnonzero(ok.ravel())
    td = desc.reshape(-1, desc.shape[-1])[t_idx]
    rd = reference.descriptors
    # Squared distances from dot products, ‖a‖² + ‖b‖² − 2a·b, in place (a (n, m) float32 matrix:
    # ~3000² at MATCH_SIDE). Only contiguous row reductions and one column minimum: numpy's
    # argmin/argpartition along the strided axis cost several times more.
    d2 = td @ rd.T
    d2 *= -2
    d2 += (td * td).sum(1)[:, None]
    d2 += (rd * rd).sum(1)[None]
    rows = np.arange(len(t_idx))
    best = d2.argmin(axis=1)
    first = d2[rows, best]
    column_min = d2.min(axis=0)
    # Mutual: this target point is (one of) its reference point's nearest.
    mutual = first <= column_min[best]
    d2[rows, best] = np.inf
    second = d2.min(axis=1)
    ratio = np.sqrt(np.maximum(first, 0)) / np.maximum(np.sqrt(np.maximum(second, 0)), 1e-6)
    keep = mutual & (ratio < RATIO)
    # Displacements on the target grid (in match pixels); NaN where nothing was kept.
    disp = np.full((2, gh * gw), np.nan, np.float32)
    tys, txs = np.unravel_index(t_idx, (gh, gw))
    target_px = np.stack(((tys * STRIDE + STRIDE // 2), (txs * STRIDE + STRIDE // 2)))
    disp[:, t_idx[keep]] = (reference.points[best[keep]].T - target_px[:, keep]).astype(np.float32)
    coherent = _coherent(disp.reshape(2, gh, gw)).ravel()[t_idx]
    keep &= coherent
    if not keep.any():
        return empty
    conf = np.zeros(gh * gw, np.float32)
    conf[t_idx[keep]] = np.clip((RATIO - ratio[keep]) / (RATIO - 0.5), 0.05, 1.0)
    disp = np.where(conf > 0, disp, 0).reshape(2, gh, gw)  # NaN where nothing was kept → 0
    spread, weight = _warp(reference, disp, conf.reshape(gh, gw), L)
    return ReferenceMatch(spread, weight, int(keep.sum()))


def _warp(
    reference: Reference, disp: np.ndarray, conf: np.ndarray, L: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Densify the kept matches: every target grid point moves like its matched neighbours
    (a Gaussian-weighted mean of their displacements) and takes the reference's a*b* where it
    lands, trusted as far as matches are near, the point lands inside the reference, and the
    lightness there agrees with its own.

    Args:
        disp: (2, gh, gw) displacements in match pixels (target → reference), 0 where not kept.
        conf: (gh, gw) match confidence, 0 where not kept. L: the target's L* at match size.
    Returns:
        (2, gh, gw) reference a*b* and (gh, gw) weight in [0, 1].
    """
    sigma = WARP_SIGMA
    den = _gaussian_sum(conf[None], sigma)[0]
    num = _gaussian_sum(disp * conf, sigma)
    moved = num / np.maximum(den, 1e-6)
    ys, xs = _grid(L.shape)
    qy = ys[:, None] + moved[0]
    qx = xs[None, :] + moved[1]
    rh, rw = reference.L.shape
    inside = (qy >= 0) & (qy <= rh - 1) & (qx >= 0) & (qx <= rw - 1)
    iy = np.clip(np.rint(qy), 0, rh - 1).astype(np.intp)
    ix = np.clip(np.rint(qx), 0, rw - 1).astype(np.intp)
    L_here = _grid_lightness(L)
    agree = np.exp(-((_box(reference.L, 1)[iy, ix] - L_here) ** 2) / (2 * LIGHTNESS_TOLERANCE**2))
    # A point with matches all around it has den ≈ the sum of the kernel times their confidence;
    # a few matched neighbours are enough (SUPPORT of that sum) to trust the displacement.
    support = np.clip(den / (SUPPORT * 2 * np.pi * sigma**2), 0.0, 1.0)
    weight = (support * agree * inside).astype(np.float32)
    if WEIGHT_BLUR > 0:
        ones = np.ones((1, *weight.shape), np.float32)
        # Smoother over space, steadier from frame to frame (films); never beyond the part of the
        # target the reference shows, nor far from any match.
        blurred = _gaussian_sum(weight[None], WEIGHT_BLUR)[0] / _gaussian_sum(ones, WEIGHT_BLUR)[0]
        weight = (blurred * inside * np.minimum(1.0, 2 * support)).astype(np.float32)
    return reference.ab[:, iy, ix].astype(np.float32), weight


def _grid_lightness(L: np.ndarray) -> np.ndarray:
    """(h, w) L* at match size → (gh, gw) its 3×3 means at the descriptor points."""
    return _box(L, 1)[np.ix_(*_grid(L.shape))].astype(np.float32)


def match_lightness(L_small: np.ndarray) -> np.ndarray:
    """The target's L* on the grid of a :class:`ReferenceMatch` (what a film's frames are
    tracked on, ``tinct.video.temporal.ReferenceTrack``)."""
    return _grid_lightness(_small(np.asarray(L_small, np.float32), MATCH_SIDE))


def _coherent(disp: np.ndarray, radius: int = 4, tolerance: float = 3.0, need: int = 6) -> np.ndarray:
    """(2, gh, gw) displacements (NaN: none) → (gh, gw) bool: at least ``need`` other matches
    within ``radius`` grid points move within ``tolerance`` pixels of this one."""
    gh, gw = disp.shape[1:]
    padded = np.pad(disp, ((0, 0), (radius, radius), (radius, radius)), constant_values=np.nan)
    count = np.zeros((gh, gw), np.int32)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dy == 0 and dx == 0:
                continue
            other = padded[:, radius + dy : radius + dy + gh, radius + dx : radius + dx + gw]
            with np.errstate(invalid="ignore"):
                close = np.hypot(*(other - disp)) <= tolerance
            count += close
    return count >= need


def _gaussian_sum(x: np.ndarray, sigma: float) -> np.ndarray:
    """(C, h, w) → Σ_q exp(−|p − q|² / 2σ²) x[q] over a (6σ + 1)² window, zero outside (one pass
    per axis: the Gaussian is separable, so this costs 2·(6σ + 1) shifts, not (6σ + 1)²)."""
    radius = int(3 * sigma)
    taps = np.exp(-(np.arange(-radius, radius + 1) ** 2) / (2 * sigma**2)).astype(np.float32)
    for axis in (-1, -2):
        n = x.shape[axis]
        pad = [(0, 0)] * x.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(x, pad)
        out = np.zeros_like(x, dtype=np.float32)
        for k, weight in enumerate(taps):
            out += weight * np.take(padded, np.arange(k, k + n), axis=axis)
        x = out
    return x


def _resize(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(C, h, w) → (C, H, W) bilinear (align_corners=False)."""
    out = upsample_width(np.ascontiguousarray(x, np.float32), shape[1])
    return upsample_width(out.swapaxes(-1, -2), shape[0]).swapaxes(-1, -2)


def apply_reference(ab: np.ndarray, match: ReferenceMatch) -> np.ndarray:
    """Blend the model's a*b* toward the matched reference colors.

    Args:
        ab: (2, h, w) float32 a*b* at the model's output resolution.
        match: from :func:`match_reference` on the same target.
    Returns:
        (2, h, w) float32: ``ab + weight · (reference ab − ab)``, the grid maps resized
        bilinearly to (h, w); unchanged where the weight is zero.
    """
    if not match.weight.any():  # no match (or, on a film, none carried here)
        return ab
    shape = ab.shape[-2:]
    weight = _resize(match.weight[None], shape)[0]
    ref_ab = _resize(match.ab, shape)
    return (ab + weight * (ref_ab - ab)).astype(np.float32)


def confidence_map(match: ReferenceMatch, shape: tuple[int, int]) -> np.ndarray:
    """The match's weight as an (H, W) uint8 image (0: automatic, 255: the reference's color)."""
    weight = _resize(match.weight[None], shape)[0]
    return np.clip(np.rint(weight * 255), 0, 255).astype(np.uint8)


def coverage(match: ReferenceMatch) -> float:
    """Share of the target, in [0, 1], whose color comes from the reference (its mean weight)."""
    return float(match.weight.mean())


def digest_references(references: tuple[Reference, ...]) -> list[str]:
    """SHA-256 of each prepared reference's L* and a*b* (what the colors depend on): recorded with
    an output (``inference/provenance``) so that a rerun with another reference, or none, makes
    it again, whatever form the reference came in."""
    import hashlib

    return [hashlib.sha256(r.L.tobytes() + r.ab.tobytes()).hexdigest() for r in references]
