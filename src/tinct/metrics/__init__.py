"""Image-quality metrics for colorization: PSNR, SSIM, colorfulness, mean chroma, CIEDE2000, the
cast on neutral pixels;
for video, flicker (``tinct.metrics.video``).

All take sRGB images: torch (*, 3, H, W) float in [0, 1] (or uint8), or numpy (*, H, W, 3)
uint8 / float in [0, 1]; they return one value per image with the inputs' batch shape.
"""

from tinct.metrics._inputs import to_rgb_tensor
from tinct.metrics.ciede2000 import ciede2000, mean_ciede2000
from tinct.metrics.image import (
    NEUTRAL_CHROMA,
    PSNR_MAX_DB,
    colorfulness,
    evaluate_pair,
    mean_chroma,
    neutral_cast,
    psnr,
    ssim_rgb,
)
from tinct.metrics.video import FlickerMeter, flicker

__all__ = [
    "NEUTRAL_CHROMA",
    "PSNR_MAX_DB",
    "FlickerMeter",
    "ciede2000",
    "colorfulness",
    "evaluate_pair",
    "flicker",
    "mean_chroma",
    "mean_ciede2000",
    "neutral_cast",
    "psnr",
    "ssim_rgb",
    "to_rgb_tensor",
]
