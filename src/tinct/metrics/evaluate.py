"""Compare colorizers on color photos: every model sees only a photo's L*, and is scored against
the photo itself. The ``gray`` baseline (the L* image, zero chroma) is always included.

    results = evaluate_models(paths, {"mine": Colorizer.from_pretrained("w.safetensors")})
    print(results.format_table())
    write_results(results, "runs/eval")   # per_image.csv, summary.csv, summary.md, grid.jpg
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from tinct.color.lab import lab_to_rgb, rgb_to_lab
from tinct.io.images import ImageReadError, atomic_open, read_image, write_image
from tinct.metrics.image import evaluate_pair

__all__ = [
    "GRAY",
    "METRICS",
    "EvalResults",
    "evaluate_models",
    "gray_version",
    "write_results",
]

#: Name of the zero-chroma baseline.
GRAY = "gray"
#: Per-image metric keys, as returned by ``evaluate_pair``.
METRICS = ("psnr", "ssim", "colorfulness", "colorfulness_truth", "ciede2000")
_HEADERS = {
    "psnr": "PSNR (dB)",
    "ssim": "SSIM",
    "colorfulness": "colorfulness",
    "colorfulness_truth": "truth colorfulness",
    "ciede2000": "CIEDE2000",
}
_FORMATS = {
    "psnr": ".2f",
    "ssim": ".4f",
    "colorfulness": ".1f",
    "colorfulness_truth": ".1f",
    "ciede2000": ".2f",
}
_BLOCK_PIXELS = 1 << 20
_LABEL_HEIGHT = 22


class SupportsColorize(Protocol):
    """What evaluation needs from a model: ``tinct.inference.Colorizer`` provides it."""

    def colorize(self, image: np.ndarray, vividness: float | None = None) -> np.ndarray: ...


def gray_version(rgb: np.ndarray) -> np.ndarray:
    """The photo with its chroma removed: (H, W, 3) uint8 sRGB → (H, W, 3) uint8 sRGB with the
    same L* (up to uint8 rounding) and a* = b* = 0. Processed in blocks of rows."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {rgb.dtype} {rgb.shape}")
    out = np.empty_like(rgb)
    step = max(1, _BLOCK_PIXELS // max(1, rgb.shape[1]))
    for y0 in range(0, rgb.shape[0], step):
        block = torch.from_numpy(rgb[y0 : y0 + step]).permute(2, 0, 1).float() / 255.0
        lab = rgb_to_lab(block)
        lab[1:] = 0
        gray = lab_to_rgb(lab).mul_(255).round_().to(torch.uint8)
        # Every channel of a neutral color is the same; use G so the result is exactly gray.
        out[y0 : y0 + step] = gray[1].numpy()[:, :, None]
    return out


@dataclasses.dataclass
class EvalResults:
    """Per-image scores of every model, the failures, and a side-by-side grid.

    Attributes:
        models: ``"gray"`` first, then the colorizers in the order given.
        rows: one dict per (image, model): ``image``, ``model`` and each of :data:`METRICS`
            (psnr in dB, ssim in [-1, 1] or NaN for images under 11 px, colorfulness in 0-255
            units, ciede2000 mean ΔE00).
        failed: one ``"path: reason"`` line per photo that could not be evaluated.
        grid: (H, W, 3) uint8 image, rows = photos, columns = truth | gray | models; ``None``
            when nothing was evaluated.
    """

    models: list[str]
    rows: list[dict] = dataclasses.field(default_factory=list)
    failed: list[str] = dataclasses.field(default_factory=list)
    grid: np.ndarray | None = None

    @property
    def num_images(self) -> int:
        return len({row["image"] for row in self.rows})

    def summary(self) -> list[dict]:
        """One dict per model: ``model``, ``images`` and the mean of each metric over the images
        (NaN values, i.e. SSIM of tiny images, are left out of the mean)."""
        table = []
        for model in self.models:
            rows = [r for r in self.rows if r["model"] == model]
            entry: dict = {"model": model, "images": len(rows)}
            for key in METRICS:
                values = [r[key] for r in rows if not math.isnan(r[key])]
                entry[key] = math.fsum(values) / len(values) if values else math.nan
            table.append(entry)
        return table

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        header = ["model", "images", *(_HEADERS[k] for k in METRICS)]
        body = [[e["model"], str(e["images"]), *(format(e[k], _FORMATS[k]) for k in METRICS)] for e in self.summary()]
        return header, body

    def format_table(self) -> str:
        """The summary as an aligned plain-text table (one row per model)."""
        header, body = self._cells()
        widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
        lines = []
        for row in [header, *body]:
            cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
            lines.append("  ".join(cells).rstrip())
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """The summary as a Markdown table (↑ higher is better, ↓ lower is better)."""
        header, body = self._cells()
        arrows = {"PSNR (dB)": " ↑", "SSIM": " ↑", "CIEDE2000": " ↓"}
        header = [h + arrows.get(h, "") for h in header]
        lines = [
            "| " + " | ".join(header) + " |",
            "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines) + "\n"


def _thumbnail(rgb: np.ndarray, height: int) -> Image.Image:
    h, w = rgb.shape[:2]
    scale = min(height / h, 2 * height / w)  # cap panoramas at twice the cell height in width
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return Image.fromarray(rgb).resize(size, Image.BICUBIC, reducing_gap=2.0)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _make_grid(rows: list[list[Image.Image]], labels: list[str], height: int) -> np.ndarray:
    cell_w = max(t.width for row in rows for t in row)
    columns = len(labels)
    canvas = Image.new("RGB", (columns * cell_w, _LABEL_HEIGHT + len(rows) * height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = _font(14)
    for c, label in enumerate(labels):
        draw.text((c * cell_w + 4, 3), label, fill=(0, 0, 0), font=font)
    for r, row in enumerate(rows):
        for c, thumb in enumerate(row):
            x = c * cell_w + (cell_w - thumb.width) // 2
            y = _LABEL_HEIGHT + r * height + (height - thumb.height) // 2
            canvas.paste(thumb, (x, y))
    return np.asarray(canvas)


def _one_line(name: str, err: BaseException) -> str:
    if isinstance(err, ImageReadError):
        return " ".join(str(err).split())
    reason = "out of memory" if isinstance(err, MemoryError) else f"{type(err).__name__}: {err}"
    return " ".join(f"{name}: {reason}".split())


def evaluate_models(
    images: Sequence[str | os.PathLike | np.ndarray],
    colorizers: Mapping[str, SupportsColorize],
    *,
    names: Sequence[str] | None = None,
    vividness: float | None = None,
    grid_rows: int = 6,
    thumb_height: int = 192,
    progress: bool = True,
    on_error: Callable[[str], None] | None = None,
) -> EvalResults:
    """Score colorizers against color photos.

    For each photo, its gray version (same L*, zero chroma, uint8 — what a user would feed in)
    is colorized by every model at full resolution, and each result, plus the gray image
    itself as the ``gray`` baseline, is compared with the photo by ``evaluate_pair``.

    Args:
        images: color photos: file paths or (H, W, 3) uint8 sRGB arrays.
        colorizers: display name → model (e.g. ``tinct.inference.Colorizer``); the name
            ``"gray"`` is reserved for the baseline.
        names: how each photo is named in the results (default: its path, or ``image<i>``).
        vividness: passed to every ``colorize`` call; ``None`` = each model's default.
        grid_rows: photos shown in the grid (the first that were evaluated).
        thumb_height: grid cell height in pixels.
        progress: tqdm bar on stderr (only when stderr is a terminal).
        on_error: called with one ``"path: reason"`` line per photo that fails (unreadable, or a
            model raised ValueError/MemoryError on it); default prints it to stderr. The photo
            is then left out for every model, so all means cover the same photos.

    Returns:
        :class:`EvalResults`.
    """
    if GRAY in colorizers:
        raise ValueError(f"the model name {GRAY!r} is reserved for the zero-chroma baseline")
    if names is not None and len(names) != len(images):
        raise ValueError(f"got {len(names)} names for {len(images)} images")
    if on_error is None:

        def on_error(line: str) -> None:
            tqdm.write(line, file=sys.stderr)

    results = EvalResults(models=[GRAY, *colorizers])
    thumbs: list[list[Image.Image]] = []
    bar = tqdm(range(len(images)), desc="eval", unit="image", disable=None if progress else True, file=sys.stderr)
    for i in bar:
        image = images[i]
        if names is not None:
            name = names[i]
        else:
            name = os.fspath(image) if isinstance(image, (str, os.PathLike)) else f"image{i}"
        try:
            truth = read_image(image) if isinstance(image, (str, os.PathLike)) else np.asarray(image)
            if truth.dtype != np.uint8 or truth.ndim != 3 or truth.shape[2] != 3:
                raise ValueError(f"expected an (H, W, 3) uint8 image, got {truth.dtype} {truth.shape}")
            gray = gray_version(truth)
            outputs = {GRAY: gray}
            for model, colorizer in colorizers.items():
                out = colorizer.colorize(gray, vividness=vividness)
                if out.shape != truth.shape:
                    raise ValueError(f"model {model!r} returned shape {out.shape} for a {truth.shape} image")
                outputs[model] = out
            scores = {model: evaluate_pair(out, truth) for model, out in outputs.items()}
        except (ImageReadError, ValueError, MemoryError) as err:
            line = _one_line(name, err)
            results.failed.append(line)
            on_error(line)
            continue
        for model in results.models:
            results.rows.append({"image": name, "model": model, **scores[model]})
        if len(thumbs) < grid_rows:
            thumbs.append([_thumbnail(a, thumb_height) for a in (truth, *outputs.values())])
        del truth, gray, outputs
    bar.close()
    if thumbs:
        results.grid = _make_grid(thumbs, ["truth", *results.models], thumb_height)
    return results


def _csv_text(header: Sequence[str], rows: Sequence[Mapping]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(header), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()


def write_results(results: EvalResults, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``per_image.csv``, ``summary.csv``, ``summary.md`` and ``grid.jpg`` (if any photo was
    evaluated) into ``out_dir`` (created), each atomically. Returns name → path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    texts = {
        "per_image.csv": _csv_text(["image", "model", *METRICS], results.rows),
        "summary.csv": _csv_text(["model", "images", *METRICS], results.summary()),
        "summary.md": results.to_markdown(),
    }
    written = {}
    for name, text in texts.items():
        with atomic_open(out / name, "w", newline="") as f:
            f.write(text)
        written[name] = out / name
    if results.grid is not None:
        written["grid.jpg"] = write_image(out / "grid.jpg", results.grid, quality=90)
    return written
