"""The fast CPU path of the float32 tensor conversions (:mod:`tinct.color.lab`): numba row kernels
(:mod:`tinct.color._kernels`) spread over a thread pool (:mod:`tinct.color._pool`).

:mod:`tinct.color.lab` sends float32 CPU tensors that need no gradient here (see
:func:`fast_ok`); the results equal its torch path to ~1e-4 (L*a*b* units), in one pass over
memory. Rows of an image are cut into a few ranges per thread and converted on
``tinct.threads.get_num_threads()`` threads (the kernels release the GIL). numba is imported on first use
(~0.2 s, plus ~0.25 s to set up its first call; compiling takes ~5 s once, then the kernels load
from numba's disk cache).

numba comes with the ``train`` and ``eval`` extras, not with tinct's core: inference never uses these
kernels. Where numba is missing, :func:`fast_ok` says no and :mod:`tinct.color.lab` runs its torch
operations, the reference these kernels are tested against, so there is still no second (numpy)
implementation that could drift. The 8-bit conversions of inference are :mod:`tinct.color.rgb8`
(compiled C, no JIT start-up).
"""

from __future__ import annotations

import functools
from types import ModuleType

import numpy as np
import torch

from tinct.color._pool import run_rows

__all__ = ["convert", "fast_ok"]

#: Smaller tensors (elements) take the torch path: thread and call overhead would dominate.
_FAST_MIN_ELEMENTS = 3 * 4096


@functools.cache
def kernels() -> ModuleType:
    """The module of numba kernels, imported on first use (numba takes ~0.3 s to import, which
    ``tinct --help`` and the torch-only paths need not pay)."""
    from tinct.color import _kernels

    return _kernels


@functools.cache
def numba_installed() -> bool:
    """Whether numba can be imported (found, not imported: that takes ~0.3 s)."""
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def fast_ok(x: torch.Tensor) -> bool:
    """Whether ``x`` may take the fast path: numba is installed and ``x`` is a big enough plain
    float32 CPU tensor that needs no gradient, outside tracing and compilation (which must see
    torch operations)."""
    if not numba_installed() or x.device.type != "cpu" or x.dtype != torch.float32 or x.layout != torch.strided:
        return False
    if x.numel() < _FAST_MIN_ELEMENTS or (x.requires_grad and torch.is_grad_enabled()):
        return False
    if type(x) is not torch.Tensor:  # subclasses (e.g. FakeTensor, tensor-likes) keep torch semantics
        return False
    compiling = getattr(getattr(torch, "compiler", None), "is_compiling", lambda: False)
    return not (torch.jit.is_tracing() or torch.jit.is_scripting() or compiling())


def convert(x: torch.Tensor, chw: str | None, hwc: str | None, channels_out: int = 3, args: tuple = ()) -> torch.Tensor:
    """(*, 3, H, W) ``x`` → (*, channels_out, H, W) float32 by the kernels named ``chw`` (for
    (3, H, W) images) and ``hwc`` (for (H, W, 3) images, e.g. a decoded image seen through
    ``permute``), called as ``kernel(image, dst, *args, y0, y1)``. Whichever of the two reads
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
    run_rows(lambda n, y0, y1: kernel(images[n], dst[n], *args, y0, y1), src.shape[0], height, width)
    return torch.from_numpy(dst).reshape(*lead, channels_out, height, width)
