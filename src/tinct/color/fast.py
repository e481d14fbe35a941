"""The fast full-resolution CPU path: numba row kernels (:mod:`tinct.color._kernels`) spread over
a thread pool, and the 8-bit output functions built on them.

:mod:`tinct.color.lab` sends float32 CPU tensors that need no gradient here (see
:func:`fast_ok`); the results equal its torch path to ~1e-4 (L*a*b* units), in one pass over
memory. Rows of an image are cut into a few ranges per thread and converted on
``torch.get_num_threads()`` threads (the kernels release the GIL). numba is imported on first use
(~0.2 s, plus ~0.25 s to set up its first call; compiling takes ~5 s once, then the kernels load
from numba's disk cache).

numba is a hard dependency of tinct, so there is no second (numpy) implementation of these
kernels: one that only runs where numba is missing would go untested and drift.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

import numpy as np
import torch

from tinct.color.constants import EPSILON, KAPPA, SRGB_T, WHITE_D65, XYZ_FROM_RGB
from tinct.color.gamut_mapping import NO_TABLE, max_chroma_table

__all__ = ["convert", "fast_ok", "lab_to_rgb_uint8", "lightness_chroma_to_rgb_uint8", "uint8_lightness"]

#: Smaller tensors (elements) take the torch path: thread and call overhead would dominate.
_FAST_MIN_ELEMENTS = 3 * 4096
#: Below this many pixels per call, rows are converted in the calling thread only.
_THREAD_MIN_PIXELS = 1 << 18
#: Ranges of rows per thread (more than one balances the load on shared cores).
_RANGES_PER_THREAD = 4

_pool_lock = threading.Lock()
_pool: tuple[int, int, ThreadPoolExecutor] | None = None  # (pid, workers, executor)


@functools.cache
def kernels() -> ModuleType:
    """The module of numba kernels, imported on first use (numba takes ~0.3 s to import, which
    ``tinct --help`` and the torch-only paths need not pay)."""
    from tinct.color import _kernels

    return _kernels


def fast_ok(x: torch.Tensor) -> bool:
    """Whether ``x`` may take the fast path: a big enough plain float32 CPU tensor that needs no
    gradient, outside tracing and compilation (which must see torch operations)."""
    if x.device.type != "cpu" or x.dtype != torch.float32 or x.layout != torch.strided:
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
    _run_rows(lambda n, y0, y1: kernel(images[n], dst[n], *args, y0, y1), src.shape[0], height, width)
    return torch.from_numpy(dst).reshape(*lead, channels_out, height, width)


def _levels_tables() -> tuple[np.ndarray, np.ndarray]:
    """(3, 256) float32 contribution of each channel's 8-bit level to Y / white, and (256,)
    float32 L* of the gray levels (float64 arithmetic, rounded once)."""
    v = np.arange(256, dtype=np.float64) / 255
    lin = np.where(v > SRGB_T, ((np.maximum(v, SRGB_T) + 0.055) / 1.055) ** 2.4, v / 12.92)
    y_parts = np.array(XYZ_FROM_RGB[1])[:, None] / WHITE_D65[1] * lin[None, :]
    y = lin * sum(XYZ_FROM_RGB[1]) / WHITE_D65[1]
    f = np.where(y > EPSILON, np.cbrt(y), KAPPA * y + 16 / 116)
    return y_parts.astype(np.float32), (116 * f - 16).astype(np.float32)


_Y_PARTS, _L_GRAY = _levels_tables()


def uint8_lightness(rgb: torch.Tensor) -> torch.Tensor:
    """(*, 3, H, W) uint8 sRGB on the CPU (any strides) → (*, H, W) float32 L*, from per-level
    tables; where R = G = B, as in a gray photo, one table lookup per pixel."""
    return convert(rgb, None, "lightness_uint8_hwc", 1, (_Y_PARTS, _L_GRAY))[..., 0, :, :]


def lab_to_rgb_uint8(lab: torch.Tensor, *, out: np.ndarray | None = None, keep_lightness: bool = True) -> np.ndarray:
    """Convert CIE L*a*b* to an 8-bit sRGB image, fast (CPU, numba, no autograd).

    In-gamut colors come out as scikit-image's float64 ``lab2rgb`` times 255, rounded, to within
    one level (float32 arithmetic).

    Args:
        lab: (3, H, W) L*a*b* (L* in [0, 100]); any device and float dtype, computed in float32.
        out: optional (H, W, 3) uint8 array (or view) to write into.
        keep_lightness: colors outside the sRGB gamut keep their L* and hue and lose just enough
            chroma to fit (to within 0.5 %, see :mod:`tinct.color.gamut_mapping`). With False
            they are clipped per channel, as ``tinct.color.lab_to_rgb`` does, which changes their
            lightness.

    Returns:
        (H, W, 3) uint8 sRGB (``out`` if given).
    """
    if lab.dim() != 3 or lab.shape[0] != 3:
        raise ValueError(f"expected a (3, H, W) tensor, got shape {tuple(lab.shape)}")
    src = lab.detach().to("cpu", torch.float32).numpy()
    height = src.shape[1]
    ab = np.ascontiguousarray(src[1:])
    rows, frac = np.arange(height), np.zeros(height, np.float32)  # a*b* as they are
    return _rgb8(np.ascontiguousarray(src[0]), ab, ab, rows, frac, out, keep_lightness)


def lightness_chroma_to_rgb_uint8(
    L: np.ndarray | torch.Tensor, ab: torch.Tensor | None, *, out: np.ndarray | None = None, keep_lightness: bool = True
) -> np.ndarray:
    """Full-resolution L* plus a*b* at a lower resolution → 8-bit sRGB, like :func:`lab_to_rgb_uint8`
    of ``cat(L, interpolate(ab))`` without ever making full-resolution a*b* planes: the chroma is
    upsampled row by row, in cache.

    Args:
        L: (H, W) L* in [0, 100].
        ab: (2, h, w) a*b*, bilinearly upsampled to (H, W) as ``F.interpolate(ab[None], (H, W),
            mode="bilinear", align_corners=False)`` does; ``None`` for zero chroma (gray).
        out, keep_lightness: as for :func:`lab_to_rgb_uint8`.

    Returns:
        (H, W, 3) uint8 sRGB (``out`` if given).
    """
    L = np.asarray(L.detach().cpu() if isinstance(L, torch.Tensor) else L, dtype=np.float32)
    if L.ndim != 2:
        raise ValueError(f"expected an (H, W) L* plane, got shape {L.shape}")
    height, width = L.shape
    if ab is None:
        zeros = np.zeros((2, 1, width), np.float32)
        rows, frac = np.zeros(height, np.intp), np.zeros(height, np.float32)
        return _rgb8(np.ascontiguousarray(L), zeros, zeros, rows, frac, out, keep_lightness)
    if ab.dim() != 3 or ab.shape[0] != 2:
        raise ValueError(f"expected a (2, h, w) a*b* tensor, got shape {tuple(ab.shape)}")
    ab = ab.detach().to("cpu", torch.float32)
    h = ab.shape[1]
    # Separable bilinear: the width pass once on the few low-resolution rows; the height pass per
    # row in the kernel as row + (next row - row) * frac, with F.interpolate's source rows and weights.
    rows = torch.nn.functional.interpolate(ab[None], size=(h, width), mode="bilinear", align_corners=False)[0]
    rows = rows.numpy()
    steps = np.concatenate((np.diff(rows, axis=1), np.zeros((2, 1, width), np.float32)), axis=1)
    src = ((np.arange(height, dtype=np.float64) + 0.5) * (h / height) - 0.5).clip(min=0)
    i0 = np.minimum(np.floor(src).astype(np.intp), h - 1)
    frac = np.where(i0 < h - 1, src - i0, 0).astype(np.float32)
    return _rgb8(np.ascontiguousarray(L), rows, steps, i0, frac, out, keep_lightness)


def _rgb8(
    L: np.ndarray,
    ab_rows: np.ndarray,
    ab_steps: np.ndarray,
    row_index: np.ndarray,
    row_frac: np.ndarray,
    out: np.ndarray | None,
    keep_lightness: bool,
) -> np.ndarray:
    """Driver of the 8-bit functions: row y's a*b* is ``ab_rows[:, i] + ab_steps[:, i] *
    row_frac[y]`` with i = ``row_index[y]`` (see ``_kernels.lab_to_rgb8``)."""
    height, width = L.shape
    if out is None:
        out = np.empty((height, width, 3), dtype=np.uint8)
    elif out.shape != (height, width, 3) or out.dtype != np.uint8:
        raise ValueError(f"out must be a ({height}, {width}, 3) uint8 array, got {out.dtype} {out.shape}")
    dst = out if out.flags.c_contiguous else np.empty((height, width, 3), np.uint8)
    kernel = kernels().lab_to_rgb8
    row_index = row_index.astype(np.int64, copy=False)
    # The gamut table (~0.1 s to build) is only built once some color is out of gamut: the kernel
    # leaves such colors clipped and counts them while it has no table; those rows are then redone.
    built = max_chroma_table.cache_info().currsize > 0
    table = max_chroma_table() if built else NO_TABLE

    def task(n: int, y0: int, y1: int) -> int:
        return kernel(L, ab_rows, ab_steps, row_index, row_frac, dst, table, keep_lightness, y0, y1)

    chunks = _run_rows(task, 1, height, width)
    redo = [chunk for chunk, left in chunks if left]
    if keep_lightness and redo:
        table = max_chroma_table()
        _run_chunks(task, redo)
    if dst is not out:
        np.copyto(out, dst)
    return out


def _executor(workers: int) -> ThreadPoolExecutor:
    """The process's pool of ``workers`` threads (a new one after fork: threads do not survive it)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid() or _pool[1] != workers:
            if _pool is not None and _pool[0] == os.getpid():
                _pool[2].shutdown(wait=False)
            _pool = (os.getpid(), workers, ThreadPoolExecutor(workers, thread_name_prefix="tinct-color"))
        return _pool[2]


def _run_chunks(task: Callable[[int, int, int], Any], chunks: list[tuple[int, int, int]]) -> list[Any]:
    """``[task(*chunk), ...]``, spread over ``torch.get_num_threads()`` threads."""
    workers = torch.get_num_threads()
    if workers <= 1 or len(chunks) <= 1:
        return [task(*chunk) for chunk in chunks]
    return list(_executor(workers).map(lambda chunk: task(*chunk), chunks))


def _run_rows(
    task: Callable[[int, int, int], Any], batch: int, height: int, width: int
) -> list[tuple[tuple[int, int, int], Any]]:
    """``task(n, y0, y1)`` (a numba kernel: no GIL) over every image n < batch in a few ranges of
    rows per thread; returns each (n, y0, y1) with its result."""
    if batch == 0 or height == 0:
        return []
    task(0, 0, 0)  # compiles (or loads from the cache) in this thread, once, before the pool runs it
    threads = torch.get_num_threads() if batch * height * width >= _THREAD_MIN_PIXELS else 1
    # Several ranges per thread: on shared cores, a thread that gets less CPU time does less work.
    step = max(1, -(-batch * height // (threads * _RANGES_PER_THREAD)))
    chunks = [(n, y0, min(height, y0 + step)) for n in range(batch) for y0 in range(0, height, step)]
    if threads == 1:
        return [(chunk, task(*chunk)) for chunk in chunks]
    return list(zip(chunks, _run_chunks(task, chunks), strict=True))
