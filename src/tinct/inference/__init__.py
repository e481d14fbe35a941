"""Inference: the :class:`Colorizer` predictor, and the parts and photos of a batch (``batch``;
``tinct.batch.colorize_paths`` runs folders of photos and films).

Example::

    from tinct.inference import Colorizer
    colorizer = Colorizer.load()                           # bundled default weights
    rgb = colorizer.colorize("photo.jpg", vividness=0.6)   # (H, W, 3) uint8, the file's size

Names are imported on first use (PEP 562), so that ``tinct colorize`` with ONNX Runtime never
imports torch (see ``tinct.inference.colorizer``).
"""

from __future__ import annotations

from tinct._lazy import lazy_exports

_EXPORTS = {
    "BatchReport": "batch",
    "BUNDLED_WEIGHTS_DIR": "lookup",
    "Colorizer": "colorizer",
    "WeightsInfo": "lookup",
    "bundled_weights": "lookup",
    "combine_lab": "colorizer",
    "image_lightness": "colorizer",
    "resolve_weights": "lookup",
    "rasterize_hints": "hints",
    "parse_color": "hint_specs",
    "parse_hints": "hint_specs",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
