"""Inference: the :class:`Colorizer` predictor and batch colorization of files and folders.

Example::

    from tinct.inference import Colorizer
    colorizer = Colorizer.load()                           # bundled default weights
    rgb = colorizer.colorize("photo.jpg", vividness=0.6)   # (H, W, 3) uint8, the file's size
"""

from tinct.inference.batch import BatchReport, colorize_paths
from tinct.inference.colorizer import (
    BUNDLED_WEIGHTS_DIR,
    Colorizer,
    WeightsInfo,
    bundled_weights,
    combine_lab,
    image_lightness,
    resolve_weights,
)
from tinct.inference.hints import hints_to_tensor, parse_color, parse_hints

__all__ = [
    "BUNDLED_WEIGHTS_DIR",
    "BatchReport",
    "Colorizer",
    "WeightsInfo",
    "bundled_weights",
    "colorize_paths",
    "combine_lab",
    "hints_to_tensor",
    "image_lightness",
    "parse_color",
    "parse_hints",
    "resolve_weights",
]
