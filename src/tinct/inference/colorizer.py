"""The predictor object every front end calls: image in, colorized image of the same size out.

Pipeline (see DESIGN.md): L* of the full-resolution image → a small copy of L* at the model's
working size → model → a*b* at the model's output resolution → a*b* upsampled bilinearly to full
resolution → combined with the ORIGINAL full-resolution L* → sRGB uint8. Only chroma is predicted:
the output has the input's exact width, height and (up to uint8 rounding) lightness.

Memory: besides the input and output uint8 arrays, only one full-resolution float32 plane (L*)
is kept; everything else at full resolution is done in blocks of rows.

Speed: L* of an 8-bit image comes from per-level tables (one lookup per pixel for gray images),
and the output is computed by ``tinct.color.fast.lightness_chroma_to_rgb_uint8`` in cache-sized blocks over
``torch.get_num_threads()`` threads; the model runs in PyTorch or ONNX Runtime
(``backend=``, see ``tinct.inference.backends``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from tinct.color.fast import lightness_chroma_to_rgb_uint8
from tinct.color.lab import rgb_to_lightness
from tinct.device import pick_device
from tinct.inference.backends import create_backend
from tinct.inference.hints import hints_to_tensor, parse_hints, propagate_hints
from tinct.io.images import read_image
from tinct.models import list_models
from tinct.models.base import ColorizationModel, check_vividness
from tinct.models.loading import load_model, load_state_dict_file

log = logging.getLogger(__name__)

__all__ = [
    "BUNDLED_WEIGHTS_DIR",
    "Colorizer",
    "WeightsInfo",
    "bundled_weights",
    "combine_lab",
    "image_lightness",
    "resolve_weights",
]

#: Folder of the weights files shipped inside the package (``<name>.safetensors``).
BUNDLED_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
DEFAULT_NAME = "default"

#: Each hint paints a square of this side at the working resolution.
HINT_PATCH = 1


# --------------------------------------------------------------------------------------------
# Weights lookup


@dataclasses.dataclass(frozen=True)
class WeightsInfo:
    """What a weights file says about itself (read from its header only)."""

    name: str
    path: Path
    size_mb: float
    model: str | None = None  # architecture, e.g. "unet"
    head: str | None = None  # "regression" or "classification"
    hints: bool | None = None


def _weights_info(path: Path) -> WeightsInfo:
    from safetensors import safe_open

    from tinct.io.weights import METADATA_KEY

    model = head = hints = None
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = json.loads((f.metadata() or {}).get(METADATA_KEY, "{}"))
        config = meta.get("config") if isinstance(meta, dict) else None
        model = meta.get("model") if isinstance(meta, dict) else None
        if isinstance(config, dict):
            head, hints = config.get("head"), config.get("hints")
    except Exception as err:  # a broken file is still listed, just without its description
        log.debug("%s: cannot read metadata (%s)", path, err)
    return WeightsInfo(path.stem, path, path.stat().st_size / 1e6, model, head, hints)


def bundled_weights() -> list[WeightsInfo]:
    """The ``*.safetensors`` files shipped in :data:`BUNDLED_WEIGHTS_DIR`, sorted by name."""
    if not BUNDLED_WEIGHTS_DIR.is_dir():
        return []
    return [_weights_info(p) for p in sorted(BUNDLED_WEIGHTS_DIR.glob("*.safetensors")) if p.is_file()]


def _is_path(text: str) -> bool:
    """Whether a ``--model`` value means a file: it has a folder separator or a file suffix
    (``runs/x/best.safetensors``, ``./default``, ``w.safetensors``), or it names an existing file
    and is not a reserved name (``default``, a bundled weights name, an architecture). So a file
    called ``default`` or ``seed`` in the working directory never shadows the bundled weights;
    write ``./default`` to mean it."""
    if os.sep in text or "/" in text or (os.altsep and os.altsep in text) or Path(text).suffix:
        return True
    reserved = {DEFAULT_NAME, *list_models()} | {p.stem for p in BUNDLED_WEIGHTS_DIR.glob("*.safetensors")}
    return text not in reserved and os.path.exists(text)


def resolve_weights(name_or_path: str | os.PathLike | None = None) -> Path:
    """The weights file meant by a user's ``--model`` value.

    * ``None`` or ``"default"`` → the bundled ``weights/default.safetensors``;
    * a path (see :func:`_is_path`: a separator or a suffix, or an existing file that is not a
      reserved name; any ``os.PathLike``) → that file;
    * a bundled weights name or a registered architecture name → ``weights/<name>.safetensors``.

    Raises:
        FileNotFoundError: the file does not exist, or no weights are bundled for the name.
        ValueError: the name is neither a path, a bundled weights name nor an architecture.
    """
    text = DEFAULT_NAME if name_or_path is None else os.fspath(name_or_path)
    if isinstance(name_or_path, os.PathLike) or _is_path(text):
        path = Path(text).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such weights file")
        return path
    bundled = BUNDLED_WEIGHTS_DIR / f"{text}.safetensors"
    if bundled.is_file():
        return bundled
    if text == DEFAULT_NAME:
        raise FileNotFoundError(
            f"the bundled default weights {bundled} are missing (not trained/installed yet); "
            "pass a weights file instead, e.g. --model runs/<run>/checkpoints/best.safetensors"
        )
    if text in list_models():
        raise FileNotFoundError(
            f"no weights are bundled for architecture {text!r} (no {bundled}); "
            "pass the path of a .safetensors weights file instead"
        )
    names = sorted({DEFAULT_NAME, *(w.name for w in bundled_weights())})
    raise ValueError(
        f"unknown model {text!r}: not a weights file, a bundled weights name ({', '.join(names)}) "
        f"or an architecture ({', '.join(list_models())})"
    )


# --------------------------------------------------------------------------------------------
# Full-resolution color math, block by block


@functools.cache
def _gray_lightness_table() -> np.ndarray:
    """(256,) float32: L* of the gray level g, i.e. of sRGB (g, g, g), by the very function that
    colors use, so a gray plane looked up here equals its RGB expansion bit for bit."""
    ramp = torch.arange(256, dtype=torch.uint8).expand(3, 1, 256)
    return rgb_to_lightness(ramp)[0].numpy()


def image_lightness(image: np.ndarray) -> np.ndarray:
    """CIE L* of an sRGB image, without computing a* and b*.

    Args:
        image: (H, W, 3) uint8 sRGB, or (H, W) uint8 gray (one level per pixel, as R = G = B).

    Returns:
        (H, W) float32 L* in [0, 100], equal to ``rgb_to_lab(rgb / 255)[0]`` to float32 precision
        (see ``tinct.color.lab.rgb_to_lightness``: per-level tables). A gray image is one table
        lookup per pixel, never expanded to three channels first.
    """
    if image.dtype == np.uint8 and image.ndim == 2:
        return _gray_lightness_table()[image]
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) or (H, W) uint8 image, got {image.dtype} {image.shape}")
    with warnings.catch_warnings():
        # Decoded images are often read-only arrays; they are only read here.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        chw = torch.from_numpy(image).permute(2, 0, 1)
    return rgb_to_lightness(chw).numpy()


def combine_lab(L: np.ndarray | torch.Tensor, ab: torch.Tensor | None) -> np.ndarray:
    """Full-resolution L* plus low-resolution a*b* → sRGB image.

    Args:
        L: (H, W) L* in [0, 100] at full resolution.
        ab: (2, h, w) a*b* in a*b* units at any resolution (upsampled bilinearly, as
            ``F.interpolate(..., mode="bilinear", align_corners=False)`` would, to (H, W));
            ``None`` for zero chroma (the gray image).

    Returns:
        (H, W, 3) uint8 sRGB: each in-gamut color within one level of scikit-image's float64
        ``lab2rgb`` of the same L*a*b*. Out-of-gamut colors lose chroma, not lightness (see
        ``tinct.color.fast.lightness_chroma_to_rgb_uint8``, which does the work block by block).
    """
    return lightness_chroma_to_rgb_uint8(L, ab, keep_lightness=True)


def _as_pixels(image: Any) -> np.ndarray:
    """Any accepted input → (H, W, 3) uint8 sRGB, or (H, W) uint8 for a gray one (kept gray:
    only its L* is needed)."""
    if isinstance(image, (str, os.PathLike)):
        return read_image(image, keep_gray=True)
    if isinstance(image, Image.Image):
        return np.asarray(image if image.mode == "L" else image.convert("RGB"))
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image (0..255), got dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"expected an (H, W, 3) RGB or (H, W) gray image, got shape {arr.shape}")
    return arr


# --------------------------------------------------------------------------------------------
# The predictor


class Colorizer:
    """Colorize images of any size with one model.

    Args:
        model: a ``ColorizationModel`` (put in eval mode here).
        size: working resolution: the longer side of the small L* copy the model sees, in pixels,
            rounded to ``model.size_multiple`` (default ``model.preferred_size``). Ignored by
            models with a ``fixed_size`` (the ``seed`` model always runs at 128×128).
        device: where the model runs (``"cpu"``, ``"cuda"``, ...); default: where it already is.
            Full-resolution pre/post-processing always runs on the CPU.
        vividness: default saturation knob in [0, 1] (see ``tinct.models.base``); default: the
            model's own ``config.default_vividness``.
        backend: where the model runs: ``"torch"`` (the default for a model in memory, e.g. one
            being trained), ``"onnxruntime"`` (an ONNX export of the model, made once into a cache
            folder unless ``onnx_path`` is given; CPU) or ``"auto"`` (ONNX Runtime when installed
            and the model is on the CPU, else torch; the default of :meth:`load`); see
            ``tinct.inference.backends``.
        onnx_path: an ONNX file exported from this model (``tinct export``) for the
            onnxruntime backend.

    Weights on disk are loaded with :meth:`load`, the one entry point every front end uses.

    Example::

        colorizer = Colorizer.load()                      # bundled default weights
        rgb = colorizer.colorize("old_photo.jpg")         # (H, W, 3) uint8, same H, W as the file
    """

    def __init__(
        self,
        model: ColorizationModel,
        size: int | None = None,
        device: str | torch.device | None = None,
        vividness: float | None = None,
        backend: str = "torch",
        onnx_path: str | os.PathLike | None = None,
    ) -> None:
        if size is not None and (isinstance(size, bool) or int(size) != size or size < 1):
            raise ValueError(f"size must be a positive number of pixels, got {size!r}")
        if vividness is not None:
            check_vividness(vividness)
        if device is not None:
            model = model.to(pick_device(device))
        self.model = model.eval()
        if size is not None and model.fixed_size is not None and size != model.fixed_size:
            log.warning(
                "%s only runs at %dx%d; size %d is ignored",
                model.config.name,
                model.fixed_size,
                model.fixed_size,
                size,
            )
        self.size = int(size) if size is not None else None
        self.vividness = vividness
        #: Runs the model on the small L* copy: ``backends.TorchBackend`` or ``OnnxRuntimeBackend``.
        self.backend = create_backend(backend, self.model, onnx_path)
        #: Where the weights came from (set by :meth:`load`) and the file's metadata.
        self.source: Path | None = None
        self.metadata: dict[str, Any] = {}

    @classmethod
    def load(
        cls,
        model: str | os.PathLike | None = None,
        *,
        weights: str | os.PathLike | None = None,
        backend: str = "auto",
        onnx: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        size: int | None = None,
        vividness: float | None = None,
    ) -> Colorizer:
        """The one way to build a colorizer from weights on disk (CLI, server, export, scripts).

        Args:
            model: ``None``/``"default"``, a bundled weights name, an architecture name, or a
                ``.safetensors`` path (see :func:`resolve_weights`). Nothing is ever downloaded.
            weights: with ``model`` naming an architecture: a state dict for a fresh one of it
                (e.g. the authors' ``.pth`` for ``eccv16``; see ``models.loading.load_state_dict_file``).
            backend: ``"auto"`` (ONNX Runtime when installed and the model is on the CPU, else
                torch), ``"torch"`` or ``"onnxruntime"``; see ``tinct.inference.backends``.
            onnx: an ONNX file exported from this model (``tinct export``) for ONNX Runtime; an
                error with ``backend="torch"``, which would silently not use it.
            device: ``None``/``"auto"`` picks CUDA, then MPS, then CPU.
            size, vividness: see :class:`Colorizer`.

        Raises:
            FileNotFoundError: no such file / nothing bundled under that name.
            ValueError: unknown name, ``weights`` without an architecture, ``onnx`` with the torch
                backend, bad ``size``/``vividness``/``device``.
            tinct.io.weights.WeightsError: the file is not usable weights for the model.
        """
        if backend == "torch" and onnx is not None:
            raise ValueError("an ONNX file was given with the torch backend; use backend onnxruntime or auto")
        device = pick_device(device)
        if weights is not None:
            arch = DEFAULT_NAME if model is None else os.fspath(model)
            source, meta = Path(weights), {}
            network = load_state_dict_file(arch, source, map_location=device)  # checks the architecture
        else:
            source = resolve_weights(model)
            network, meta = load_model(source, map_location=device)
        colorizer = cls(network, size=size, vividness=vividness, backend=backend, onnx_path=onnx)
        colorizer.source = source
        colorizer.metadata = meta
        return colorizer

    def __repr__(self) -> str:
        source = f", source={str(self.source)!r}" if self.source else ""
        name = self.model.config.name
        return (
            f"Colorizer(model={name!r}, size={self.size}, device={str(self.device)!r}, "
            f"backend={self.backend.name!r}{source})"
        )

    @property
    def device(self) -> torch.device:
        param = next(self.model.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    @property
    def accepts_hints(self) -> bool:
        return bool(self.model.config.hints)

    def working_shape(self, height: int, width: int) -> tuple[int, int]:
        """``(h, w)`` in pixels at which the model sees an ``height`` × ``width`` image.

        Fixed-size models get their size (the image is squashed). Others keep the aspect ratio
        as well as ``model.size_multiple`` allows: the longer side becomes ``size`` and each side
        is rounded to the nearest multiple (at least one multiple).
        """
        model = self.model
        if model.fixed_size is not None:
            return model.fixed_size, model.fixed_size
        m = model.size_multiple
        side = self.size or model.preferred_size
        longest = max(m, round(side / m) * m)
        shorter = max(m, round(longest * min(height, width) / max(height, width) / m) * m)
        return (longest, shorter) if height >= width else (shorter, longest)

    def working_lightness(self, L: np.ndarray) -> np.ndarray:
        """(H, W) float32 L* in [0, 100] → the (h, w) L* the network sees (see :meth:`working_shape`)."""
        h, w = self.working_shape(*L.shape)
        # Bicubic with PIL's reducing_gap, as the training crops are made (tinct.data.dataset).
        plane = Image.fromarray(np.ascontiguousarray(L, dtype=np.float32))
        small = plane.resize((w, h), Image.BICUBIC, reducing_gap=2.0)
        return np.clip(np.asarray(small, dtype=np.float32), 0.0, 100.0)

    def predict_ab(
        self,
        L_small: np.ndarray | torch.Tensor,
        hints: torch.Tensor | None = None,
        vividness: float | None = None,
    ) -> torch.Tensor:
        """Run the model on an L* image already at the working size.

        Args:
            L_small: (h, w) L* in [0, 100], (h, w) valid for the model (see :meth:`working_shape`).
            hints: (1, 3, h, w) hint tensor (see ``hints.hints_to_tensor``) or None.

        Returns:
            (2, h', w') a*b* in a*b* units on the CPU, at the model's output resolution
            (h' = h / output_stride).
        """
        vividness = self.vividness if vividness is None else vividness
        if vividness is not None:
            check_vividness(vividness)
        return self.backend.run(L_small, hints, vividness)

    def colorize(
        self,
        image: np.ndarray | str | os.PathLike | Image.Image,
        hints: Sequence[Any] | None = None,
        vividness: float | None = None,
    ) -> np.ndarray:
        """Colorize one image at its full resolution.

        Args:
            image: (H, W, 3) uint8 sRGB (only its L* is used; existing color is discarded),
                (H, W) uint8 gray, a PIL image, or an image file path (read with
                ``tinct.io.read_image``).
            hints: user color hints (models with ``config.hints`` only): ``(x, y, (r, g, b))``
                tuples or ``{"x": .., "y": .., "color": "#rrggbb"}`` dicts, x/y in input pixels.
            vividness: saturation in [0, 1] for this call; default the colorizer's.

        Returns:
            (H, W, 3) uint8 sRGB with the input's exact size and L* (up to uint8 rounding).

        Raises:
            ValueError: bad array, bad hints, hints for a model without a hint input, bad
                vividness. ``ImageReadError`` for an unreadable path.
        """
        if hints and not self.accepts_hints:
            raise ValueError("this model does not accept hints")
        if vividness is not None:
            check_vividness(vividness)
        return self.colorize_lightness(image_lightness(_as_pixels(image)), hints=hints, vividness=vividness)

    def colorize_lightness(
        self, L: np.ndarray, hints: Sequence[Any] | None = None, vividness: float | None = None
    ) -> np.ndarray:
        """Colorize an L* plane: (H, W) float L* in [0, 100] → (H, W, 3) uint8 sRGB of that L*.

        See :meth:`colorize` for ``hints`` and ``vividness``.
        """
        if hints and not self.accepts_hints:
            raise ValueError("this model does not accept hints")
        L = np.asarray(L, dtype=np.float32)
        if L.ndim != 2 or L.shape[0] == 0 or L.shape[1] == 0:
            raise ValueError(f"expected an (H, W) L* plane, got shape {L.shape}")
        height, width = L.shape
        L_small = self.working_lightness(L)
        hint_tensor = None
        if hints:
            hint_tensor = hints_to_tensor(parse_hints(hints, width, height), (height, width), L_small.shape, HINT_PATCH)
        return combine_lab(L, self.working_chroma(L_small, hint_tensor, vividness))

    def working_chroma(
        self, L_small: np.ndarray, hint_tensor: torch.Tensor | None = None, vividness: float | None = None
    ) -> torch.Tensor:
        """:meth:`predict_ab` plus what every colorization does with it before the full-resolution
        recombination: hints spread along the lightness, a check for broken output. Video
        (``tinct.video``) filters this over time before calling :func:`combine_lab`.

        Args:
            L_small: (h, w) float32 L* at the working size (see :meth:`working_lightness`).
            hint_tensor: (1, 3, h, w) from ``hints.hints_to_tensor`` or None.

        Returns:
            (2, h', w') a*b* on the CPU at the model's output resolution.
        """
        ab = self.predict_ab(L_small, hint_tensor, vividness)
        if hint_tensor is not None:
            ab = propagate_hints(ab, torch.from_numpy(L_small), hint_tensor)
        if not torch.isfinite(ab).all():
            raise ValueError("the model produced non-finite a*b* values (broken weights?)")
        return ab
