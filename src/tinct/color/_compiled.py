"""The compiled 8-bit color kernels of ``_rgb8.c``, loaded once, with their constants checked
against :mod:`tinct.color.constants` (a stale build fails at import instead of giving other colors).
Shared by :mod:`tinct.color.rgb8` and :mod:`tinct.color.gamut_mapping`, which import it and not
each other's internals.
"""

from __future__ import annotations

import functools
from types import ModuleType

import numpy as np

from tinct.color.constants import (
    EPSILON,
    FINV_T,
    GAMUT_MARGIN,
    GAMUT_STEPS,
    GAMUT_TOLERANCE,
    KAPPA,
    XYZN_TO_LINEAR,
)

__all__ = ["compiled"]


@functools.cache
def compiled() -> ModuleType:
    """The compiled kernels, with the matrix set and their constants checked against ours."""
    try:
        from tinct.color import _rgb8
    except ImportError as err:  # a source checkout used without `pip install -e .`
        raise ImportError(
            f"tinct's compiled color kernels are missing ({err}); reinstall tinct (pip install -e .) "
            "with a C compiler available"
        ) from err
    ours = dict(
        EPSILON=EPSILON, KAPPA=KAPPA, FINV_T=FINV_T, GAMUT_TOLERANCE=GAMUT_TOLERANCE,
        GAMUT_MARGIN=GAMUT_MARGIN, GAMUT_STEPS=GAMUT_STEPS,
    )  # fmt: skip
    compiled = _rgb8.constants()
    stale = [k for k, v in ours.items() if not np.isclose(np.float32(compiled[k]), np.float32(v), rtol=1e-7, atol=0)]
    if stale:
        raise ImportError(f"tinct.color._rgb8 was compiled with other constants ({', '.join(stale)}); rebuild it")
    _rgb8.set_constants(np.ascontiguousarray(XYZN_TO_LINEAR, dtype=np.float64))
    return _rgb8
