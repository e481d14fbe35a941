"""Crop boxes for training and evaluation, computed with an explicit RNG so runs are seeded."""

from __future__ import annotations

import math
import random


def random_resized_crop_box(
    width: int,
    height: int,
    rng: random.Random,
    scale: tuple[float, float] = (0.3, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> tuple[int, int, int, int]:
    """A random box covering `scale` of the image area with aspect ratio in `ratio` (log-uniform),
    as in torchvision's RandomResizedCrop. Returns (left, top, right, bottom) in pixels."""
    area = width * height
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            left = rng.randint(0, width - w)
            top = rng.randint(0, height - h)
            return left, top, left + w, top + h
    # Fall back to the largest centred box within the ratio limits.
    side_ratio = width / height
    if side_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif side_ratio > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def center_crop_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The largest centred square: (left, top, right, bottom) in pixels."""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side
