"""Fused per-pixel sRGB <-> CIE L*a*b* kernels for the fast CPU path (numba), driven by :mod:`tinct.color.fast`.

Why: the numpy path makes ~10 passes over memory per conversion, and its pow and cbrt are most
of the rest. Here every pixel is read once, converted in registers and written once, and the
loops are SIMD-vectorized by LLVM (12 MP float32 on 2 cores: ~20 ms to L*a*b*, ~14 ms back,
3-6x faster than numpy). That needs loops without libm calls (they do not vectorize without
Intel's SVML): roots are refined by multiplications alone from a bit-level guess (third-order
steps, then Newton), pow(u, 2.4) = (u · u^(-1/5))³, and u^(1/2.4) = cbrt(u) · cbrt(u)^(1/4)
(square roots are SIMD instructions).

Accuracy: float32 arithmetic, ~1 ulp per root. L*a*b* within ~6e-5 (L*a*b* units) of a float64
conversion, sRGB within ~1e-5. a* and b* are differences of cube roots times 500 and 200, so
they are computed as (X - Y) / (fx² + fx·fy + fy²) with X - Y formed directly from linear RGB;
subtracting two rounded cube roots would cost ~3e-4. One exception, as in any float32
conversion: CIE's f steps by 3e-7 at epsilon (its rounded constants), so where rounding puts X,
Y or Z on the other side of epsilon than float64 does, a* or b* differ by up to 1.6e-4.

Non-finite input: a NaN channel gives NaN (as the torch path does; 0 in 8-bit output); ±inf
gives non-finite values, not always the ones the torch path gives.

Threads: each kernel converts a range of rows [y0, y1) of one image in the calling thread with
the GIL released; :mod:`tinct.color.fast` spreads row ranges over its thread pool, so the thread
count follows ``torch.get_num_threads()``. Not numba's ``parallel=True``: its default threading
layer here (GNU OpenMP) kills a process forked after a parallel kernel ran (DataLoader workers,
multiprocessing), and its fallback layer (workqueue) aborts on concurrent calls (``tinct serve``).

Compiled on first use and cached on disk (``cache=True``: in ``__pycache__`` next to this file,
or numba's user cache directory when that is not writable).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from tinct.color.constants import (
    EPSILON,
    FINV_T,
    GAMUT_TOLERANCE,
    KAPPA,
    LINEAR_T,
    LINEAR_TO_XYZN,
    SRGB_T,
    XYZN_TO_LINEAR,
)
from tinct.color.gamut_mapping import GAMUT_MARGIN, GAMUT_STEPS

# error_model="numpy": no ZeroDivisionError checks (they would stop vectorization). fastmath
# without "nnan"/"ninf", so NaN still propagates through comparisons and selects.
_JIT = dict(nogil=True, cache=True, error_model="numpy", boundscheck=False, fastmath={"contract", "arcp", "nsz"})
# Per-pixel helpers are inlined into the row loops by numba itself: a call left in a loop (LLVM
# does not inline the bigger helpers) keeps the loop from being vectorized, ~15x slower.
_INLINE = dict(_JIT, inline="always")

_F = np.float32
_M_XYZ = LINEAR_TO_XYZN  # linear RGB -> XYZ / white, float64
_M_RGB = XYZN_TO_LINEAR  # XYZ / white -> linear RGB, float64
# Module-level float32 scalars are compile-time constants for numba.
(_X0, _X1, _X2), (_Y0, _Y1, _Y2), (_Z0, _Z1, _Z2) = ((_F(v) for v in row) for row in _M_XYZ)
(_R0, _R1, _R2), (_G0, _G1, _G2), (_B0, _B1, _B2) = ((_F(v) for v in row) for row in _M_RGB)
# Rows of X - Y and Y - Z (from the float64 matrix, so they are not differences of rounded rows).
_XY0, _XY1, _XY2 = (_F(v) for v in _M_XYZ[0] - _M_XYZ[1])
_YZ0, _YZ1, _YZ2 = (_F(v) for v in _M_XYZ[1] - _M_XYZ[2])
_EPS = _F(EPSILON)
_KAP = _F(KAPPA)
_SRGB_T = _F(SRGB_T)
_LINEAR_T = _F(LINEAR_T)
_FINV_T = _F(FINV_T)
_TOL = _F(GAMUT_TOLERANCE)
# Bit-level first guesses of x^(-1/n): magic - bits(x) / n, constants fitted for the smallest
# largest relative error (3.4 % for n = 3, 3.1 % for n = 5).
_MAGIC3 = np.int32(0x54A232AA)
_MAGIC5 = np.int32(0x4C2BAC83)


@intrinsic
def _bits(typingctx, x):
    """The int32 with the bits of float32 ``x``."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


@intrinsic
def _from_bits(typingctx, i):
    """The float32 with the bits of int32 ``i``."""
    if i != types.int32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@njit(**_INLINE)
def _seed(x, magic, inv_n):
    """x^(-1/n) to ~3 % for float32 x > 0 (bits(x) / n through float32: exact enough here)."""
    return _from_bits(np.int32(magic - np.int32(_F(_bits(x)) * inv_n)))


@njit(**_INLINE)
def _cbrt(c):
    """c^(1/3) for float32 c > 0, to ~1 ulp."""
    y = _seed(c, _MAGIC3, _F(1 / 3))
    e = _F(1) - c * y * y * y  # y³c = 1 - e: y *= (1 - e)^(-1/3) to third order, 3 % -> 2e-4
    y = y + y * e * (_F(1 / 3) + e * _F(2 / 9))
    r = c * y * y
    return r + (c - r * r * r) * (y * y * _F(1 / 3))  # Newton on r³ = c, residual form


@njit(**_INLINE)
def _f(t):
    """CIE's f: the cube root above epsilon, kappa·t + 16/116 below."""
    return _cbrt(max(t, _EPS)) if t > _EPS else t * _KAP + _F(16 / 116)


@njit(**_INLINE)
def _f_diff(fa, fb, ta, tb, d):
    """f(ta) - f(tb) given fa = f(ta), fb = f(tb) and d = ta - tb (computed directly): without
    the cancellation of fa - fb (a³ - b³ = (a - b)(a² + ab + b²))."""
    mixed = fa - fb if (ta > _EPS) | (tb > _EPS) else _KAP * d  # both on the linear segment: exact
    return d / (fa * fa + fa * fb + fb * fb) if (ta > _EPS) & (tb > _EPS) else mixed


@njit(**_INLINE)
def _decode(v):
    """srgb_to_linear of one float32 value."""
    u = (max(v, _SRGB_T) + _F(0.055)) * _F(1 / 1.055)  # in [0.0875, ...)
    y = _seed(u, _MAGIC5, _F(1 / 5))
    for _ in range(2):  # y⁵u = 1 - e: y *= (1 - e)^(-1/5) to third order, 3 % -> 3e-4 -> ~1 ulp
        y2 = y * y
        e = _F(1) - u * y2 * y2 * y
        y = y + y * e * (_F(1 / 5) + e * _F(3 / 25))
    uy = u * y  # u^(4/5)
    return uy * uy * uy if v > _SRGB_T else v * _F(1 / 12.92)


@njit(**_INLINE)
def _encode_power(c):
    """1.055 · c^(1/2.4) - 0.055 without the offset: c^(5/12) = cbrt(c) · cbrt(c)^(1/4)."""
    r = _cbrt(c)
    return r * np.sqrt(np.sqrt(r))


@njit(**_INLINE)
def _encode(lin):
    """linear_to_srgb of a value in [0, 1] (or NaN)."""
    p = _F(1.055) * _encode_power(max(lin, _LINEAR_T)) - _F(0.055)
    return p if lin > _LINEAR_T else lin * _F(12.92)


@njit(**_INLINE)
def _encode8(lin):
    """linear_to_srgb(clip(lin, 0, 1)) · 255 as uint8, rounded (NaN gives 0)."""
    c = lin if lin > 0 else _F(0)
    c = c if c < 1 else _F(1)
    p = _F(1.055 * 255) * _encode_power(max(c, _LINEAR_T)) + _F(0.5 - 0.055 * 255)
    v = p if c > _LINEAR_T else c * _F(12.92 * 255) + _F(0.5)
    return np.uint8(v)  # truncation of v + 0.5: rounding


@njit(**_INLINE)
def _lab_px(r, g, b):
    """One sRGB pixel (float32) → L*, a*, b*."""
    lr, lg, lb = _decode(r), _decode(g), _decode(b)
    x = _X0 * lr + _X1 * lg + _X2 * lb
    y = _Y0 * lr + _Y1 * lg + _Y2 * lb
    z = _Z0 * lr + _Z1 * lg + _Z2 * lb
    fx, fy, fz = _f(x), _f(y), _f(z)
    a = _F(500) * _f_diff(fx, fy, x, y, _XY0 * lr + _XY1 * lg + _XY2 * lb)
    b = _F(200) * _f_diff(fy, fz, y, z, _YZ0 * lr + _YZ1 * lg + _YZ2 * lb)
    return _F(116) * fy - _F(16), a, b


@njit(**_INLINE)
def _lightness_px(r, g, b):
    """L* of one sRGB pixel (float32)."""
    lr, lg, lb = _decode(r), _decode(g), _decode(b)
    return _F(116) * _f(_Y0 * lr + _Y1 * lg + _Y2 * lb) - _F(16)


@njit(**_INLINE)
def _finv(f):
    """Inverse of CIE's f: the cube above 6/29, the linear segment below."""
    c = max(f, _FINV_T)
    return c * c * c if f > _FINV_T else (f - _F(16 / 116)) * _F(1 / KAPPA)


@njit(**_INLINE)
def _linear_px(L, a, b):
    """L*, a*, b* (float32) → unclipped linear sRGB."""
    fy = (L + _F(16)) * _F(1 / 116)
    fx = fy + a * _F(1 / 500)
    fz = fy - b * _F(1 / 200)
    fz = _F(0) if fz < 0 else fz  # scikit-image clips z at 0 the same way (NaN stays NaN)
    x, y, z = _finv(fx), _finv(fy), _finv(fz)
    return _R0 * x + _R1 * y + _R2 * z, _G0 * x + _G1 * y + _G2 * z, _B0 * x + _B1 * y + _B2 * z


@njit(**_INLINE)
def _unit(v):
    """clip(v, 0, 1), NaN kept."""
    v = _F(0) if v < 0 else v
    return _F(1) if v > 1 else v


# --------------------------------------------------------------------------------------------
# Row kernels. src and dst are one image; rows [y0, y1) are converted. Interleaved (H, W, 3) rows
# are first copied to planar (3, W) rows: LLVM does not vectorize loops that load or store with a
# stride of 3, and the copy costs ~0.4 ns per pixel where the conversion would be ~15x slower.


@njit(**_INLINE)
def _to_planar(row, planar):
    """(W, 3) → (3, W)."""
    for x in range(row.shape[0]):
        planar[0, x], planar[1, x], planar[2, x] = row[x, 0], row[x, 1], row[x, 2]


@njit(**_INLINE)
def _lab_row(r, g, b, o0, o1, o2):
    for x in range(r.shape[0]):
        o0[x], o1[x], o2[x] = _lab_px(r[x], g[x], b[x])


@njit(**_INLINE)
def _lightness_row(r, g, b, o):
    for x in range(r.shape[0]):
        o[x] = _lightness_px(r[x], g[x], b[x])


@njit(**_JIT)
def rgb_to_lab_chw(src, dst, y0, y1):
    """(3, H, W) float32 sRGB → (3, H, W) float32 L*a*b*."""
    for y in range(y0, y1):
        _lab_row(src[0, y], src[1, y], src[2, y], dst[0, y], dst[1, y], dst[2, y])


@njit(**_JIT)
def rgb_to_lab_hwc(src, dst, y0, y1):
    """(H, W, 3) float32 sRGB → (3, H, W) float32 L*a*b*."""
    p = np.empty((3, src.shape[1]), dtype=np.float32)
    for y in range(y0, y1):
        _to_planar(src[y], p)
        _lab_row(p[0], p[1], p[2], dst[0, y], dst[1, y], dst[2, y])


@njit(**_JIT)
def lightness_chw(src, dst, y0, y1):
    """(3, H, W) float32 sRGB → (1, H, W) float32 L*."""
    for y in range(y0, y1):
        _lightness_row(src[0, y], src[1, y], src[2, y], dst[0, y])


@njit(**_JIT)
def lightness_hwc(src, dst, y0, y1):
    """(H, W, 3) float32 sRGB → (1, H, W) float32 L*."""
    p = np.empty((3, src.shape[1]), dtype=np.float32)
    for y in range(y0, y1):
        _to_planar(src[y], p)
        _lightness_row(p[0], p[1], p[2], dst[0, y])


@njit(**_JIT)
def lightness_uint8_hwc(src, dst, y_parts, l_gray, y0, y1):
    """(H, W, 3) uint8 sRGB → (1, H, W) float32 L*, from per-level tables: ``y_parts`` (3, 256)
    each channel's share of Y, ``l_gray`` (256,) L* of the gray levels. A row of gray pixels
    (R = G = B, as in a gray photo) is one table lookup per pixel."""
    p = np.empty((3, src.shape[1]), dtype=np.uint8)
    r, g, b = p[0], p[1], p[2]
    for y in range(y0, y1):
        _to_planar(src[y], p)
        o = dst[0, y]
        colored = 0
        for x in range(r.shape[0]):
            colored += (r[x] != g[x]) | (r[x] != b[x])
        if colored == 0:
            for x in range(r.shape[0]):
                o[x] = l_gray[r[x]]
        else:  # two loops: with the lookups in it, LLVM leaves the cube-root loop scalar (5x slower)
            for x in range(r.shape[0]):
                o[x] = y_parts[0, r[x]] + y_parts[1, g[x]] + y_parts[2, b[x]]  # Y
            for x in range(r.shape[0]):
                o[x] = _F(116) * _f(o[x]) - _F(16)


@njit(**_JIT)
def lab_to_rgb_chw(src, dst, y0, y1):
    """(3, H, W) float32 L*a*b* → (3, H, W) float32 sRGB, clipped per channel to [0, 1]."""
    for y in range(y0, y1):
        L, a, b = src[0, y], src[1, y], src[2, y]
        o0, o1, o2 = dst[0, y], dst[1, y], dst[2, y]
        for x in range(L.shape[0]):
            r, g, bl = _linear_px(L[x], a[x], b[x])
            o0[x] = _encode(_unit(r))
            o1[x] = _encode(_unit(g))
            o2[x] = _encode(_unit(bl))


@njit(**_JIT)
def lab_to_rgb8(L, ab_rows, ab_steps, row_index, row_frac, out, table, keep_lightness, y0, y1):
    """L* plus (upsampled) a*b* → 8-bit sRGB, rows [y0, y1).

    Args:
        L: (H, W) float32 L*.
        ab_rows, ab_steps: (2, h, W) float32: row y's a*b* is ``ab_rows[:, i] + ab_steps[:, i] *
            row_frac[y]`` with i = ``row_index[y]`` (a bilinear height pass; where ``row_frac``
            is 0, ``ab_rows[:, i]`` as it is).
        row_index, row_frac: (H,) int64 and float32.
        out: (H, W, 3) uint8.
        table: (201, 721) float32 largest in-gamut chroma per L* and hue
            (``tinct.color.gamut_mapping.max_chroma_table``).
        keep_lightness: out-of-gamut colors lose chroma (True) or are clipped per channel (False).

    Returns:
        How many out-of-gamut colors were clipped for want of a table (``table`` of size 0).
    """
    width = L.shape[1]
    bad = np.empty(width, dtype=np.uint8)
    p = np.empty((3, width), dtype=np.uint8)  # the row, planar
    # The row's out-of-gamut pixels, compacted (gathers from the row would keep loops scalar:
    # LLVM does not emit vector gathers for AMD Zen, where they are slow).
    where = np.empty(width, dtype=np.int64)
    lab = np.empty((3, width), dtype=np.float32)
    cell = np.empty(width, dtype=np.int64)
    weights = np.empty((2, width), dtype=np.float32)
    scales = np.empty(width, dtype=np.float32)
    fitted = np.empty((3, width), dtype=np.uint8)
    fits = np.empty(width, dtype=np.uint8)
    flat = table.ravel()
    rows, columns = table.shape
    left = 0
    for y in range(y0, y1):
        Ly = L[y]
        i, t = row_index[y], row_frac[y]
        a0, b0, da, db = ab_rows[0, i], ab_rows[1, i], ab_steps[0, i], ab_steps[1, i]
        for x in range(width):
            a = a0[x] + da[x] * t if t != 0 else a0[x]
            b = b0[x] + db[x] * t if t != 0 else b0[x]
            r, g, bl = _linear_px(Ly[x], a, b)
            bad[x] = max(-min(r, min(g, bl)), max(r, max(g, bl)) - _F(1)) > _TOL
            p[0, x], p[1, x], p[2, x] = _encode8(r), _encode8(g), _encode8(bl)
        count = 0
        if keep_lightness:
            for x in range(width):
                count += bad[x]
        if count and table.shape[0] < 2:  # no table yet: clipped for now, redone with the table
            left += count
        elif count:
            n = 0
            for x in range(width):
                if bad[x]:
                    where[n] = x
                    lab[0, n] = Ly[x]
                    lab[1, n] = a0[x] + da[x] * t if t != 0 else a0[x]
                    lab[2, n] = b0[x] + db[x] * t if t != 0 else b0[x]
                    n += 1
            cL, ca, cb = lab[0, :n], lab[1, :n], lab[2, :n]
            for k in range(n):  # the table cell of each color's L* and hue (vectorized)
                cell[k], weights[0, k], weights[1, k] = _table_cell(cL[k], ca[k], cb[k], rows, columns)
            for k in range(n):  # its largest in-gamut chroma (scalar: table lookups)
                q, wl, wh = cell[k], weights[0, k], weights[1, k]
                top = flat[q] + (flat[q + 1] - flat[q]) * wh
                w = q + columns
                scales[k] = top + (flat[w] + (flat[w + 1] - flat[w]) * wh - top) * wl
            for k in range(n):  # the a*b* scale it allows, and the color at that scale (vectorized)
                chroma = np.sqrt(ca[k] * ca[k] + cb[k] * cb[k])
                scale = scales[k] * _F(1 - GAMUT_MARGIN) / max(chroma, _F(1e-6))
                scale = scale if scale < 1 else _F(1)
                r, g, bl = _linear_px(cL[k], ca[k] * scale, cb[k] * scale)
                fits[k] = max(-min(r, min(g, bl)), max(r, max(g, bl)) - _F(1)) <= _TOL
                scales[k] = scale
                fitted[0, k], fitted[1, k], fitted[2, k] = _encode8(r), _encode8(g), _encode8(bl)
            for k in range(n):
                if not fits[k]:  # next to the gamut's cusps: a bisection below the table's scale
                    L64, a64, b64 = np.float64(cL[k]), np.float64(ca[k]), np.float64(cb[k])
                    r, g, bl = _bisect_chroma(L64, a64, b64, np.float64(scales[k]))
                    fitted[0, k], fitted[1, k], fitted[2, k] = _encode8(_F(r)), _encode8(_F(g)), _encode8(_F(bl))
                x = where[k]
                p[0, x], p[1, x], p[2, x] = fitted[0, k], fitted[1, k], fitted[2, k]
        o = out[y]
        for x in range(width):
            o[x, 0], o[x, 1], o[x, 2] = p[0, x], p[1, x], p[2, x]
    return left


# --------------------------------------------------------------------------------------------
# Out-of-gamut colors (see tinct.color.gamut_mapping): the largest chroma at the color's L*
# and hue that fits the gamut. A table of the gamut's largest chroma per (L*, hue) gives the a*b*
# scale directly (less a 0.5 % margin for its interpolation); colors that still do not fit (next
# to the gamut's cusps, rare) get a bisection of the scale between 0 (gray) and that guess.

# atan(t) on [0, 1] as t·P(t²), P fitted for the smallest largest error (2e-6 rad).
_ATAN = tuple(_F(c) for c in (0.99997723, -0.33262283, 0.19354038, -0.11642648, 0.05264735, -0.01171913))


@njit(**_INLINE)
def _atan2(y, x):
    """atan2 for float32, to ~2e-6 rad (libm's does not vectorize); 0 for (0, 0)."""
    ax, ay = abs(x), abs(y)
    t = min(ax, ay) / max(max(ax, ay), _F(1e-30))
    u = t * t
    c0, c1, c2, c3, c4, c5 = _ATAN
    r = t * (c0 + u * (c1 + u * (c2 + u * (c3 + u * (c4 + u * c5)))))
    r = _F(math.pi / 2) - r if ay > ax else r
    r = _F(math.pi) - r if x < 0 else r
    return -r if y < 0 else r


@njit(**_INLINE)
def _table_cell(L, a, b, rows, columns):
    """Where float32 L*a*b* falls in the (rows, columns) gamut table (largest chroma at L* = 0 ...
    100 and hue = -π ... π, evenly spaced): the flat index of its cell's first corner and the
    bilinear weights along L* and hue."""
    v = L if L > 0 else _F(0)  # NaN -> 0: indices stay inside the table
    v = (v if v < 100 else _F(100)) * _F((rows - 1) / 100)
    h = (_atan2(b, a) + _F(math.pi)) * _F((columns - 1) / (2 * math.pi))
    h = h if h > 0 else _F(0)
    i = min(np.int32(v), np.int32(rows - 2))
    j = min(np.int32(h), np.int32(columns - 2))
    return np.int64(i) * columns + j, v - _F(i), h - _F(j)


@njit(**_INLINE)
def _finv64(f):
    return f * f * f if f > FINV_T else (f - 16 / 116) / KAPPA


@njit(**_INLINE)
def _linear_at(fy, alpha, beta, y_lin, s):
    """Linear sRGB at a*b* scaled by s (only X and Z depend on s; Y is fixed by L*)."""
    x = _finv64(fy + s * alpha)
    z = _finv64(max(fy - s * beta, 0.0))
    m = _M_RGB
    return (
        m[0, 0] * x + m[0, 1] * y_lin + m[0, 2] * z,
        m[1, 0] * x + m[1, 1] * y_lin + m[1, 2] * z,
        m[2, 0] * x + m[2, 1] * y_lin + m[2, 2] * z,
    )


@njit(**_INLINE)
def _fits(r, g, b):
    return max(-min(r, min(g, b)), max(r, max(g, b)) - 1) <= GAMUT_TOLERANCE


@njit(**_JIT)  # a call: only the rare colors the table's guess does not bring inside come here
def _bisect_chroma(L, a, b, hi):
    """Linear sRGB (float64) of L*a*b* with its a*b* scaled by the largest s in [0, hi] that fits
    the gamut (``GAMUT_STEPS`` halvings; s = 0, gray, fits whenever L* is in [0, 100])."""
    fy = (L + 16) / 116
    alpha, beta = a / 500, b / 200
    y_lin = _finv64(fy)
    lo = 0.0
    for _ in range(GAMUT_STEPS):
        mid = (lo + hi) * 0.5
        r, g, bl = _linear_at(fy, alpha, beta, y_lin, mid)
        if _fits(r, g, bl):
            lo = mid
        else:
            hi = mid
    return _linear_at(fy, alpha, beta, y_lin, lo)
