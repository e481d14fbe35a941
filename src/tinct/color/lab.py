"""sRGB <-> CIE L*a*b* (D65, 2° observer) on tensors.

The constants are the ones scikit-image uses (`skimage.color.rgb2lab` with its defaults), so
results agree with it to float32 precision. Every constant is created on the input's device and
dtype, and every operation is differentiable.

Speed: float32 CPU tensors that need no gradient (``torch.no_grad``, ``inference_mode``, or simply
``requires_grad=False``) take a fast path, equal to the torch path to ~1e-4 (L*a*b* units): fused
per-pixel kernels compiled by numba (``tinct.color._kernels``: one pass over memory, SIMD), run on
ranges of rows spread over ``torch.get_num_threads()`` threads. numba is imported on first use
(~0.2 s, plus ~0.25 s to set up its first call; compiling takes ~5 s once, then the kernels load
from numba's disk cache). Without numba (``_USE_NUMBA`` False, or numba not importable) the same
path runs as numpy ufuncs on cache-sized blocks of rows, 3-7x slower. :func:`rgb_to_lightness`
gives L* alone (exact tables for uint8 images) and :func:`lab_to_rgb_uint8` 8-bit images, with
out-of-gamut colors optionally kept at their lightness.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

__all__ = [
    "WHITE_D65",
    "XYZ_FROM_RGB",
    "lab_to_rgb",
    "lab_to_rgb_uint8",
    "lightness_chroma_to_rgb_uint8",
    "linear_to_srgb",
    "rgb_to_lab",
    "rgb_to_lightness",
    "srgb_to_linear",
]

# sRGB (linear) -> CIE XYZ, the matrix scikit-image uses (`xyz_from_rgb`).
_XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
# D65 reference white for the 2° observer, as in skimage.color.colorconv._illuminants.
_WHITE_D65 = (0.95047, 1.0, 1.08883)
_EPSILON = 0.008856  # (6/29)^3, the CIE threshold between the cube root and the linear segment
_KAPPA = 7.787  # (29/6)^2 / 3

#: sRGB (linear) → CIE XYZ matrix (scikit-image's ``xyz_from_rgb``), rows X, Y, Z.
XYZ_FROM_RGB = _XYZ_FROM_RGB
#: D65 reference white (2° observer): X, Y, Z.
WHITE_D65 = _WHITE_D65


def _matrix(values, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, device=like.device, dtype=like.dtype)


def _apply_3x3(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Multiply every pixel of a (*, 3, H, W) tensor by a 3×3 matrix."""
    return torch.einsum("ij,...jhw->...ihw", matrix, image)


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB transfer curve inverse: gamma-encoded [0, 1] -> linear [0, 1]."""
    return torch.where(rgb > 0.04045, ((rgb.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4, rgb / 12.92)


def linear_to_srgb(linear: torch.Tensor) -> torch.Tensor:
    """sRGB transfer curve: linear [0, 1] -> gamma-encoded [0, 1] (input assumed ≥ 0)."""
    return torch.where(linear > 0.0031308, 1.055 * linear.clamp(min=0.0031308) ** (1 / 2.4) - 0.055, linear * 12.92)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """Convert sRGB to CIE L*a*b*.

    Args:
        rgb: (*, 3, H, W) float tensor, gamma-encoded sRGB in [0, 1].

    Returns:
        (*, 3, H, W) tensor of the same dtype and device: L* in [0, 100], a* and b* roughly in
        [-128, 127] (about [-86, 98] and [-108, 95] for in-gamut sRGB).
    """
    if rgb.dim() < 3 or rgb.shape[-3] != 3:
        raise ValueError(f"expected a (*, 3, H, W) tensor, got shape {tuple(rgb.shape)}")
    if _fast_ok(rgb):
        return _fast_convert(rgb, _rgb_block_to_lab, jit=("rgb_to_lab_chw", "rgb_to_lab_hwc"))
    xyz = _apply_3x3(_matrix(_XYZ_FROM_RGB, rgb), srgb_to_linear(rgb))
    xyz = xyz / _matrix(_WHITE_D65, rgb).view(3, 1, 1)
    # Clamp inside the cube root's branch so its gradient stays finite at 0.
    f = torch.where(xyz > _EPSILON, xyz.clamp(min=_EPSILON) ** (1 / 3), _KAPPA * xyz + 16 / 116)
    fx, fy, fz = f.unbind(-3)
    L = 116 * fy - 16
    a = 500 * (fx - fy)
    b = 200 * (fy - fz)
    return torch.stack((L, a, b), dim=-3)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """Convert CIE L*a*b* to sRGB.

    Args:
        lab: (*, 3, H, W) float tensor with L* in [0, 100] and a*, b* in about [-128, 127].

    Returns:
        (*, 3, H, W) gamma-encoded sRGB. Colors outside the sRGB gamut are clipped to [0, 1]
        per channel (as scikit-image does), so the result is always a valid image.
    """
    if lab.dim() < 3 or lab.shape[-3] != 3:
        raise ValueError(f"expected a (*, 3, H, W) tensor, got shape {tuple(lab.shape)}")
    if _fast_ok(lab):
        return _fast_convert(lab, _lab_block_to_rgb, jit=("lab_to_rgb_chw", None))
    L, a, b = lab.unbind(-3)
    fy = (L + 16) / 116
    fx = fy + a / 500
    fz = (fy - b / 200).clamp(min=0)  # scikit-image clips z at 0 the same way
    f = torch.stack((fx, fy, fz), dim=-3)
    xyz = torch.where(f > 0.2068966, f.clamp(min=0.2068966) ** 3, (f - 16 / 116) / _KAPPA)
    xyz = xyz * _matrix(_WHITE_D65, lab).view(3, 1, 1)
    rgb_from_xyz = torch.linalg.inv(_matrix(_XYZ_FROM_RGB, lab).double()).to(lab.dtype)
    linear = _apply_3x3(rgb_from_xyz, xyz).clamp(min=0)
    return linear_to_srgb(linear).clamp(0, 1)


def rgb_to_lightness(rgb: torch.Tensor) -> torch.Tensor:
    """CIE L* of sRGB colors, without computing a* and b*.

    Args:
        rgb: (*, 3, H, W) tensor: float gamma-encoded sRGB in [0, 1], or uint8 sRGB in 0..255
            (any strides, e.g. ``torch.from_numpy(hwc_image).permute(2, 0, 1)``).

    Returns:
        (*, H, W) L* in [0, 100], ``rgb_to_lab(rgb)[..., 0, :, :]`` to float32 precision: the
        input's dtype for float input (differentiable), float32 for uint8 input (per-level
        tables; where R = G = B, as in a gray photo, one table lookup per pixel).
    """
    if rgb.dim() < 3 or rgb.shape[-3] != 3:
        raise ValueError(f"expected a (*, 3, H, W) tensor, got shape {tuple(rgb.shape)}")
    if rgb.dtype == torch.uint8:
        if rgb.device.type != "cpu":
            return rgb_to_lightness(rgb.float() / 255)
        jit = (None, "lightness_uint8_hwc")
        return _fast_convert(rgb, _uint8_block_to_lightness, 1, jit=jit, jit_args=(_Y_PARTS, _L_GRAY))[..., 0, :, :]
    if _fast_ok(rgb):
        return _fast_convert(rgb, _rgb_block_to_lightness, 1, jit=("lightness_chw", "lightness_hwc"))[..., 0, :, :]
    y = torch.einsum("j,...jhw->...hw", _matrix(_XYZ_FROM_RGB[1], rgb), srgb_to_linear(rgb)) / _WHITE_D65[1]
    f = torch.where(y > _EPSILON, y.clamp(min=_EPSILON) ** (1 / 3), _KAPPA * y + 16 / 116)
    return 116 * f - 16


def lab_to_rgb_uint8(lab: torch.Tensor, *, out: np.ndarray | None = None, keep_lightness: bool = True) -> np.ndarray:
    """Convert CIE L*a*b* to an 8-bit sRGB image, fast (CPU, numba or numpy, no autograd).

    In-gamut colors come out as scikit-image's float64 ``lab2rgb`` times 255, rounded, to within
    one level (float32 arithmetic).

    Args:
        lab: (3, H, W) L*a*b* (L* in [0, 100]); any device and float dtype, computed in float32.
        out: optional (H, W, 3) uint8 array (or view) to write into.
        keep_lightness: colors outside the sRGB gamut keep their L* and hue and lose just enough
            chroma to fit (to within 0.5 %: a table of the gamut's largest chroma per L* and hue,
            checked, with a bisection where the table's guess does not fit). With False they are
            clipped per channel, as :func:`lab_to_rgb` does, which changes their lightness.

    Returns:
        (H, W, 3) uint8 sRGB (``out`` if given).
    """
    if lab.dim() != 3 or lab.shape[0] != 3:
        raise ValueError(f"expected a (3, H, W) tensor, got shape {tuple(lab.shape)}")
    src = lab.detach().to("cpu", torch.float32).numpy()
    height, width = src.shape[1:]
    if _kernels() is not None:
        ab = np.ascontiguousarray(src[1:])
        rows, frac = np.arange(height), np.zeros(height, np.float32)  # a*b* as they are
        return _jit_uint8(np.ascontiguousarray(src[0]), ab, ab, rows, frac, out, keep_lightness)
    return _to_uint8(height, width, lambda y0, y1, w: src[:, y0:y1], out, keep_lightness)


def lightness_chroma_to_rgb_uint8(
    L: np.ndarray | torch.Tensor, ab: torch.Tensor | None, *, out: np.ndarray | None = None, keep_lightness: bool = True
) -> np.ndarray:
    """Full-resolution L* plus a*b* at a lower resolution → 8-bit sRGB, like :func:`lab_to_rgb_uint8`
    of ``cat(L, interpolate(ab))`` without ever making full-resolution a*b* planes: the chroma is
    upsampled row by row (numba) or block by block (numpy), in cache.

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
        if _kernels() is not None:
            zeros = np.zeros((2, 1, width), np.float32)
            rows, frac = np.zeros(height, np.intp), np.zeros(height, np.float32)
            return _jit_uint8(np.ascontiguousarray(L), zeros, zeros, rows, frac, out, keep_lightness)
        zero = np.zeros((1, width), dtype=np.float32)

        def planes(y0: int, y1: int, w: np.ndarray) -> tuple[np.ndarray, ...]:
            chroma = np.broadcast_to(zero, (y1 - y0, width))
            return L[y0:y1], chroma, chroma

        return _to_uint8(height, width, planes, out, keep_lightness)
    if ab.dim() != 3 or ab.shape[0] != 2:
        raise ValueError(f"expected a (2, h, w) a*b* tensor, got shape {tuple(ab.shape)}")
    ab = ab.detach().to("cpu", torch.float32)
    h = ab.shape[1]
    # Separable bilinear: the width pass once on the few low-resolution rows; the height pass per
    # block as row + (next row - row) * frac, with F.interpolate's source rows and weights.
    rows = torch.nn.functional.interpolate(ab[None], size=(h, width), mode="bilinear", align_corners=False)[0]
    rows = rows.numpy()
    steps = np.concatenate((np.diff(rows, axis=1), np.zeros((2, 1, width), np.float32)), axis=1)
    src = ((np.arange(height, dtype=np.float64) + 0.5) * (h / height) - 0.5).clip(min=0)
    i0 = np.minimum(np.floor(src).astype(np.intp), h - 1)
    frac = np.where(i0 < h - 1, src - i0, 0).astype(np.float32)
    if _kernels() is not None:
        return _jit_uint8(np.ascontiguousarray(L), rows, steps, i0, frac, out, keep_lightness)
    frac = frac[:, None]

    def upsampled(y0: int, y1: int, w: np.ndarray) -> tuple[np.ndarray, ...]:
        a, b, tmp = w[8], w[9], w[6]
        for c, plane in ((0, a), (1, b)):
            np.take(rows[c], i0[y0:y1], axis=0, out=plane)
            np.take(steps[c], i0[y0:y1], axis=0, out=tmp)
            tmp *= frac[y0:y1]
            plane += tmp
        return L[y0:y1], a, b

    return _to_uint8(height, width, upsampled, out, keep_lightness)


def _uint8_out(height: int, width: int, out: np.ndarray | None) -> np.ndarray:
    if out is None:
        return np.empty((height, width, 3), dtype=np.uint8)
    if out.shape != (height, width, 3) or out.dtype != np.uint8:
        raise ValueError(f"out must be a ({height}, {width}, 3) uint8 array, got {out.dtype} {out.shape}")
    return out


def _jit_uint8(
    L: np.ndarray,
    ab_rows: np.ndarray,
    ab_steps: np.ndarray,
    row_index: np.ndarray,
    row_frac: np.ndarray,
    out: np.ndarray | None,
    keep_lightness: bool,
) -> np.ndarray:
    """numba driver of the 8-bit functions: row y's a*b* is ``ab_rows[:, i] + ab_steps[:, i] *
    row_frac[y]`` with i = ``row_index[y]`` (see ``_kernels.lab_to_rgb8``)."""
    height, width = L.shape
    out = _uint8_out(height, width, out)
    dst = out if out.flags.c_contiguous else np.empty((height, width, 3), np.uint8)
    kernel = _kernels().lab_to_rgb8
    row_index = row_index.astype(np.int64, copy=False)
    # The gamut table (~0.1 s to build) is only built once some color is out of gamut: the kernel
    # leaves such colors clipped and counts them while it has no table; those rows are then redone.
    built = _max_chroma_table.cache_info().currsize > 0
    table = _max_chroma_table() if built else _NO_TABLE

    def task(n: int, y0: int, y1: int) -> int:
        return kernel(L, ab_rows, ab_steps, row_index, row_frac, dst, table, keep_lightness, y0, y1)

    chunks = _run_rows(task, 1, height, width)
    redo = [chunk for chunk, left in chunks if left]
    if keep_lightness and redo:
        table = _max_chroma_table()
        _run_chunks(task, redo)
    if dst is not out:
        np.copyto(out, dst)
    return out


def _to_uint8(height: int, width: int, planes, out: np.ndarray | None, keep_lightness: bool) -> np.ndarray:
    """Shared driver of the numpy path: ``planes(y0, y1, work)`` gives a block's L*, a*, b* planes."""
    out = _uint8_out(height, width, out)

    def task(n: int, y0: int, y1: int) -> None:
        w = _scratch(y1 - y0, width)
        L, a, b = planes(y0, y1, w)
        _lab_block_to_uint8(L, a, b, out[y0:y1], w, keep_lightness)

    _run_blocks(task, 1, height, width)
    return out


# --------------------------------------------------------------------------------------------
# Fast CPU path: numpy ufuncs on cache-sized blocks of rows, spread over threads (numpy releases
# the GIL). The piecewise curves are evaluated without selects (np.where allocates, masked copies
# are slow): the power/cube-root part is fed max(x, T) and the linear part min(x, T) - T, and the
# two parts agree at the threshold T to ~1e-8. A block with no value below T (most blocks of most
# photos) skips the linear part.

#: Pixels per block: big enough that numpy call overhead is small, small enough that the 10 float32
#: work planes of a block stay in cache (L2/L3).
_BLOCK_PIXELS = 1 << 16
#: Smaller tensors (elements) take the torch path.
_FAST_MIN_ELEMENTS = 3 * 4096
#: Below this many pixels per call, blocks run in the calling thread only.
_THREAD_MIN_PIXELS = 1 << 18
_SRGB_T = 0.04045  # sRGB value below which linear = srgb / 12.92
_LINEAR_T = 0.0031308  # linear value below which srgb = 12.92 * linear
_FINV_T = 0.2068966  # 6/29 as scikit-image writes it: below, t = (f - 16/116) / kappa
# rgb -> xyz / white, and xyz / white -> rgb (the white point folded into the matrices).
_M_XYZ = (np.array(_XYZ_FROM_RGB) / np.array(_WHITE_D65)[:, None]).astype(np.float32)
_M_RGB = (np.linalg.inv(np.array(_XYZ_FROM_RGB)) * np.array(_WHITE_D65)[None, :]).astype(np.float32)
_DECODE_SCALE = 1.055**2.4  # _decode_srgb leaves out the power branch's 1/1.055**2.4: this matrix has it
_M_XYZ_DECODED = (_M_XYZ / _DECODE_SCALE).astype(np.float32)
#: A linear-sRGB channel may leave [0, 1] by this much before lab_to_rgb_uint8 counts the color as
#: out of gamut (clipping it moves the 8-bit value by at most a third of a level).
GAMUT_TOLERANCE = 1e-4
_GAMUT_STEPS = 8
_MATMUL_COLUMNS = 8192  # OpenBLAS threads gemm above m·n·k = 262144 (here 3·3·n)
_GAMUT_MARGIN = 0.005  # relative chroma given up so that the table's first guess nearly always fits

#: Ranges of rows per thread for the numba kernels (more than one balances the load on shared cores).
_RANGES_PER_THREAD = 4
#: Use the numba kernels when numba can be imported (tests set this to False for the numpy path).
_USE_NUMBA = True
_NO_TABLE = np.zeros((0, 0), dtype=np.float32)  # lab_to_rgb8 without the gamut table (not built yet)

_log = logging.getLogger(__name__)
_local = threading.local()
_pool_lock = threading.Lock()
_pool: tuple[int, int, ThreadPoolExecutor] | None = None  # (pid, workers, executor)
_consts: dict[tuple[float, tuple[int, ...]], np.ndarray] = {}


def _const(value: float, like: np.ndarray) -> np.ndarray:
    """A read-only array of ``value`` shaped like ``like``: numpy's maximum/minimum run ~5x faster
    against an array than against a scalar. Cached per shape (blocks come in few shapes)."""
    key = (value, like.shape)
    arr = _consts.get(key)
    if arr is None:
        if len(_consts) > 256:  # unusual shapes (e.g. many image widths): start over
            _consts.clear()
        arr = np.full(like.shape, value, dtype=np.float32)
        arr.flags.writeable = False
        _consts[key] = arr  # a race only builds the same array twice
    return arr


@functools.cache
def _import_kernels() -> Any:
    try:
        from tinct.color import _kernels
    except (ImportError, OSError) as exc:  # numba missing, or incompatible with this numpy / CPU
        _log.warning("numba is not available (%s): color conversions take the slower numpy path", exc)
        return None
    return _kernels


def _kernels() -> Any:
    """The module of numba kernels (imported on first use: numba takes ~0.3 s to import), or None."""
    return _import_kernels() if _USE_NUMBA else None


def _levels_tables() -> tuple[np.ndarray, np.ndarray]:
    """(3, 256) contributions of each channel's 8-bit level to Y, and (256,) L* of gray levels."""
    lin = srgb_to_linear(torch.arange(256, dtype=torch.float64) / 255).numpy()
    y_parts = np.array(_XYZ_FROM_RGB[1])[:, None] / _WHITE_D65[1] * lin[None, :]
    y = lin * sum(_XYZ_FROM_RGB[1]) / _WHITE_D65[1]
    f = np.where(y > _EPSILON, np.cbrt(y), _KAPPA * y + 16 / 116)
    return y_parts.astype(np.float32), (116 * f - 16).astype(np.float32)


_Y_PARTS, _L_GRAY = _levels_tables()


def _fast_ok(x: torch.Tensor) -> bool:
    if x.device.type != "cpu" or x.dtype != torch.float32 or x.layout != torch.strided:
        return False
    if x.numel() < _FAST_MIN_ELEMENTS or (x.requires_grad and torch.is_grad_enabled()):
        return False
    if type(x) is not torch.Tensor:  # subclasses (e.g. FakeTensor, tensor-likes) keep torch semantics
        return False
    compiling = getattr(getattr(torch, "compiler", None), "is_compiling", lambda: False)
    return not (torch.jit.is_tracing() or torch.jit.is_scripting() or compiling())


def _scratch(rows: int, width: int) -> np.ndarray:
    """This thread's (10, rows, width) float32 work planes, reused from block to block (a fresh
    buffer would be page-faulted in every time). Kernels use planes 0-7; 8-9 hold inputs."""
    need = 10 * rows * width
    buf = getattr(_local, "buf", None)
    if buf is None or buf.size < need:
        buf = np.empty(need, dtype=np.float32)
        _local.buf = buf
    return buf[:need].reshape(10, rows, width)


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid() or _pool[1] != workers:
            if _pool is not None and _pool[0] == os.getpid():
                _pool[2].shutdown(wait=False)
            _pool = (os.getpid(), workers, ThreadPoolExecutor(workers, thread_name_prefix="tinct-color"))
        return _pool[2]


def _run_blocks(task: Callable[[int, int, int], Any], batch: int, height: int, width: int) -> list[Any]:
    """``[task(n, y0, y1), ...]`` over every image n < batch and block of rows [y0, y1)."""
    step = max(1, _BLOCK_PIXELS // max(1, width))
    blocks = [(n, y0, min(height, y0 + step)) for n in range(batch) for y0 in range(0, height, step)]
    if batch * height * width < _THREAD_MIN_PIXELS:
        return [task(*block) for block in blocks]
    return _run_chunks(task, blocks)


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


def _fast_convert(
    x: torch.Tensor,
    block_fn,
    channels_out: int = 3,
    *,
    jit: tuple[str | None, str | None] = (None, None),
    jit_args: tuple = (),
) -> torch.Tensor:
    """Convert (*, 3, H, W) ``x`` to (*, channels_out, H, W) float32: with the numba kernels
    ``jit`` = (name for (3, H, W) images, name for (H, W, 3) images) of ``tinct.color._kernels``
    when numba is available, else ``block_fn(src_planes, dst_planes, work)`` block by block."""
    height, width = x.shape[-2:]
    lead = x.shape[:-3]
    src = x.detach().resolve_neg().reshape(-1, 3, height, width).numpy()
    # numpy asks the kernel for huge pages on big arrays, so the result costs far fewer page faults
    # than a torch.empty (a 12 MP float32 image: ~10 ms instead of ~60 ms here).
    dst = np.empty((src.shape[0], channels_out, height, width), dtype=np.float32)
    result = torch.from_numpy(dst)
    kernels = _kernels()
    if kernels is not None:
        chw, hwc = jit
        hwc_view = src.transpose(0, 2, 3, 1)
        if hwc is not None and (hwc_view.flags.c_contiguous or chw is None):
            kernel, images = getattr(kernels, hwc), np.ascontiguousarray(hwc_view)  # e.g. a permuted image
        else:
            kernel, images = getattr(kernels, chw), np.ascontiguousarray(src)  # other layouts: one copy
        _run_rows(lambda n, y0, y1: kernel(images[n], dst[n], *jit_args, y0, y1), src.shape[0], height, width)
    else:

        def task(n: int, y0: int, y1: int) -> None:
            block_fn(src[n, :, y0:y1], dst[n, :, y0:y1], _scratch(y1 - y0, width))

        _run_blocks(task, src.shape[0], height, width)
    return result.reshape(*lead, channels_out, height, width)


def _decode_srgb(x: np.ndarray, out: np.ndarray, tmp: np.ndarray) -> None:
    """out = srgb_to_linear(x) * 1.055**2.4 (the matrices that follow divide the factor out);
    tmp is clobbered."""
    if x.min() > _SRGB_T:  # no value on the linear segment (most blocks of most photos)
        np.add(x, 0.055, out=out)
        np.log(out, out=out)
        out *= 2.4
        np.exp(out, out=out)
        return
    np.maximum(x, _const(_SRGB_T, x), out=tmp)
    tmp += 0.055
    np.log(tmp, out=tmp)
    tmp *= 2.4
    np.exp(tmp, out=tmp)  # (max(x, T) + 0.055) ** 2.4
    np.minimum(x, _const(_SRGB_T, x), out=out)
    out -= _SRGB_T
    out *= _DECODE_SCALE / 12.92
    out += tmp


def _encode_srgb(lin: np.ndarray, out: np.ndarray, scale: float = 1.0, offset: float = 0.0) -> None:
    """out = linear_to_srgb(lin) * scale + offset for lin ≥ 0; lin is clobbered."""
    if lin.min() > _LINEAR_T:  # no value on the linear segment
        np.log(lin, out=out)
        out *= 1 / 2.4
        out += np.log(1.055 * scale)
        np.exp(out, out=out)
        out += offset - 0.055 * scale
        return
    np.maximum(lin, _const(_LINEAR_T, lin), out=out)
    np.log(out, out=out)
    out *= 1 / 2.4
    out += np.log(1.055 * scale)
    np.exp(out, out=out)  # 1.055 * scale * max(lin, T) ** (1 / 2.4)
    out += offset - 0.055 * scale
    np.minimum(lin, _const(_LINEAR_T, lin), out=lin)
    lin -= _LINEAR_T
    lin *= 12.92 * scale
    out += lin


def _f(t: np.ndarray, tmp: np.ndarray) -> None:
    """t = f(t), CIE's cube root with its linear segment, in place; tmp is clobbered.

    The segment (nearly the cube root's tangent at epsilon) lies above the concave cube root, and
    below cbrt(max(t, epsilon)) for t < epsilon, so a minimum picks the right branch."""
    if t.min() > _EPSILON:  # no value on the linear segment
        np.cbrt(t, out=t)
        return
    np.maximum(t, _const(_EPSILON, t), out=tmp)
    np.cbrt(tmp, out=tmp)
    t *= _KAPPA
    t += 16 / 116
    np.minimum(t, tmp, out=t)


def _finv(f: np.ndarray, tmp: np.ndarray, tmp2: np.ndarray) -> None:
    """f = f⁻¹(f): the cube, or the linear segment below 6/29, in place; tmp, tmp2 clobbered."""
    if f.min() > _FINV_T:  # no value on the linear segment
        np.multiply(f, f, out=tmp)
        f *= tmp
        return
    np.maximum(f, _const(_FINV_T, f), out=tmp)
    np.multiply(tmp, tmp, out=tmp2)
    tmp2 *= tmp
    np.minimum(f, _const(_FINV_T, f), out=f)
    f -= _FINV_T
    f *= 1 / _KAPPA
    f += tmp2


def _matmul(matrix: np.ndarray, src: np.ndarray, dst: np.ndarray) -> None:
    """dst = matrix @ src for (k, 3) @ (3, N), in column chunks small enough that OpenBLAS stays
    single-threaded: its threads spin, and on shared cores a 3×3 product then takes 100× longer."""
    step = _MATMUL_COLUMNS
    for i in range(0, src.shape[1], step):
        np.matmul(matrix, src[:, i : i + step], out=dst[:, i : i + step])


def _lab_to_linear(L: np.ndarray, a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """L*, a*, b* arrays (any one shape S) → unclipped linear sRGB in w[3:6], shape (3, *S).

    ``w`` is an (8, *S) contiguous float32 work array."""
    fx, fy, fz = w[0], w[1], w[2]
    np.add(L, 16, out=fy)
    fy *= 1 / 116
    np.multiply(a, 1 / 500, out=fx)
    fx += fy
    np.multiply(b, -1 / 200, out=fz)
    fz += fy
    np.maximum(fz, _const(0.0, fz), out=fz)  # scikit-image clips z here too
    for f in (fx, fy, fz):
        _finv(f, w[6], w[7])
    _matmul(_M_RGB, w[0:3].reshape(3, -1), w[3:6].reshape(3, -1))
    return w[3:6]


def _rgb_block_to_lab(src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> None:
    lin, xyz = w[0:3], w[3:6]
    for c in range(3):
        _decode_srgb(src[c], lin[c], w[6])
    _matmul(_M_XYZ_DECODED, lin.reshape(3, -1), xyz.reshape(3, -1))
    for t in xyz:
        _f(t, w[6])
    fx, fy, fz = xyz
    np.multiply(fy, 116, out=dst[0])
    dst[0] -= 16
    np.subtract(fx, fy, out=dst[1])
    dst[1] *= 500
    np.subtract(fy, fz, out=dst[2])
    dst[2] *= 200


def _lab_block_to_rgb(src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> None:
    lin = _lab_to_linear(src[0], src[1], src[2], w)
    np.maximum(lin, _const(0.0, lin), out=lin)
    for c in range(3):
        _encode_srgb(lin[c], dst[c])
    np.clip(dst, 0, 1, out=dst)


def _rgb_block_to_lightness(src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> None:
    lin, y = w[0:3], w[3]
    for c in range(3):
        _decode_srgb(src[c], lin[c], w[6])
    _matmul(_M_XYZ_DECODED[1:2], lin.reshape(3, -1), y.reshape(1, -1))
    _f(y, w[6])
    np.multiply(y, 116, out=dst[0])
    dst[0] -= 16


def _uint8_block_to_lightness(src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> None:
    r, g, b = src
    if np.array_equal(r, g) and np.array_equal(r, b):  # gray: L* depends on the level only
        np.take(_L_GRAY, r, out=dst[0], mode="clip")
        return
    y, tmp = w[0], w[1]
    np.take(_Y_PARTS[0], r, out=y, mode="clip")
    y += np.take(_Y_PARTS[1], g, out=tmp, mode="clip")
    y += np.take(_Y_PARTS[2], b, out=tmp, mode="clip")
    _f(y, tmp)
    np.multiply(y, 116, out=dst[0])
    dst[0] -= 16


def _overshoot(lin: np.ndarray, out: np.ndarray, tmp: np.ndarray) -> np.ndarray:
    """How far each pixel's linear RGB (3, *S) leaves [0, 1], in out (*S)."""
    np.minimum(lin[0], lin[1], out=out)
    np.minimum(out, lin[2], out=out)
    np.negative(out, out=out)
    np.maximum(lin[0], lin[1], out=tmp)
    np.maximum(tmp, lin[2], out=tmp)
    tmp -= 1
    return np.maximum(out, tmp, out=out)


def _fit_chroma(L: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Linear sRGB (3, K) of K colors at their L* and hue with the largest chroma that fits the
    gamut (the a*b* scale s in [0, 1] that brings the color inside).

    A table of the gamut's largest chroma per (L*, hue) gives s directly (with a 0.5 % margin for
    its interpolation); the colors that still do not fit (next to the gamut's cusps) get a
    bisection of s between 0 (gray, always in gamut) and that first guess. Only X and Z depend
    on s (L* fixes Y), so each trial costs two cube curves and a 3×2 product."""
    fy = (L + 16) * (1 / 116)
    alpha, beta = a * (1 / 500), b * (1 / 200)
    y_part = np.multiply.outer(_M_RGB[:, 1], _finv_scalar(fy.copy()))  # Y's share of linear RGB

    def linear(scale: np.ndarray, idx: np.ndarray | slice = slice(None)) -> np.ndarray:
        x = _finv_scalar(fy[idx] + scale * alpha[idx])
        z = _finv_scalar(np.maximum(fy[idx] - scale * beta[idx], 0))
        return np.multiply.outer(_M_RGB[:, 0], x) + np.multiply.outer(_M_RGB[:, 2], z) + y_part[:, idx]

    def fits(lin: np.ndarray) -> np.ndarray:
        return np.maximum(-lin.min(axis=0), lin.max(axis=0) - 1) <= GAMUT_TOLERANCE

    chroma = np.hypot(a, b)
    guess = _max_chroma(L, np.arctan2(b, a)) * (1 - _GAMUT_MARGIN) / np.maximum(chroma, 1e-6)
    guess = np.minimum(guess, 1, out=guess).astype(np.float32)
    lin = linear(guess)
    redo = np.flatnonzero(~fits(lin))
    if redo.size:
        lo = np.zeros(redo.size, dtype=np.float32)
        hi = guess[redo]
        for _ in range(_GAMUT_STEPS):
            mid = (lo + hi) * 0.5
            ok = fits(linear(mid, redo))
            lo = np.where(ok, mid, lo)
            hi = np.where(ok, hi, mid)
        lin[:, redo] = linear(lo, redo)
    return lin


def _max_chroma(L: np.ndarray, hue: np.ndarray) -> np.ndarray:
    """Largest in-gamut chroma at L* and hue (radians), bilinear in the table (float32)."""
    table = _max_chroma_table()
    steps_l, steps_h = table.shape[0] - 1, table.shape[1] - 1
    flat = table.ravel()
    x = np.clip(L, 0, 100) * np.float32(steps_l / 100)
    y = (hue + np.float32(np.pi)) * np.float32(steps_h / (2 * np.pi))
    i = np.minimum(x.astype(np.intp), steps_l - 1)
    j = np.clip(y.astype(np.intp), 0, steps_h - 1)
    fx, fy = x - i, y - j
    k = i * table.shape[1] + j
    top = flat.take(k, mode="clip")
    top += (flat.take(k + 1, mode="clip") - top) * fy
    k += table.shape[1]
    bottom = flat.take(k, mode="clip")
    bottom += (flat.take(k + 1, mode="clip") - bottom) * fy
    bottom -= top
    bottom *= fx
    return top + bottom


@functools.lru_cache(maxsize=1)
def _max_chroma_table() -> np.ndarray:
    """(201, 721) largest chroma inside the sRGB gamut for L* = 0, 0.5, ..., 100 and hue = -π ...
    π in 0.5° steps (float64 bisection, strict gamut: no tolerance). ~0.1 s, once per process."""
    L = np.linspace(0, 100, 201)[:, None]
    hue = np.linspace(-np.pi, np.pi, 721)[None, :]
    cos, sin = np.cos(hue), np.sin(hue)
    lo = np.zeros((201, 721))
    hi = np.full((201, 721), 200.0)  # sRGB chroma stays below ~135
    m = np.linalg.inv(np.array(_XYZ_FROM_RGB)) * np.array(_WHITE_D65)[None, :]
    fy = (L + 16) / 116
    for _ in range(24):  # 200 / 2**24: far finer than the table's interpolation
        mid = (lo + hi) / 2
        f = np.stack(np.broadcast_arrays(fy + mid * cos / 500, fy, np.maximum(fy - mid * sin / 200, 0)))
        xyz = np.where(f > _FINV_T, f**3, (f - 16 / 116) / _KAPPA)
        lin = np.einsum("ij,jhw->ihw", m, xyz)
        ok = (lin.min(axis=0) >= 0) & (lin.max(axis=0) <= 1)
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    return lo.astype(np.float32)


def _finv_scalar(f: np.ndarray) -> np.ndarray:
    """f⁻¹ of a small 1-D array, in place (scalar thresholds: no cached constant arrays)."""
    cube = np.maximum(f, _FINV_T)
    cube = cube * cube * cube
    np.minimum(f, _FINV_T, out=f)
    f -= _FINV_T
    f *= 1 / _KAPPA
    f += cube
    return f


def _lab_block_to_uint8(
    L: np.ndarray, a: np.ndarray, b: np.ndarray, out: np.ndarray, w: np.ndarray, keep_lightness: bool
) -> None:
    """(rows, W) L*, a*, b* planes → (rows, W, 3) uint8 sRGB in ``out``."""
    lin = _lab_to_linear(L, a, b, w)
    if keep_lightness and _overshoot(lin, w[6], w[7]).max() > GAMUT_TOLERANCE:
        # Flat indices with take/put: ~20x faster than boolean-mask indexing.
        bad = np.flatnonzero(w[6] > GAMUT_TOLERANCE)
        fitted = _fit_chroma(*(np.ravel(x).take(bad, mode="clip") for x in (L, a, b)))
        flat = lin.reshape(3, -1)
        for c in range(3):
            flat[c].put(bad, fitted[c], mode="clip")
    np.clip(lin, 0, 1, out=lin)
    for c in range(3):
        _encode_srgb(lin[c], w[6], scale=255, offset=0.5)  # + 0.5, then truncation: rounding
        np.copyto(out[..., c], w[6], casting="unsafe")
