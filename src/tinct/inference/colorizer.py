"""The predictor object every front end calls: image in, colorized image of the same size out.

Pipeline (see DESIGN.md): L* of the full-resolution image → a small copy of L* at the model's
working size → model → a*b* at the model's output resolution → a*b* upsampled bilinearly to full
resolution → combined with the ORIGINAL full-resolution L* → sRGB uint8. Only chroma is predicted:
the output has the input's exact width, height and (up to uint8 rounding) lightness.

Memory: besides the input and output uint8 arrays, only one full-resolution float32 plane (L*)
is kept; everything else at full resolution is done in blocks of rows.

Speed: L* of an 8-bit image comes from per-level tables (one lookup per pixel for gray images),
and the output is computed by ``tinct.color.rgb8.lightness_chroma_to_rgb_uint8`` (compiled
kernels) row block by row block over ``tinct.threads.get_num_threads()`` threads; the model runs
in PyTorch or ONNX Runtime (``backend=``, see ``tinct.inference.backends``).

Start-up: this module imports neither torch nor onnxruntime. ``Colorizer.load`` with ONNX
Runtime and an export already cached (the first run makes it) never imports torch, hints
included, so a `tinct colorize` process spends its time on the photo, not on loading libraries.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from tinct.color.rgb8 import lightness_chroma_to_rgb_uint8, uint8_lightness
from tinct.inference.hint_specs import parse_hints
from tinct.inference.hints import propagate_hints, rasterize_hints
from tinct.inference.reference import Reference, apply_reference, load_references, match_best
from tinct.inference.spec import ModelSpec
from tinct.io.images import read_image
from tinct.vividness import check_vividness

if TYPE_CHECKING:
    import torch

    from tinct.inference.backends import OnnxRuntimeBackend, TorchBackend
    from tinct.models.base import ColorizationModel

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
    from tinct.io.weights import read_weights_metadata

    model = head = hints = None
    try:
        meta = read_weights_metadata(path)
        config = meta.get("config")
        model = meta.get("model")
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
    if text == DEFAULT_NAME or (BUNDLED_WEIGHTS_DIR / f"{text}.safetensors").is_file() or not os.path.exists(text):
        return False  # decided without listing the architectures (that imports torch)
    from tinct.models import list_models

    return text not in list_models()


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
    from tinct.models import list_models

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


def image_lightness(image: np.ndarray) -> np.ndarray:
    """CIE L* of an sRGB image, without computing a* and b*.

    Args:
        image: (H, W, 3) uint8 sRGB, or (H, W) uint8 gray (one level per pixel, as R = G = B).

    Returns:
        (H, W) float32 L* in [0, 100], equal to ``rgb_to_lab(rgb / 255)[0]`` to ~1e-4 (per-level
        tables, see ``tinct.color.rgb8.uint8_lightness``). A gray image is one table lookup per
        pixel, never expanded to three channels first, and gives the same L* as its RGB expansion.
    """
    return uint8_lightness(image)


def combine_lab(
    L: np.ndarray | torch.Tensor, ab: np.ndarray | torch.Tensor | None, *, keep_lightness: bool = True
) -> np.ndarray:
    """Full-resolution L* plus low-resolution a*b* → sRGB image.

    Args:
        L: (H, W) L* in [0, 100] at full resolution.
        ab: (2, h, w) a*b* in a*b* units at any resolution (upsampled bilinearly, as
            ``F.interpolate(..., mode="bilinear", align_corners=False)`` would, to (H, W));
            ``None`` for zero chroma (the gray image).

    Returns:
        (H, W, 3) uint8 sRGB: each in-gamut color within one level of scikit-image's float64
        ``lab2rgb`` of the same L*a*b*. Out-of-gamut colors lose chroma, not lightness (see
        ``tinct.color.rgb8.lightness_chroma_to_rgb_uint8``, which does the work block by block);
        with ``keep_lightness=False`` they are clipped per channel instead.
    """
    return lightness_chroma_to_rgb_uint8(L, ab, keep_lightness=keep_lightness)


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
        from tinct.device import pick_device
        from tinct.inference.backends import create_backend

        self._check_knobs(size, vividness)
        if device is not None:
            model = model.to(pick_device(device))
        self._model: ColorizationModel | None = model.eval()
        self.spec = ModelSpec.from_model(model)
        self._set_knobs(size, vividness)
        #: Runs the model on the small L* copy: ``backends.TorchBackend`` or ``OnnxRuntimeBackend``.
        self.backend: TorchBackend | OnnxRuntimeBackend = create_backend(backend, self._model, onnx_path)
        #: Where the weights came from (set by :meth:`load`) and the file's metadata.
        self.source: Path | None = None
        self.metadata: dict[str, Any] = {}

    @staticmethod
    def _check_knobs(size: int | None, vividness: float | None) -> None:
        if size is not None and (isinstance(size, bool) or int(size) != size or size < 1):
            raise ValueError(f"size must be a positive number of pixels, got {size!r}")
        if vividness is not None:
            check_vividness(vividness)

    def _set_knobs(self, size: int | None, vividness: float | None) -> None:
        fixed = self.spec.fixed_size
        if size is not None and fixed is not None and size != fixed:
            log.warning("%s only runs at %dx%d; size %d is ignored", self.spec.name, fixed, fixed, size)
        self.size = int(size) if size is not None else None
        self.vividness = vividness

    @classmethod
    def _from_onnx(
        cls,
        backend: OnnxRuntimeBackend,
        source: Path,
        model: ColorizationModel | None,
        size: int | None,
        vividness: float | None,
    ) -> Colorizer:
        """A colorizer around an ONNX Runtime backend, built without torch (``model``: the torch
        model when it was loaded anyway, to export it; else loaded on first use of :attr:`model`)."""
        colorizer = cls.__new__(cls)
        cls._check_knobs(size, vividness)
        colorizer._model = model
        colorizer.spec = backend.spec
        colorizer._set_knobs(size, vividness)
        colorizer.backend = backend
        colorizer.source = source
        colorizer.metadata = {}
        return colorizer

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

        With ONNX Runtime on the CPU and a tinct weights file, torch is not imported at all once
        the file's export is in the cache (``tinct.inference.backends.cached_onnx_path``, keyed by
        the file's bytes): the first run exports it (with torch), later runs only open it. A
        cached export that fails to load is made again.

        Raises:
            FileNotFoundError: no such file / nothing bundled under that name.
            ValueError: unknown name, ``weights`` without an architecture, ``onnx`` with the torch
                backend, bad ``size``/``vividness``/``device``.
            tinct.io.weights.WeightsError: the file is not usable weights for the model.
        """
        if backend == "torch" and onnx is not None:
            raise ValueError("an ONNX file was given with the torch backend; use backend onnxruntime or auto")
        if weights is None and _may_skip_torch(backend, device):
            source = resolve_weights(model)
            from tinct.inference.backends import open_weights_onnx
            from tinct.io.weights import WeightsError

            try:
                ort_backend, network = open_weights_onnx(source, onnx)
                return cls._from_onnx(ort_backend, source, network, size, vividness)
            except Exception as err:
                if backend == "onnxruntime" or onnx is not None or isinstance(err, WeightsError):
                    raise  # a broken weights file is the user's error, whatever the backend
                # auto means "whatever works": the torch path below reports a broken file properly.
                log.warning("onnxruntime backend unavailable (%s); using torch", " ".join(str(err).split()))
                backend = "torch"
        from tinct.device import pick_device
        from tinct.models.loading import load_model, load_state_dict_file

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

    @property
    def model(self) -> ColorizationModel:
        """The torch model; a colorizer that runs an ONNX export loads it from :attr:`source` on
        first use (importing torch), e.g. to export it or to train on."""
        if self._model is None:
            from tinct.models.loading import load_model

            assert self.source is not None  # _from_onnx always has a source
            self._model, self.metadata = load_model(self.source)
        return self._model

    def __repr__(self) -> str:
        source = f", source={str(self.source)!r}" if self.source else ""
        return (
            f"Colorizer(model={self.spec.name!r}, size={self.size}, device={self.device!r}, "
            f"backend={self.backend.name!r}{source})"
        )

    @property
    def device(self) -> str:
        """Where the model runs, e.g. ``"cpu"`` or ``"cuda:0"`` (ONNX Runtime: always the CPU)."""
        if self.backend.name != "torch" or self._model is None:
            return "cpu"
        param = next(self._model.parameters(), None)
        return str(param.device) if param is not None else "cpu"

    @property
    def accepts_hints(self) -> bool:
        # Models without a hint input (DDColor) may still take hints: propagated onto their output.
        return self.spec.hints or self.spec.propagates_hints

    def working_shape(self, height: int, width: int) -> tuple[int, int]:
        """``(h, w)`` in pixels at which the model sees an ``height`` × ``width`` image.

        Fixed-size models get their size (the image is squashed). Others keep the aspect ratio
        as well as ``model.size_multiple`` allows: the longer side becomes ``size`` and each side
        is rounded to the nearest multiple (at least one multiple).
        """
        spec = self.spec
        if spec.fixed_size is not None:
            return spec.fixed_size, spec.fixed_size
        m = spec.size_multiple
        side = self.size or spec.preferred_size
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
        L_small: np.ndarray,
        hints: np.ndarray | torch.Tensor | None = None,
        vividness: float | None = None,
    ) -> np.ndarray:
        """Run the model on an L* image already at the working size.

        Args:
            L_small: (h, w) L* in [0, 100], (h, w) valid for the model (see :meth:`working_shape`).
            hints: (1, 3, h, w) hints (see ``hints.rasterize_hints``) or None.

        Returns:
            (2, h', w') float32 a*b* in a*b* units, at the model's output resolution
            (h' = h / output_stride).
        """
        vividness = self.vividness if vividness is None else vividness
        if vividness is not None:
            check_vividness(vividness)
        if hints is not None and hasattr(hints, "numpy"):
            hints = hints.detach().cpu().numpy()
        return self.backend.run(np.asarray(L_small, dtype=np.float32), hints, vividness)

    def colorize(
        self,
        image: np.ndarray | str | os.PathLike | Image.Image,
        hints: Sequence[Any] | None = None,
        vividness: float | None = None,
        reference: Any = None,
    ) -> np.ndarray:
        """Colorize one image at its full resolution.

        Args:
            image: (H, W, 3) uint8 sRGB (only its L* is used; existing color is discarded),
                (H, W) uint8 gray, a PIL image, or an image file path (read with
                ``tinct.io.read_image``).
            hints: user color hints (models with ``config.hints`` only): ``(x, y, (r, g, b))``
                tuples or ``{"x": .., "y": .., "color": "#rrggbb"}`` dicts, x/y in input pixels.
            vividness: saturation in [0, 1] for this call; default the colorizer's.
            reference: a color photo of the same things (path, PIL image, (H, W, 3) uint8 array,
                or a ``tinct.inference.reference.Reference`` prepared once for many calls), or a
                list of them (the best-matching one is used): its colors are carried over where
                the two images match (see that module).

        Returns:
            (H, W, 3) uint8 sRGB with the input's exact size and L* (up to uint8 rounding).

        Raises:
            ValueError: bad array, bad hints, hints for a model without a hint input, bad
                vividness, a gray reference. ``ImageReadError`` for an unreadable path.
        """
        if hints and not self.accepts_hints:
            raise ValueError("this model does not accept hints")
        if vividness is not None:
            check_vividness(vividness)
        reference = _load_reference(reference)
        L = image_lightness(_as_pixels(image))
        return self.colorize_lightness(L, hints=hints, vividness=vividness, reference=reference)

    def colorize_lightness(
        self,
        L: np.ndarray,
        hints: Sequence[Any] | None = None,
        vividness: float | None = None,
        reference: Any = None,
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
        hint_map = None
        if hints:
            hint_map = rasterize_hints(parse_hints(hints, width, height), (height, width), L_small.shape, HINT_PATCH)
        # A model may ask for its authors' per-channel clipping of out-of-gamut colors (DDColor).
        ab = self.working_chroma(L_small, hint_map, vividness, _load_reference(reference))
        return combine_lab(L, ab, keep_lightness=self.spec.keep_lightness)

    def working_chroma(
        self,
        L_small: np.ndarray,
        hint_map: np.ndarray | None = None,
        vividness: float | None = None,
        reference: tuple[Reference, ...] | None = None,
    ) -> np.ndarray:
        """:meth:`predict_ab` plus what every colorization does with it before the full-resolution
        recombination: hints spread along the lightness, a check for broken output. Video
        (``tinct.video``) filters this over time before calling :func:`combine_lab`.

        Args:
            L_small: (h, w) float32 L* at the working size (see :meth:`working_lightness`).
            hint_map: (1, 3, h, w) from ``hints.rasterize_hints`` or None.
            reference: from ``reference.load_references``: the best-matching one's colors replace
                the model's where they match, before the user's hints (which win where both speak).

        Returns:
            (2, h', w') float32 a*b* at the model's output resolution.
        """
        # Hint-less models get the hints by propagation only (DDColor).
        model_hints = hint_map if self.spec.hints else None
        ab = self.predict_ab(L_small, model_hints, vividness)
        if reference is not None:
            ab = apply_reference(ab, match_best(reference, L_small))
        if hint_map is not None:
            ab = propagate_hints(ab, L_small, hint_map)
        if not np.isfinite(ab).all():
            raise ValueError("the model produced non-finite a*b* values (broken weights?)")
        return ab


def _load_reference(reference: Any) -> tuple[Reference, ...] | None:
    """``None`` or anything ``reference.load_references`` takes → prepared references or None."""
    return None if reference is None else load_references(reference)


def _may_skip_torch(backend: str, device: Any) -> bool:
    """Whether :meth:`Colorizer.load` may try ONNX Runtime without torch: the backend allows it,
    onnxruntime is installed, and the device is (or "auto" can only be) the CPU."""
    from tinct.device import accelerator_may_exist
    from tinct.inference.backends import AUTO_PREFERS_ONNXRUNTIME, onnxruntime_available

    if backend not in ("auto", "onnxruntime") or not onnxruntime_available():
        return False
    if backend == "auto" and not AUTO_PREFERS_ONNXRUNTIME:
        return False
    if device is None or device == "auto":
        return not accelerator_may_exist()
    return str(device) == "cpu"
