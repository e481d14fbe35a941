"""The numbers of sRGB <-> CIE L*a*b* (D65, 2° observer), defined once for every implementation.

They are scikit-image's (``skimage.color.rgb2lab`` with its defaults), so tinct agrees with it to
float32 precision. This module imports neither torch nor numba: the torch functions
(:mod:`tinct.color.lab`), the numba kernels (:mod:`tinct.color._kernels`) and the gamut table
(:mod:`tinct.color.gamut_mapping`) all read their constants from here.

numba compiles module-level numbers into its kernels as constants and keys its disk cache on the
kernel's own file only: after changing a number here, delete ``tinct/color/__pycache__/*.nb[ic]``
(or touch ``_kernels.py``) so the kernels are recompiled.
"""

from __future__ import annotations

import numpy as np

#: sRGB (linear) → CIE XYZ matrix (scikit-image's ``xyz_from_rgb``), rows X, Y, Z.
XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
#: D65 reference white (2° observer): X, Y, Z (as in ``skimage.color.colorconv._illuminants``).
WHITE_D65 = (0.95047, 1.0, 1.08883)

#: CIE threshold (6/29)³ between f's cube root and its linear segment, on XYZ / white.
EPSILON = 0.008856
#: Slope (29/6)² / 3 of f's linear segment.
KAPPA = 7.787
#: 6/29 as scikit-image writes it: below, f⁻¹(f) = (f - 16/116) / KAPPA.
FINV_T = 0.2068966
#: Gamma-encoded sRGB value at or below which linear = srgb / 12.92.
SRGB_T = 0.04045
#: Linear value at or below which srgb = 12.92 · linear.
LINEAR_T = 0.0031308

#: Linear sRGB → XYZ / white (the white point folded into the matrix), float64 (3, 3).
LINEAR_TO_XYZN = np.array(XYZ_FROM_RGB) / np.array(WHITE_D65)[:, None]
#: XYZ / white → linear sRGB, float64 (3, 3).
XYZN_TO_LINEAR = np.linalg.inv(np.array(XYZ_FROM_RGB)) * np.array(WHITE_D65)[None, :]
LINEAR_TO_XYZN.flags.writeable = False
XYZN_TO_LINEAR.flags.writeable = False

#: A linear-sRGB channel may leave [0, 1] by this much before a color counts as out of gamut
#: (clipping it moves the 8-bit value by at most a third of a level).
GAMUT_TOLERANCE = 1e-4
#: Relative chroma the gamut mapping gives up so that its table's first guess nearly always fits
#: (:mod:`tinct.color.gamut_mapping`).
GAMUT_MARGIN = 0.005
#: Halvings of the a*b* scale for the colors the table's guess leaves outside.
GAMUT_STEPS = 8
