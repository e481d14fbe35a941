"""8-bit sRGB in and out at full resolution, fast and torch-free: the inference path's color math.

``uint8_lightness`` (a photo's L*) and ``lightness_chroma_to_rgb_uint8`` (L* plus a
low-resolution a*b* → the colorized photo) run the compiled kernels of ``_rgb8.c`` over row
ranges on a thread pool (:mod:`tinct.color._pool`). They import neither torch nor numba, so a
`tinct colorize` process that runs its model in ONNX Runtime loads in a fraction of a second.
In-gamut colors come out within one level of scikit-image's float64 ``lab2rgb`` · 255 (float32
arithmetic, exact 8-bit rounding); L* within ~1e-4 of its ``rgb2lab``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinct.color._compiled import compiled
from tinct.color._pool import run_chunks, run_rows
from tinct.color.constants import EPSILON, KAPPA, LINEAR_TO_XYZN, SRGB_T, WHITE_D65, XYZ_FROM_RGB
from tinct.color.gamut_mapping import NO_TABLE, max_chroma_table

__all__ = ["lab_to_rgb_uint8", "lightness_chroma_to_rgb_uint8", "srgb8_to_lab", "uint8_lightness", "upsample_width"]


def _srgb8_to_linear(levels: Any) -> np.ndarray:
    """8-bit sRGB levels (any shape, 0..255) → float64 linear sRGB in [0, 1]: the numpy form of
    ``tinct.color.lab.srgb_to_linear`` (tested against it), for the per-level tables and hint colors."""
    v = np.asarray(levels, dtype=np.float64) / 255
    return np.where(v > SRGB_T, ((np.maximum(v, SRGB_T) + 0.055) / 1.055) ** 2.4, v / 12.92)


def _levels_tables() -> tuple[np.ndarray, np.ndarray]:
    """(3, 256) float32 contribution of each channel's 8-bit level to Y / white, and (256,)
    float32 L* of the gray levels (float64 arithmetic, rounded once)."""
    lin = _srgb8_to_linear(np.arange(256))
    y_parts = np.array(XYZ_FROM_RGB[1])[:, None] / WHITE_D65[1] * lin[None, :]
    y = lin * sum(XYZ_FROM_RGB[1]) / WHITE_D65[1]
    f = np.where(y > EPSILON, np.cbrt(y), KAPPA * y + 16 / 116)
    return np.ascontiguousarray(y_parts, dtype=np.float32), (116 * f - 16).astype(np.float32)


Y_PARTS, L_GRAY = _levels_tables()
Y_PARTS.flags.writeable = False
L_GRAY.flags.writeable = False


def _as_numpy(x: Any) -> np.ndarray:
    """A numpy view of an array or a tensor (without importing torch), float32."""
    if hasattr(x, "detach"):  # a torch tensor: to the CPU, without its autograd graph
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def uint8_lightness(image: np.ndarray) -> np.ndarray:
    """CIE L* of an 8-bit sRGB image.

    Args:
        image: (H, W, 3) uint8 sRGB, or (H, W) uint8 gray (one level per pixel, as R = G = B).

    Returns:
        (H, W) float32 L* in [0, 100], from per-level tables: a gray pixel (R = G = B) is one
        lookup in :data:`L_GRAY`, so a gray image and its RGB expansion give the same L* bit for bit.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"expected an (H, W, 3) or (H, W) uint8 image, got {image.dtype} {image.shape}")
    if image.ndim == 2:
        return L_GRAY[image]
    rgb = np.ascontiguousarray(image)
    height, width = rgb.shape[:2]
    out = np.empty((height, width), np.float32)
    ext = compiled()
    run_rows(lambda n, y0, y1: ext.lightness8(rgb, out, Y_PARTS, L_GRAY, width, height, y0, y1), 1, height, width)
    return out


def srgb8_to_lab(colors: np.ndarray) -> np.ndarray:
    """(..., 3) 8-bit sRGB colors (e.g. a handful of hint colors) → (..., 3) float64 L*a*b*, by
    the textbook formulas in float64 (a few colors: no kernel needed)."""
    lin = _srgb8_to_linear(colors)
    t = lin @ LINEAR_TO_XYZN.T  # X, Y, Z over the white point
    f = np.where(t > EPSILON, np.cbrt(t), KAPPA * t + 16 / 116)
    return np.stack((116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])), axis=-1)


def upsample_width(ab: np.ndarray, width: int) -> np.ndarray:
    """(C, h, w) → (C, h, width) float32: the width pass of a bilinear resize with
    ``align_corners=False`` (as ``torch.nn.functional.interpolate`` computes it, in float32)."""
    w = ab.shape[-1]
    scale = np.float32(w / width)
    src = np.maximum(scale * (np.arange(width, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5), np.float32(0))
    j0 = src.astype(np.intp)  # src >= 0: truncation is floor
    j1 = j0 + (j0 < w - 1)
    lam1 = src - j0.astype(np.float32)
    lam0 = np.float32(1) - lam1
    return ab[..., j0] * lam0 + ab[..., j1] * lam1


def lightness_chroma_to_rgb_uint8(
    L: Any, ab: Any | None, *, out: np.ndarray | None = None, keep_lightness: bool = True
) -> np.ndarray:
    """Full-resolution L* plus a*b* at a lower resolution → 8-bit sRGB, without ever making
    full-resolution a*b* planes (the chroma's height pass is done row by row, in cache).

    Args:
        L: (H, W) L* in [0, 100] (numpy array or CPU tensor).
        ab: (2, h, w) a*b* (array or tensor), bilinearly upsampled to (H, W) as
            ``F.interpolate(ab[None], (H, W), mode="bilinear", align_corners=False)`` does;
            ``None`` for zero chroma (gray).
        out: optional (H, W, 3) uint8 array (or view) to write into.
        keep_lightness: colors outside the sRGB gamut keep their L* and hue and lose just enough
            chroma to fit (to within 0.5 %, see :mod:`tinct.color.gamut_mapping`). With False
            they are clipped per channel, which changes their lightness.

    Returns:
        (H, W, 3) uint8 sRGB (``out`` if given).
    """
    L = _as_numpy(L)
    if L.ndim != 2:
        raise ValueError(f"expected an (H, W) L* plane, got shape {L.shape}")
    height, width = L.shape
    if ab is None:
        zeros = np.zeros((2, 1, width), np.float32)
        rows, frac = np.zeros(height, np.int64), np.zeros(height, np.float32)
        return _rgb8(L, zeros, zeros, rows, frac, out, keep_lightness)
    ab = _as_numpy(ab)
    if ab.ndim != 3 or ab.shape[0] != 2:
        raise ValueError(f"expected a (2, h, w) a*b* array, got shape {ab.shape}")
    h = ab.shape[1]
    # Separable bilinear: the width pass once on the few low-resolution rows; the height pass per
    # row in the kernel as row + (next row - row) * frac, with the interpolation's source rows.
    rows = upsample_width(ab, width)
    steps = np.concatenate((np.diff(rows, axis=1), np.zeros((2, 1, width), np.float32)), axis=1)
    src = ((np.arange(height, dtype=np.float64) + 0.5) * (h / height) - 0.5).clip(min=0)
    i0 = np.minimum(np.floor(src).astype(np.int64), h - 1)
    frac = np.where(i0 < h - 1, src - i0, 0).astype(np.float32)
    return _rgb8(L, rows, steps, i0, frac, out, keep_lightness)


def lab_to_rgb_uint8(lab: Any, *, out: np.ndarray | None = None, keep_lightness: bool = True) -> np.ndarray:
    """(3, H, W) CIE L*a*b* (array or tensor, computed in float32) → (H, W, 3) uint8 sRGB; see
    :func:`lightness_chroma_to_rgb_uint8` for ``out`` and ``keep_lightness``."""
    lab = _as_numpy(lab)
    if lab.ndim != 3 or lab.shape[0] != 3:
        raise ValueError(f"expected a (3, H, W) array, got shape {lab.shape}")
    height = lab.shape[1]
    rows, frac = np.arange(height, dtype=np.int64), np.zeros(height, np.float32)  # a*b* as they are
    ab = np.ascontiguousarray(lab[1:])
    return _rgb8(lab[0], ab, ab, rows, frac, out, keep_lightness)


def _rgb8(
    L: np.ndarray,
    ab_rows: np.ndarray,
    ab_steps: np.ndarray,
    row_index: np.ndarray,
    row_frac: np.ndarray,
    out: np.ndarray | None,
    keep_lightness: bool,
) -> np.ndarray:
    """Driver: row y's a*b* is ``ab_rows[:, i] + ab_steps[:, i] * row_frac[y]`` with
    i = ``row_index[y]`` (see ``_rgb8.c``)."""
    height, width = L.shape
    if out is None:
        out = np.empty((height, width, 3), dtype=np.uint8)
    elif out.shape != (height, width, 3) or out.dtype != np.uint8:
        raise ValueError(f"out must be a ({height}, {width}, 3) uint8 array, got {out.dtype} {out.shape}")
    dst = out if out.flags.c_contiguous else np.empty((height, width, 3), np.uint8)
    L = np.ascontiguousarray(L, dtype=np.float32)
    ab_rows = np.ascontiguousarray(ab_rows, dtype=np.float32)
    ab_steps = np.ascontiguousarray(ab_steps, dtype=np.float32)
    row_index = np.ascontiguousarray(row_index, dtype=np.int64)
    row_frac = np.ascontiguousarray(row_frac, dtype=np.float32)
    low_rows = ab_rows.shape[1]
    ext = compiled()
    # The gamut table (~0.1 s to build) is only built once some color is out of gamut: the kernel
    # leaves such colors clipped and counts them while it has no table; those rows are then redone.
    built = max_chroma_table.cache_info().currsize > 0
    table = max_chroma_table() if built else NO_TABLE

    def task(n: int, y0: int, y1: int) -> int:
        t_rows, t_cols = table.shape
        return ext.lab_to_rgb8(
            L, ab_rows, ab_steps, row_index, row_frac, dst, table, t_rows, t_cols, keep_lightness,
            width, height, low_rows, y0, y1,
        )  # fmt: skip

    chunks = run_rows(task, 1, height, width)
    redo = [chunk for chunk, left in chunks if left]
    if keep_lightness and redo:
        table = max_chroma_table()
        run_chunks(task, redo)
    if dst is not out:
        np.copyto(out, dst)
    return out
