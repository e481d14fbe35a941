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

from tinct.color._compiled import compiled
from tinct.color._pool import run_rows

# The margin and the halvings are numbers the compiled kernel checks: they live with the others.
from tinct.color.constants import GAMUT_MARGIN, GAMUT_STEPS  # noqa: F401

__all__ = ["GAMUT_MARGIN", "GAMUT_STEPS", "NO_TABLE", "max_chroma_table"]
#: Stands for "no table yet": the kernel then clips out-of-gamut colors and counts them.
NO_TABLE = np.zeros((0, 0), dtype=np.float32)


#: The table's grid: L* = 0, 0.5, ..., 100 and hue = -π ... π in 0.5° steps.
TABLE_SHAPE = (201, 721)


@functools.lru_cache(maxsize=1)
def max_chroma_table() -> np.ndarray:
    """(201, 721) float32 largest chroma inside the sRGB gamut for L* = 0, 0.5, ..., 100 and
    hue = -π ... π in 0.5° steps (24 halvings of [0, 200] in float64, strict gamut: no
    tolerance). Computed by the compiled kernels on the color thread pool, ~0.1 s on 2 cores, once per
    process."""
    ext = compiled()
    rows, cols = TABLE_SHAPE
    table = np.empty(TABLE_SHAPE, np.float32)
    run_rows(lambda n, y0, y1: ext.max_chroma_rows(table, rows, cols, y0, y1), 1, rows, cols * 64)
    table.flags.writeable = False
    return table
