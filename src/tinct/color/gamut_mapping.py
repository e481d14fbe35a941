"""Gamut mapping of out-of-gamut L*a*b* colors: keep L* and hue, give up just enough chroma.

The gamut's largest chroma per (L*, hue) is tabulated once (:func:`max_chroma_table`); a color's
a*b* is scaled by table / chroma less :data:`GAMUT_MARGIN` (for the table's bilinear
interpolation), and the rare colors that still do not fit (next to the gamut's cusps) get
:data:`GAMUT_STEPS` halvings of that scale. The per-pixel part runs inside the compiled row kernel
``lab_to_rgb8`` of ``tinct/color/_rgb8.c`` (which checks these constants at import), driven by
:mod:`tinct.color.rgb8`.
"""

from __future__ import annotations

import functools

import numpy as np

from tinct.color.constants import FINV_T, KAPPA, XYZN_TO_LINEAR

__all__ = ["GAMUT_MARGIN", "GAMUT_STEPS", "NO_TABLE", "max_chroma_table"]

#: Relative chroma given up so that the table's first guess nearly always fits.
GAMUT_MARGIN = 0.005
#: Halvings of the a*b* scale for the colors the table's guess leaves outside.
GAMUT_STEPS = 8
#: Stands for "no table yet": the kernel then clips out-of-gamut colors and counts them.
NO_TABLE = np.zeros((0, 0), dtype=np.float32)


@functools.lru_cache(maxsize=1)
def max_chroma_table() -> np.ndarray:
    """(201, 721) float32 largest chroma inside the sRGB gamut for L* = 0, 0.5, ..., 100 and
    hue = -π ... π in 0.5° steps (float64 bisection, strict gamut: no tolerance). ~0.1 s, once
    per process."""
    L = np.linspace(0, 100, 201)[:, None]
    hue = np.linspace(-np.pi, np.pi, 721)[None, :]
    cos, sin = np.cos(hue), np.sin(hue)
    lo = np.zeros((201, 721))
    hi = np.full((201, 721), 200.0)  # sRGB chroma stays below ~135
    fy = (L + 16) / 116
    for _ in range(24):  # 200 / 2**24: far finer than the table's interpolation
        mid = (lo + hi) / 2
        f = np.stack(np.broadcast_arrays(fy + mid * cos / 500, fy, np.maximum(fy - mid * sin / 200, 0)))
        xyz = np.where(f > FINV_T, f**3, (f - 16 / 116) / KAPPA)
        lin = np.einsum("ij,jhw->ihw", XYZN_TO_LINEAR, xyz)
        ok = (lin.min(axis=0) >= 0) & (lin.max(axis=0) <= 1)
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    return lo.astype(np.float32)
