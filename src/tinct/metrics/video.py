"""Flicker: how much the color of a video changes where its gray picture does not.

``flicker`` is the mean a*b* change (Euclidean, in a*b* units) between consecutive frames, over
the pixels whose gray input is static (|ΔL*| < 1 between the two frames, L* of the gray input):
where nothing moves, the true color does not change either, so any chroma change there is
flicker. A real static-camera clip measures about 0.1 (noise and compression); per-frame
colorization of its gray version about ten times that.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from tinct.color.fast import rgb_to_lab

__all__ = ["FlickerMeter", "STATIC_THRESHOLD", "flicker", "rgb_to_lab_planes"]

#: Largest |ΔL*| between consecutive frames of the gray input at which a pixel counts as static.
STATIC_THRESHOLD = 1.0


def rgb_to_lab_planes(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 sRGB → (3, H, W) float32 L*a*b*."""
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).to(torch.float32) / 255.0
    return rgb_to_lab(x.contiguous()).numpy()


class FlickerMeter:
    """Streaming :func:`flicker`: ``update(gray_L, ab)`` once per frame, in order; ``value``.

    Args:
        threshold: |ΔL*| below which a pixel of the gray input is static.
    """

    def __init__(self, threshold: float = STATIC_THRESHOLD) -> None:
        self.threshold = float(threshold)
        self.total = 0.0
        self.pixels = 0
        self.pairs = 0
        self._prev: tuple[np.ndarray, np.ndarray] | None = None

    def update(self, gray_L: np.ndarray, ab: np.ndarray) -> None:
        """One frame: (H, W) L* of the gray input, (2, H, W) a*b* of the frame being judged."""
        gray_L = np.asarray(gray_L, dtype=np.float32)
        ab = np.asarray(ab, dtype=np.float32)
        if ab.shape != (2, *gray_L.shape):
            raise ValueError(f"expected (2, H, W) a*b* for an (H, W) L* plane, got {ab.shape} and {gray_L.shape}")
        if self._prev is not None:
            prev_L, prev_ab = self._prev
            if prev_L.shape != gray_L.shape:
                raise ValueError(f"frame size changed from {prev_L.shape} to {gray_L.shape}")
            static = np.abs(gray_L - prev_L) < self.threshold
            count = int(static.sum())
            if count:
                change = np.sqrt(np.square(ab[0] - prev_ab[0]) + np.square(ab[1] - prev_ab[1]))
                self.total += float(change[static].sum(dtype=np.float64))
                self.pixels += count
            self.pairs += 1
        self._prev = (gray_L, ab)

    def update_rgb(self, gray_L: np.ndarray, rgb: np.ndarray) -> None:
        """:meth:`update` with the frame as (H, W, 3) uint8 sRGB."""
        self.update(gray_L, rgb_to_lab_planes(rgb)[1:])

    @property
    def value(self) -> float:
        """Mean a*b* change over all static pixels of all consecutive pairs (NaN if none)."""
        return self.total / self.pixels if self.pixels else float("nan")


def flicker(
    frames: Iterable[np.ndarray], gray: Iterable[np.ndarray] | None = None, threshold: float = STATIC_THRESHOLD
) -> float:
    """Mean a*b* change between consecutive frames at pixels whose gray input is static.

    Args:
        frames: (H, W, 3) uint8 sRGB frames, in order.
        gray: (H, W) L* of the gray input of each frame; default each frame's own L* (the
            colorized frames of tinct carry their input's L*).
        threshold: |ΔL*| below which a pixel is static.

    Returns:
        Mean |Δ(a*, b*)| in a*b* units, pooled over every static pixel of every consecutive pair;
        NaN for fewer than two frames or no static pixel.
    """
    meter = FlickerMeter(threshold)
    grays = iter(gray) if gray is not None else None
    for rgb in frames:
        lab = rgb_to_lab_planes(rgb)
        meter.update(lab[0] if grays is None else next(grays), lab[1:])
    return meter.value
