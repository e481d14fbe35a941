"""Fused per-pixel sRGB <-> CIE L*a*b* kernels for float32 tensors (numba), driven by :mod:`tinct.color.fast`.

The 8-bit kernels of inference (a photo's L*, the colorized photo) are compiled C instead
(``_rgb8.c``, same formulas): a `tinct colorize` process must not pay numba's start-up.

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
the GIL released; :mod:`tinct.color._pool` spreads row ranges over its thread pool, so the thread
count follows ``tinct.threads.get_num_threads()``. Not numba's ``parallel=True``: its default threading
layer here (GNU OpenMP) kills a process forked after a parallel kernel ran (DataLoader workers,
multiprocessing), and its fallback layer (workqueue) aborts on concurrent calls (``tinct serve``).

Compiled on first use and cached on disk (``cache=True``: in ``__pycache__`` next to this file,
or numba's user cache directory when that is not writable).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from tinct.color.constants import (
    EPSILON,
    FINV_T,
    KAPPA,
    LINEAR_T,
    LINEAR_TO_XYZN,
    SRGB_T,
    XYZN_TO_LINEAR,
)

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
