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
from tinct.inference.lookup import DEFAULT_NAME, resolve_weights
from tinct.inference.reference import Reference, apply_reference, load_references, match_best
from tinct.inference.spec import ModelSpec
from tinct.io.images import _to_rgb_array, read_image
from tinct.vividness import check_vividness

if TYPE_CHECKING:
    import torch

    from tinct.inference.backends import OnnxRuntimeBackend, TorchBackend
    from tinct.models.base import ColorizationModel

log = logging.getLogger(__name__)

__all__ = ["Colorizer", "combine_lab", "image_lightness"]

#: Each hint paints a square of this side at the working resolution.
HINT_PATCH = 1


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
        # The decoder's conversions (16-bit, float, CMYK with its profile, alpha over white),
        # so that a PIL image gives what the same image read from its file gives.
        return np.asarray(image) if image.mode == "L" else _to_rgb_array(image)
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
        model: ColorizationModel | None,
        size: int | None = None,
        device: str | torch.device | None = None,
        vividness: float | None = None,
        backend: str | TorchBackend | OnnxRuntimeBackend = "torch",
        onnx_path: str | os.PathLike | None = None,
    ) -> None:
        self._check_knobs(size, vividness)
        if isinstance(backend, str):
            from tinct.device import pick_device
            from tinct.inference.backends import create_backend

            if model is None:
                raise ValueError("a colorizer needs a model, or a backend that runs one")
            if device is not None:
                model = model.to(pick_device(device))
            backend = create_backend(backend, model.eval(), onnx_path)
        #: The torch model; None for an ONNX Runtime backend built without it (see :attr:`model`).
        self._model: ColorizationModel | None = None if model is None else model.eval()
        #: Runs the model on the small L* copy: ``backends.TorchBackend`` or ``OnnxRuntimeBackend``.
        self.backend: TorchBackend | OnnxRuntimeBackend = backend
        #: What inference needs to know about the model (torch-free).
        self.spec: ModelSpec = backend.spec
        fixed = self.spec.fixed_size
        if size is not None and fixed is not None and size != fixed:
            log.warning("%s only runs at %dx%d; size %d is ignored", self.spec.name, fixed, fixed, size)
        self.size = int(size) if size is not None else None
        self.vividness = vividness
        #: Where the weights came from (set by :meth:`load`) and the file's metadata.
        self.source: Path | None = None
        self.metadata: dict[str, Any] = {}

    @staticmethod
    def _check_knobs(size: int | None, vividness: float | None) -> None:
        if size is not None and (isinstance(size, bool) or int(size) != size or size < 1):
            raise ValueError(f"size must be a positive number of pixels, got {size!r}")
        if vividness is not None:
            check_vividness(vividness)

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
                ``.safetensors`` path (see ``tinct.inference.lookup.resolve_weights``). Nothing is
                ever downloaded.
            weights: with ``model`` naming an architecture: a state dict for a fresh one of it
                (e.g. the authors' ``.pth`` for ``eccv16``; see ``models.loading.load_model``).
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
        from tinct.inference.backends import check_backend_choice

        check_backend_choice(backend, onnx)
        cls._check_knobs(size, vividness)
        if weights is None and _may_skip_torch(backend, device):
            source = resolve_weights(model)
            from tinct.inference.backends import open_weights_onnx, warn_auto_falls_back
            from tinct.io.weights import WeightsError

            try:
                ort_backend, network = open_weights_onnx(source, onnx)
            except Exception as err:
                if backend == "onnxruntime" or onnx is not None or isinstance(err, WeightsError):
                    raise  # a broken weights file is the user's error, whatever the backend
                warn_auto_falls_back(err)  # the torch path below reports a broken file properly
                backend = "torch"
            else:
                colorizer = cls(network, size=size, vividness=vividness, backend=ort_backend)
                colorizer.source = source
                return colorizer
        from tinct.device import pick_device
        from tinct.models.loading import load_model

        device = pick_device(device)
        arch = None if weights is None else (DEFAULT_NAME if model is None else os.fspath(model))
        source = resolve_weights(model) if weights is None else Path(weights)
        network, meta = load_model(source, map_location=device, arch=arch)  # arch: checked there
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

            assert self.source is not None  # a colorizer without a model was made by load()
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

    @property
    def name(self) -> str:
        """What users call the model: the weights file's name (e.g. ``"default"``), else the architecture."""
        return self.source.stem if self.source is not None else self.spec.name

    def check_request(self, hints: Sequence[Any] | None = None, vividness: float | None = None) -> None:
        """The one check of what a caller asks of this colorizer, made once at each public entry
        (:meth:`colorize`, :meth:`colorize_lightness`, :meth:`predict_ab`; batches, videos and the
        server call it before any work), never again on the way down.

        Raises:
            ValueError: hints for a model that takes none, or vividness outside [0, 1].
        """
        if hints is not None and len(hints) and not self.accepts_hints:
            raise ValueError(f"the model {self.name!r} does not accept hints")
        if vividness is not None:
            check_vividness(vividness)

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
        self.check_request(vividness=vividness)
        if hints is not None and hasattr(hints, "numpy"):
            hints = hints.detach().cpu().numpy()
        return self._predict(L_small, hints, vividness)

    def _predict(self, L_small: np.ndarray, hints: np.ndarray | None, vividness: float | None) -> np.ndarray:
        # Arguments as checked by check_request; None vividness: the colorizer's, else the model's.
        vividness = self.vividness if vividness is None else vividness
        return self.backend.run(np.asarray(L_small, dtype=np.float32), hints, vividness)

    def colorize(
        self,
        image: np.ndarray | str | os.PathLike | Image.Image,
        hints: Sequence[Any] | None = None,
        vividness: float | None = None,
        reference: Any = None,
    ) -> np.ndarray | Image.Image:
        """Colorize one image at its full resolution; what comes back is what was given.

        Args:
            image: (H, W, 3) uint8 sRGB (only its L* is used; existing color is discarded),
                (H, W) uint8 gray, a PIL image of any mode, or an image file path (read with
                ``tinct.io.read_image``: EXIF rotation applied).
            hints: user color hints (models with ``config.hints`` only): ``(x, y, (r, g, b))``
                tuples or ``{"x": .., "y": .., "color": "#rrggbb"}`` dicts, x/y in input pixels.
            vividness: saturation in [0, 1] for this call; default the colorizer's.
            reference: a color photo of the same things (path, PIL image, (H, W, 3) uint8 array,
                or a ``tinct.inference.reference.Reference`` prepared once for many calls), or a
                list of them (the best-matching one is used): its colors are carried over where
                the two images match (see that module).

        Returns:
            For an array or a path: (H, W, 3) uint8 sRGB with the input's exact size and L* (up
            to uint8 rounding). For a PIL image: a PIL image of that size, mode ``"RGB"``, or
            ``"RGBA"`` carrying the input's alpha when it had one.

        Raises:
            ValueError: bad array, bad hints, hints for a model without a hint input, bad
                vividness, a gray reference. ``ImageReadError`` for an unreadable path.
        """
        self.check_request(hints, vividness)
        references = _load_reference(reference)
        rgb = self._colorize_lightness(image_lightness(_as_pixels(image)), hints, vividness, references)
        if not isinstance(image, Image.Image):
            return rgb
        out = Image.fromarray(rgb)
        if "A" in image.getbands() or image.info.get("transparency") is not None:
            out.putalpha(image.convert("RGBA").getchannel("A"))
        return out

    def colorize_lightness(
        self,
        L: np.ndarray,
        hints: Sequence[Any] | None = None,
        vividness: float | None = None,
        reference: Any = None,
    ) -> np.ndarray:
        """Colorize an L* plane: (H, W) float L* in [0, 100] → (H, W, 3) uint8 sRGB of that L*.

        See :meth:`colorize` for ``hints``, ``vividness`` and ``reference``.
        """
        self.check_request(hints, vividness)
        return self._colorize_lightness(L, hints, vividness, _load_reference(reference))

    def _colorize_lightness(
        self,
        L: np.ndarray,
        hints: Sequence[Any] | None,
        vividness: float | None,
        reference: tuple[Reference, ...] | None = None,
    ) -> np.ndarray:
        L = np.asarray(L, dtype=np.float32)
        if L.ndim != 2 or L.shape[0] == 0 or L.shape[1] == 0:
            raise ValueError(f"expected an (H, W) L* plane, got shape {L.shape}")
        height, width = L.shape
        L_small = self.working_lightness(L)
        hint_map = None
        if hints:
            hint_map = rasterize_hints(parse_hints(hints, width, height), (height, width), L_small.shape, HINT_PATCH)
        # A model may ask for its authors' per-channel clipping of out-of-gamut colors (DDColor).
        ab = self.working_chroma(L_small, hint_map, vividness, reference)
        return combine_lab(L, ab, keep_lightness=self.spec.keep_lightness)

    def working_chroma(
        self,
        L_small: np.ndarray,
        hint_map: np.ndarray | None = None,
        vividness: float | None = None,
        reference: Any = None,
    ) -> np.ndarray:
        """:meth:`predict_ab` plus what every colorization does with it before the full-resolution
        recombination: hints spread along the lightness, a check for broken output. Video
        (``tinct.video``) filters this over time before calling :func:`combine_lab`.

        Args:
            L_small: (h, w) float32 L* at the working size (see :meth:`working_lightness`).
            hint_map: (1, 3, h, w) from ``hints.rasterize_hints`` or None.
            vividness: as accepted by :meth:`check_request`, which the caller has called (a video
                checks once, not once per frame).
            reference: from ``reference.load_references``: the best-matching one's colors replace
                the model's where they match, before the user's hints (which win where both speak).
                A film passes a ``tinct.video.temporal.ReferenceTrack`` (its ``match`` holds the
                matches still from frame to frame) instead.

        Returns:
            (2, h', w') float32 a*b* at the model's output resolution.
        """
        # Hint-less models get the hints by propagation only (DDColor).
        model_hints = hint_map if self.spec.hints else None
        ab = self._predict(L_small, model_hints, vividness)
        if reference is not None:
            match = reference.match(L_small) if hasattr(reference, "match") else match_best(reference, L_small)
            ab = apply_reference(ab, match)
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
