"""The predictor object every front end calls: image in, colorized image of the same size out.

Pipeline (see DESIGN.md): L* of the full-resolution image → a small copy of L* at the model's
working size → model → a*b* at the model's output resolution → a*b* upsampled bilinearly to full
resolution → combined with the ORIGINAL full-resolution L* → sRGB uint8. Only chroma is predicted:
the output has the input's exact width, height and (up to uint8 rounding) lightness.

Memory: besides the input and output uint8 arrays, only one full-resolution float32 plane (L*)
is kept; everything else at full resolution is done in blocks of rows.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from tinct.color import lab as _lab
from tinct.color.lab import lab_to_rgb, rgb_to_lab, srgb_to_linear
from tinct.inference.hints import hints_to_tensor, parse_hints
from tinct.io.images import read_image
from tinct.models import list_models
from tinct.models.base import ColorizationModel, check_vividness
from tinct.models.loading import load_model

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

#: Full-resolution work is done in blocks of about this many pixels (~12 MB per float32 plane).
_BLOCK_PIXELS = 1 << 20
#: A color counts as in gamut when its Lab → sRGB → Lab round trip moves it by at most this
#: (L*, a*, b* units); float32 round trips of in-gamut colors move by ~1e-3.
_GAMUT_TOLERANCE = 0.1
#: Bisection steps when pulling an out-of-gamut color's chroma in (chroma resolution 2^-8).
_GAMUT_STEPS = 8
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


def _looks_like_path(text: str) -> bool:
    return text.endswith(".safetensors") or os.sep in text or "/" in text or os.path.exists(text)


def resolve_weights(name_or_path: str | os.PathLike | None = None) -> Path:
    """The weights file meant by a user's ``--model`` value.

    * ``None`` or ``"default"`` → the bundled ``weights/default.safetensors``;
    * a path (ends in ``.safetensors``, contains a folder separator, or exists) → that file;
    * a bundled weights name or a registered architecture name → ``weights/<name>.safetensors``.

    Raises:
        FileNotFoundError: the file does not exist, or no weights are bundled for the name.
        ValueError: the name is neither a path, a bundled weights name nor an architecture.
    """
    text = DEFAULT_NAME if name_or_path is None else os.fspath(name_or_path)
    if isinstance(name_or_path, os.PathLike) or _looks_like_path(text):
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


def _pick_device(device: str | torch.device | None) -> torch.device:
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        picked = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}") from None
    if picked.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: no CUDA device is available")
    mps = getattr(torch.backends, "mps", None)
    if picked.type == "mps" and not (mps is not None and mps.is_available()):
        raise ValueError(f"device {device!r}: MPS is not available")
    return picked


# --------------------------------------------------------------------------------------------
# Full-resolution color math, block by block


def _block_rows(width: int) -> int:
    return max(1, _BLOCK_PIXELS // max(1, width))


def _lightness_from_linear_y(y: torch.Tensor) -> torch.Tensor:
    # Same formula and constants as tinct.color.lab.rgb_to_lab (white Y = 1), L* only.
    y = y / _lab._WHITE_D65[1]
    f = torch.where(y > _lab._EPSILON, y.clamp(min=_lab._EPSILON) ** (1 / 3), _lab._KAPPA * y + 16 / 116)
    return 116 * f - 16


def image_lightness(rgb: np.ndarray) -> np.ndarray:
    """CIE L* of an sRGB image, without computing a* and b*.

    Args:
        rgb: (H, W, 3) uint8 sRGB.

    Returns:
        (H, W) float32 L* in [0, 100], equal to ``rgb_to_lab(rgb / 255)[0]`` to float32 precision.
    """
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {rgb.dtype} {rgb.shape}")
    height, width = rgb.shape[:2]
    # uint8 has 256 levels: linearise through a table, then Y is one weighted sum per pixel.
    table = srgb_to_linear(torch.arange(256, dtype=torch.float32) / 255.0)
    weights = torch.tensor(_lab._XYZ_FROM_RGB[1], dtype=torch.float32)
    lut = (table[:, None] * weights).numpy()  # (256, 3): each channel's contribution to Y
    out = np.empty((height, width), dtype=np.float32)
    step = _block_rows(width)
    for y0 in range(0, height, step):
        block = rgb[y0 : y0 + step]
        y = lut[block[..., 0], 0] + lut[block[..., 1], 1] + lut[block[..., 2], 2]
        out[y0 : y0 + step] = _lightness_from_linear_y(torch.from_numpy(y)).numpy()
    return out


def _lab_to_rgb_in_gamut(lab: torch.Tensor) -> torch.Tensor:
    """(3, h, w) L*a*b* → (3, h, w) sRGB in [0, 1], keeping L* and hue.

    ``lab_to_rgb`` clips out-of-gamut colors per channel, which changes their lightness (a vivid
    yellow prediction on a near-white pixel would come out darker). Here the chroma of such
    colors is scaled down (bisection on the a*b* scale) until they fit, so L* is preserved.
    """
    rgb = lab_to_rgb(lab)
    # lab_to_rgb only clips by clamping a channel to exactly 0 or 1, or z at 0 (b* > 200·f(Y));
    # the (rare) pixels flagged this way are then checked by an exact round trip.
    suspect = ((rgb <= 0) | (rgb >= 1)).any(dim=0) | (lab[2] > 200 * (lab[0] + 16) / 116)
    if not bool(suspect.any()):
        return rgb
    moved = (rgb_to_lab(rgb[:, suspect][:, None]) - lab[:, suspect][:, None]).abs().amax(dim=0)[0]
    bad = suspect.clone()
    bad[suspect] = moved > _GAMUT_TOLERANCE
    if not bool(bad.any()):
        return rgb
    L, ab = lab[0][bad], lab[1:, bad]  # (K,), (2, K)
    lo = torch.zeros_like(L)
    hi = torch.ones_like(L)
    for _ in range(_GAMUT_STEPS):
        mid = (lo + hi) / 2
        trial = torch.cat((L[None], ab * mid), dim=0)[:, None]  # (3, 1, K)
        ok = (rgb_to_lab(lab_to_rgb(trial)) - trial).abs().amax(dim=0)[0] <= _GAMUT_TOLERANCE
        lo = torch.where(ok, mid, lo)
        hi = torch.where(ok, hi, mid)
    rgb[:, bad] = lab_to_rgb(torch.cat((L[None], ab * lo), dim=0)[:, None])[:, 0]
    return rgb


def combine_lab(L: np.ndarray | torch.Tensor, ab: torch.Tensor | None) -> np.ndarray:
    """Full-resolution L* plus low-resolution a*b* → sRGB image.

    Args:
        L: (H, W) L* in [0, 100] at full resolution.
        ab: (2, h, w) a*b* in a*b* units at any resolution (upsampled bilinearly, as
            ``F.interpolate(..., mode="bilinear", align_corners=False)`` would, to (H, W));
            ``None`` for zero chroma (the gray image).

    Returns:
        (H, W, 3) uint8 sRGB. Out-of-gamut colors lose chroma, not lightness.
    """
    L = torch.as_tensor(L, dtype=torch.float32)
    height, width = L.shape
    out = np.empty((height, width, 3), dtype=np.uint8)
    if ab is not None:
        ab = ab.detach().to("cpu", torch.float32)
        h = ab.shape[-2]
        # Separable bilinear: the width pass once on the few low-resolution rows, the height
        # pass per block, so no full-resolution a*b* planes are ever allocated.
        ab_rows = F.interpolate(ab[None], size=(h, width), mode="bilinear", align_corners=False)[0]
    step = _block_rows(width)
    for y0 in range(0, height, step):
        y1 = min(height, y0 + step)
        Lb = L[y0:y1]
        if ab is None:
            chroma = torch.zeros(2, y1 - y0, width)
        else:
            src = ((torch.arange(y0, y1, dtype=torch.float64) + 0.5) * (h / height) - 0.5).clamp(min=0)
            i0 = src.floor().long().clamp(max=h - 1)
            i1 = (i0 + 1).clamp(max=h - 1)
            frac = (src - i0).to(torch.float32)[None, :, None]
            chroma = ab_rows[:, i0] * (1 - frac) + ab_rows[:, i1] * frac
        rgb = _lab_to_rgb_in_gamut(torch.cat((Lb[None], chroma), dim=0))
        out[y0:y1] = rgb.mul_(255).round_().to(torch.uint8).permute(1, 2, 0).numpy()
    return out


def _as_rgb_array(image: Any) -> np.ndarray:
    if isinstance(image, (str, os.PathLike)):
        return read_image(image)
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image (0..255), got dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"expected an (H, W, 3) RGB or (H, W) gray image, got shape {arr.shape}")
    return arr


# --------------------------------------------------------------------------------------------
# The predictor


class Colorizer:
    """Colorize images of any size with one model.

    Args:
        model: a ``ColorizationModel`` (put in eval mode here).
        size: working resolution: the longer side of the small L* copy the model sees, in pixels,
            rounded to ``model.size_multiple`` (default ``model.default_size``). Ignored by
            models with a ``fixed_size`` (the ``seed`` model always runs at 128×128).
        device: where the model runs (``"cpu"``, ``"cuda"``, ...); default: where it already is.
            Full-resolution pre/post-processing always runs on the CPU.
        vividness: default saturation knob in [0, 1] (see ``tinct.models.base``); default: the
            model's own ``config.default_vividness``.

    Example::

        colorizer = Colorizer.from_pretrained()           # bundled default weights
        rgb = colorizer.colorize("old_photo.jpg")         # (H, W, 3) uint8, same H, W as the file
    """

    def __init__(
        self,
        model: ColorizationModel,
        size: int | None = None,
        device: str | torch.device | None = None,
        vividness: float | None = None,
    ) -> None:
        if size is not None and (isinstance(size, bool) or int(size) != size or size < 1):
            raise ValueError(f"size must be a positive number of pixels, got {size!r}")
        if vividness is not None:
            check_vividness(vividness)
        if device is not None:
            model = model.to(_pick_device(device))
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
        #: Where the weights came from (set by ``from_pretrained``) and the file's metadata.
        self.source: Path | None = None
        self.metadata: dict[str, Any] = {}

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        size: int | None = None,
        vividness: float | None = None,
    ) -> Colorizer:
        """Load weights shipped with tinct or from a file (see :func:`resolve_weights`).

        Args:
            name_or_path: ``None``/``"default"``, a bundled name or architecture, or a
                ``.safetensors`` path. Nothing is ever downloaded.
            device: ``None``/``"auto"`` picks CUDA, then MPS, then CPU.

        Raises:
            FileNotFoundError: no such file / nothing bundled under that name.
            ValueError: unknown name.
            tinct.io.weights.WeightsError: the file is not a usable tinct weights file.
        """
        path = resolve_weights(name_or_path)
        device = _pick_device(device)
        model, meta = load_model(path, map_location=device)
        colorizer = cls(model, size=size, vividness=vividness)
        colorizer.source = path
        colorizer.metadata = meta
        return colorizer

    def __repr__(self) -> str:
        source = f", source={str(self.source)!r}" if self.source else ""
        name = self.model.config.name
        return f"Colorizer(model={name!r}, size={self.size}, device={str(self.device)!r}{source})"

    @property
    def device(self) -> torch.device:
        param = next(self.model.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    @property
    def accepts_hints(self) -> bool:
        return bool(self.model.config.hints)

    def working_size(self, height: int, width: int) -> tuple[int, int]:
        """``(h, w)`` in pixels at which the model sees an ``height`` × ``width`` image.

        Fixed-size models get their size (the image is squashed). Others keep the aspect ratio
        as well as ``model.size_multiple`` allows: the longer side becomes ``size`` and each side
        is rounded to the nearest multiple (at least one multiple).
        """
        model = self.model
        if model.fixed_size is not None:
            return model.fixed_size, model.fixed_size
        m = model.size_multiple
        side = self.size or model.default_size
        longest = max(m, round(side / m) * m)
        shorter = max(m, round(longest * min(height, width) / max(height, width) / m) * m)
        return (longest, shorter) if height >= width else (shorter, longest)

    def predict_ab(
        self,
        L_small: np.ndarray | torch.Tensor,
        hints: torch.Tensor | None = None,
        vividness: float | None = None,
    ) -> torch.Tensor:
        """Run the model on an L* image already at the working size.

        Args:
            L_small: (h, w) L* in [0, 100], (h, w) valid for the model (see :meth:`working_size`).
            hints: (1, 3, h, w) hint tensor (see ``hints.hints_to_tensor``) or None.

        Returns:
            (2, h', w') a*b* in a*b* units on the CPU, at the model's output resolution
            (h' = h / output_stride).
        """
        vividness = self.vividness if vividness is None else vividness
        if vividness is not None:
            check_vividness(vividness)
        param = next(self.model.parameters(), None)
        dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
        device = self.device
        x = torch.as_tensor(L_small, dtype=dtype).to(device)[None, None]
        if self.accepts_hints and hints is None:
            # Hint models were trained with an all-zero hint tensor for "no hints", not without it.
            hints = torch.zeros(1, 3, *x.shape[-2:])
        if hints is not None:
            hints = hints.to(device=device, dtype=dtype)
        with torch.inference_mode():
            ab = self.model.decode(self.model(x, hints), vividness)
        return ab[0].to("cpu", torch.float32)

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
        rgb = _as_rgb_array(image)
        return self.colorize_lightness(image_lightness(rgb), hints=hints, vividness=vividness)

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
        h, w = self.working_size(height, width)
        hint_tensor = None
        if hints:
            hint_tensor = hints_to_tensor(parse_hints(hints, width, height), (height, width), (h, w), HINT_PATCH)
        # Bicubic with PIL's reducing_gap, as the training crops are made (tinct.data.dataset).
        small = Image.fromarray(np.ascontiguousarray(L)).resize((w, h), Image.BICUBIC, reducing_gap=2.0)
        L_small = np.clip(np.asarray(small, dtype=np.float32), 0.0, 100.0)
        ab = self.predict_ab(L_small, hint_tensor, vividness)
        if not torch.isfinite(ab).all():
            raise ValueError("the model produced non-finite a*b* values (broken weights?)")
        return combine_lab(L, ab)
