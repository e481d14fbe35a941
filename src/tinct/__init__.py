"""tinct: colorize black-and-white photographs and films with convolutional neural networks.

Three lines::

    from tinct import Colorizer
    colorizer = Colorizer.load()                # the bundled default model; nothing is downloaded
    color = colorizer.colorize(photo)           # a PIL image, an (H, W, 3) or (H, W) uint8 array,
                                                # or a file path; returns a PIL image for a PIL
                                                # image, else an (H, W, 3) uint8 array, same size

Options: ``colorizer.colorize(photo, vividness=0.8, hints=[{"x": 120, "y": 80, "color":
"#c03020"}])``; ``Colorizer.load("my.safetensors")`` for other weights. Folders and films:
``colorize_paths(["scans/"], "out/", colorizer)``, what ``tinct colorize`` runs.

Names are imported on first use (PEP 562): ``import tinct`` costs nothing, and the ONNX Runtime
path never imports torch. Modules: ``tinct.batch`` (folders of photos and films), ``tinct.inference`` (the Colorizer),
``tinct.video``,
``tinct.models``, ``tinct.train``, ``tinct.metrics``, ``tinct.export``, ``tinct.serve``, ``tinct.color``,
``tinct.io``.
"""

from tinct._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "Colorizer": "inference.colorizer",
    "BatchReport": "batch",
    "colorize_paths": "batch",
    "colorize_video": "video.colorize",
}

__all__ = ["__version__", *sorted(_EXPORTS)]

__getattr__ = lazy_exports(__name__, _EXPORTS)


def __dir__() -> list[str]:
    # help(tinct) and tab completion list the lazy names too.
    return sorted({*globals(), *_EXPORTS})
