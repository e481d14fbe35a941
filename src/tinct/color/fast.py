"""The float32 CPU conversions, fast: numba row kernels (:mod:`tinct.color._kernels`) spread over
a thread pool (:mod:`tinct.color._pool`), ~10-25x the speed of :mod:`tinct.color.lab` on 2 cores.

Same names as :mod:`tinct.color.lab` (``rgb_to_lab``, ``lab_to_rgb``, ``rgb_to_lightness``), and
the same conversions: :mod:`tinct.color.lab` is the reference, differentiable and on any device,
and ``tests/test_color_kernels.py`` holds these to it (within 1e-4 L*a*b* units, 1e-4 sRGB). A
caller chooses this module by name where it converts plain CPU images without a gradient (the
dataset's crops, evaluation); nothing switches between the two behind a caller's back, so a
conversion's result never depends on a tensor's size or ``requires_grad``.

Rows of an image are cut into a few ranges per thread and converted on
``tinct.threads.get_num_threads()`` threads (the kernels release the GIL). numba is imported on
first use, and compiling takes ~5 s once, then the kernels load from numba's disk cache.

numba comes with the ``train`` and ``eval`` extras, not with tinct's core: inference never calls
this module (its 8-bit conversions are :mod:`tinct.color.rgb8`, compiled C); its callers are
training, evaluation and the benchmarks. Without numba, the first call says which extra to install.
"""

from __future__ import annotations

import functools
from types import ModuleType

import numpy as np
import torch

from tinct.color._pool import run_rows

__all__ = ["lab_to_rgb", "rgb_to_lab", "rgb_to_lightness"]


@functools.cache
def kernels() -> ModuleType:
    """The module of numba kernels, imported on first use (``tinct --help`` and the torch-only
    paths need not pay numba's import)."""
    try:
        from tinct.color import _kernels
    except ModuleNotFoundError as err:
        if err.name != "numba":
            raise
        raise ModuleNotFoundError(
            "tinct.color.fast needs numba, which comes with tinct's train and eval extras: pip install 'tinct[eval]'",
            name="numba",
        ) from None

    return _kernels


def _check(x: torch.Tensor) -> None:
    if x.dim() < 3 or x.shape[-3] != 3:
        raise ValueError(f"expected a (*, 3, H, W) tensor, got shape {tuple(x.shape)}")
    if x.device.type != "cpu" or x.dtype != torch.float32 or x.layout != torch.strided:
        raise ValueError(
            f"tinct.color.fast converts float32 CPU tensors, got {x.dtype} on {x.device}; use tinct.color.lab"
        )


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """``tinct.color.lab.rgb_to_lab`` of a float32 CPU tensor: (*, 3, H, W) sRGB in [0, 1] →
    (*, 3, H, W) float32 L*a*b*. No gradient flows through it."""
    _check(rgb)
    return _convert(rgb, "rgb_to_lab_chw", "rgb_to_lab_hwc")


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """``tinct.color.lab.lab_to_rgb`` of a float32 CPU tensor: (*, 3, H, W) L*a*b* → (*, 3, H, W)
    float32 sRGB clipped to [0, 1]. No gradient flows through it."""
    _check(lab)
    return _convert(lab, "lab_to_rgb_chw", None)


def rgb_to_lightness(rgb: torch.Tensor) -> torch.Tensor:
    """``tinct.color.lab.rgb_to_lightness`` of a float32 CPU tensor: (*, 3, H, W) sRGB in [0, 1]
    → (*, H, W) float32 L* in [0, 100]. No gradient flows through it."""
    _check(rgb)
    return _convert(rgb, "lightness_chw", "lightness_hwc", 1)[..., 0, :, :]


def _convert(x: torch.Tensor, chw: str | None, hwc: str | None, channels_out: int = 3) -> torch.Tensor:
    """(*, 3, H, W) ``x`` → (*, channels_out, H, W) float32 by the kernels named ``chw`` (for
    (3, H, W) images) and ``hwc`` (for (H, W, 3) images, e.g. a decoded image seen through
    ``permute``), called as ``kernel(image, dst, y0, y1)``. Whichever of the two reads
    ``x``'s memory as it lies is used; any other layout is copied once."""
    height, width = x.shape[-2:]
    lead = x.shape[:-3]
    src = x.detach().resolve_neg().reshape(-1, 3, height, width).numpy()
    # numpy asks the kernel for huge pages on big arrays, so the result costs far fewer page faults
    # than a torch.empty (a 12 MP float32 image: ~10 ms instead of ~60 ms here).
    dst = np.empty((src.shape[0], channels_out, height, width), dtype=np.float32)
    hwc_view = src.transpose(0, 2, 3, 1)
    if hwc is not None and (hwc_view.flags.c_contiguous or chw is None):
        kernel, images = getattr(kernels(), hwc), np.ascontiguousarray(hwc_view)
    else:
        kernel, images = getattr(kernels(), chw), np.ascontiguousarray(src)
    run_rows(lambda n, y0, y1: kernel(images[n], dst[n], y0, y1), src.shape[0], height, width)
    return torch.from_numpy(dst).reshape(*lead, channels_out, height, width)
