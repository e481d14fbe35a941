"""Compare colorizers on color photos: every model sees only a photo's L*, and is scored against
the photo itself. The ``gray`` baseline (the L* image, zero chroma) is always included.

    results = evaluate_models(paths, {"mine": Colorizer.load("w.safetensors")})
    print(results.format_table())
    write_results(results, "runs/eval")   # per_image.csv, summary.csv, summary.md, grid.jpg

With ``hint_counts=[0, 1, 5, ...]`` every model that takes hints is also scored with N color hints
per photo, sampled from the photo itself by :func:`sample_hints` (table rows "model @N hints", a
``hints`` column in the CSVs, and ``psnr_vs_hints.png``).
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import io
import math
import os
import sys
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Protocol

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from tinct.color.fast import lab_to_rgb, rgb_to_lab  # float32 CPU blocks, no gradient
from tinct.io.images import ImageReadError, atomic_open, read_image, write_image
from tinct.metrics.image import evaluate_pair

__all__ = [
    "GRAY",
    "METRICS",
    "EvalResults",
    "evaluate_models",
    "gray_version",
    "model_labels",
    "pair_weights",
    "parse_hint_counts",
    "sample_hints",
    "write_results",
]

#: Name of the zero-chroma baseline.
GRAY = "gray"
#: Per-image metric keys, as returned by ``evaluate_pair``.
METRICS = ("psnr", "ssim", "colorfulness", "colorfulness_truth", "ciede2000", "cast_a", "cast_b")
_HEADERS = {
    "psnr": "PSNR (dB)",
    "ssim": "SSIM",
    "colorfulness": "colorfulness",
    "colorfulness_truth": "truth colorfulness",
    "ciede2000": "CIEDE2000",
    "cast_a": "cast a*",
    "cast_b": "cast b*",
}
_FORMATS = {
    "psnr": ".2f",
    "ssim": ".4f",
    "colorfulness": ".1f",
    "colorfulness_truth": ".1f",
    "ciede2000": ".2f",
    "cast_a": "+.2f",
    "cast_b": "+.2f",
}
_BLOCK_PIXELS = 1 << 20
_LABEL_HEIGHT = 22
#: Hint positions are drawn in blocks of this many, so a photo's first N hints never depend on how
#: many are asked for (the hints of a smaller N are a prefix of those of a larger one).
_HINT_DRAW_BLOCK = 64


class SupportsColorize(Protocol):
    """What evaluation needs from a model: ``tinct.inference.Colorizer`` provides it. Evaluating
    with hints also uses ``accepts_hints`` (absent = False) and ``colorize(..., hints=...)``."""

    def colorize(self, image: np.ndarray, vividness: float | None = None) -> np.ndarray: ...


def sample_hints(
    rgb: np.ndarray, count: int, seed: int | Sequence[int] = 0, patch: int = 3
) -> list[tuple[float, float, tuple[int, int, int]]]:
    """Simulated user hints taken from a color photo's ground truth.

    Positions are uniform over the image's pixels, without repeats; each hint's color is the mean
    sRGB color of the ``patch`` × ``patch`` pixels around it (clipped at the borders), rounded.
    Deterministic for a given ``seed`` and nested: the first k hints of ``count = m`` are the hints
    of ``count = k``.

    Args:
        rgb: (H, W, 3) uint8 sRGB photo.
        count: number of hints (capped at H·W).
        seed: an int or a sequence of ints (e.g. ``(base_seed, hash_of_name)``) for numpy's RNG.
        patch: side of the averaged square, in pixels of ``rgb`` (odd).

    Returns:
        ``[(x, y, (r, g, b)), ...]``: column x and row y in pixels, as ``Colorizer.colorize`` takes.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {rgb.dtype} {rgb.shape}")
    if isinstance(count, bool) or int(count) != count or count < 0:
        raise ValueError(f"hint count must be a non-negative integer, got {count!r}")
    if patch < 1 or patch % 2 == 0:
        raise ValueError(f"patch must be a positive odd number of pixels, got {patch}")
    height, width = rgb.shape[:2]
    count = min(int(count), height * width)
    rng = np.random.default_rng(seed)
    seen: set[int] = set()
    order: list[int] = []
    while len(order) < count:
        for index in rng.integers(0, height * width, size=_HINT_DRAW_BLOCK).tolist():
            if index not in seen:
                seen.add(index)
                order.append(index)
                if len(order) == count:
                    break
    half = patch // 2
    hints = []
    for index in order:
        y, x = divmod(index, width)
        block = rgb[max(0, y - half) : y + half + 1, max(0, x - half) : x + half + 1].reshape(-1, 3)
        r, g, b = (int(v) for v in np.floor(block.mean(axis=0, dtype=np.float64) + 0.5))
        hints.append((float(x), float(y), (r, g, b)))
    return hints


def _photo_seed(name: str, seed: int) -> tuple[int, int]:
    """Per-photo RNG seed: the base seed and a stable hash of the photo's name (not Python's
    salted ``hash``), so a photo gets the same hints whatever else is evaluated with it."""
    return (int(seed), zlib.crc32(name.encode("utf-8", "surrogateescape")))


def _label(model: str, hints: int | None) -> str:
    return model if hints is None else f"{model} @{hints} hints"


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
            units, ciede2000 mean ΔE00). With hints, also ``hints`` (N, or None for gray), one
            row per (image, model, N).
        failed: one ``"path: reason"`` line per photo that could not be evaluated.
        grid: (H, W, 3) uint8 image, rows = photos, columns = truth | gray | models; ``None``
            when nothing was evaluated.
        hint_counts: the hint counts N evaluated (sorted), or None when evaluated without hints.
        entries: ``(model, N)`` per table row in order (N None: no hints asked for, or gray);
            default one per model.
        notes: remarks for the user, e.g. a model that takes no hints was scored at N = 0 only.
    """

    models: list[str]
    rows: list[dict] = dataclasses.field(default_factory=list)
    failed: list[str] = dataclasses.field(default_factory=list)
    grid: np.ndarray | None = None
    hint_counts: list[int] | None = None
    entries: list[tuple[str, int | None]] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.entries:
            self.entries = [(model, None) for model in self.models]

    @property
    def num_images(self) -> int:
        return len({row["image"] for row in self.rows})

    def summary(self) -> list[dict]:
        """One dict per model (per model and hint count N, with hints): ``model``, (``hints``,)
        ``images`` and the mean of each metric over the images (NaN values, i.e. SSIM of tiny
        images, are left out of the mean)."""
        table = []
        for model, hints in self.entries:
            rows = [r for r in self.rows if r["model"] == model and r.get("hints") == hints]
            entry: dict = {"model": model}
            if self.hint_counts is not None:
                entry["hints"] = hints
            entry["images"] = len(rows)
            for key in METRICS:
                values = [r[key] for r in rows if not math.isnan(r[key])]
                entry[key] = math.fsum(values) / len(values) if values else math.nan
            table.append(entry)
        return table

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        header = ["model", "images", *(_HEADERS[k] for k in METRICS)]
        body = [
            [_label(e["model"], e.get("hints")), str(e["images"]), *(format(e[k], _FORMATS[k]) for k in METRICS)]
            for e in self.summary()
        ]
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


def model_labels(specs: Sequence[str]) -> list[str]:
    """Short unique labels of ``tinct eval --model`` values: a weights file by its stem, with as
    many parent folders as tell it apart (runs/a/checkpoints/best.safetensors and
    runs/b/checkpoints/best.safetensors read ``a/checkpoints/best`` and ``b/checkpoints/best``);
    the same file twice, or one named gray (the baseline's name), gets `` (i)``, i counted from 1."""

    def parts(spec: str) -> tuple[str, ...]:
        if not spec.endswith((".safetensors", ".pth", ".pt")):  # weights files: named by their stem
            return (spec,)
        path = PurePath(spec).with_suffix("")
        return tuple(p for p in path.parts if p != path.anchor) or (path.name,)

    split = [parts(s) for s in specs]
    names: list[str] = []
    for i, p in enumerate(split):
        name = p[-1]
        for k in range(1, len(p) + 1):
            if sum(1 for q in split if q[-k:] == p[-k:]) == 1:
                name = "/".join(p[-k:])
                break
        if name == GRAY or name in names:
            name = f"{name} ({i + 1})"
        names.append(name)
    return names


def pair_weights(models: Sequence[str], weights: Sequence[str]) -> list[str | None]:
    """The weights file of each ``--model`` value: the k-th of ``weights`` goes with the k-th model
    that names an architecture (``tinct models``), the others get None.

    Raises:
        ValueError: not one file per model that names an architecture.
    """
    if not weights:
        return [None] * len(models)
    from tinct.models import list_models

    archs = [i for i, spec in enumerate(models) if spec in list_models()]
    if len(archs) != len(weights):
        raise ValueError(
            f"--weights: got {len(weights)} file(s) for {len(archs)} --model value(s) naming an architecture "
            f"({', '.join(list_models())}); give one --weights per such --model, in order"
        )
    paired: list[str | None] = [None] * len(models)
    for i, file in zip(archs, weights, strict=True):
        paired[i] = file
    return paired


def parse_hint_counts(text: str) -> list[int]:
    """``"0,1,2,5"`` → ``[0, 1, 2, 5]``, the ``hint_counts`` of :func:`evaluate_models`.

    Raises:
        ValueError: not integers ≥ 0 separated by commas.
    """
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 0:
        raise ValueError(f"--hints: expected hint counts >= 0 separated by commas, e.g. 0,1,2,5, got {text!r}")
    return counts


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
    hint_counts: Sequence[int] | None = None,
    hint_seed: int = 0,
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
        hint_counts: also score each model that takes hints (``accepts_hints``) with N hints per
            photo for each N given, e.g. ``[0, 1, 2, 5]``: the first N of the photo's
            :func:`sample_hints` (seeded by ``hint_seed`` and the photo's name, so the same photo
            gets the same hints in every run and the hints of N = 2 are among those of N = 5).
            Models that take no hints are scored at N = 0 only (a note says so); the gray
            baseline is unchanged. ``None``: no hints, the plain table.
        hint_seed: base seed of the hint sampling.

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
    takes_hints = {model: bool(getattr(c, "accepts_hints", False)) for model, c in colorizers.items()}
    most_hints = 0
    if hint_counts is not None:
        if not hint_counts or any(isinstance(n, bool) or int(n) != n or n < 0 for n in hint_counts):
            raise ValueError(f"hint counts must be non-negative integers, got {list(hint_counts)}")
        counts = sorted({int(n) for n in hint_counts})
        results.hint_counts = counts
        results.entries = [(GRAY, None)]
        for model in colorizers:
            if takes_hints[model]:
                results.entries += [(model, n) for n in counts]
                most_hints = counts[-1]
            else:
                results.entries.append((model, 0))
                results.notes.append(f"{model} takes no hints: evaluated at 0 hints only")
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
            hints = sample_hints(truth, most_hints, _photo_seed(name, hint_seed)) if most_hints else []
            outputs = {(GRAY, None): gray}
            for model, n in results.entries[1:]:
                colorizer = colorizers[model]
                if n:
                    out = colorizer.colorize(gray, hints=hints[:n], vividness=vividness)
                else:
                    out = colorizer.colorize(gray, vividness=vividness)
                if out.shape != truth.shape:
                    raise ValueError(f"model {model!r} returned shape {out.shape} for a {truth.shape} image")
                outputs[(model, n)] = out
            scores = {entry: evaluate_pair(out, truth) for entry, out in outputs.items()}
        except (ImageReadError, ValueError, MemoryError) as err:
            line = _one_line(name, err)
            results.failed.append(line)
            on_error(line)
            continue
        for model, n in results.entries:
            row = {"image": name, "model": model}
            if results.hint_counts is not None:
                row["hints"] = n
            results.rows.append({**row, **scores[(model, n)]})
        if len(thumbs) < grid_rows:
            thumbs.append([_thumbnail(a, thumb_height) for a in (truth, *outputs.values())])
        del truth, gray, outputs
    bar.close()
    if thumbs:
        results.grid = _make_grid(thumbs, ["truth", *(_label(m, n) for m, n in results.entries)], thumb_height)
    return results


def _csv_text(header: Sequence[str], rows: Sequence[Mapping]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(header), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()


def _plot_psnr_vs_hints(results: EvalResults) -> bytes:
    """PNG: mean PSNR against the number of hints, one line per model (models without hints and
    the gray baseline as horizontal lines). The x axis is linear up to 1 hint, logarithmic above."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = results.hint_counts or [0]
    by_model: dict[str, list[tuple[int, float]]] = {}
    for entry in results.summary():
        if entry["images"]:
            by_model.setdefault(entry["model"], []).append((entry.get("hints") or 0, entry["psnr"]))
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colors = (f"C{i % 10}" for i in range(len(by_model)))
    for model, points in by_model.items():
        if model == GRAY:
            ax.axhline(points[0][1], color="gray", linestyle=":", label="gray (no color)")
        elif len(points) == 1 and len(counts) > 1:
            ax.axhline(points[0][1], color=next(colors), linestyle="--", linewidth=1, label=f"{model} (takes no hints)")
        else:
            ax.plot(*zip(*points, strict=True), color=next(colors), marker="o", label=model)
    ax.set_xscale("symlog", linthresh=1, linscale=0.5)
    ax.set_xticks(counts)
    ax.set_xticklabels([str(n) for n in counts])
    ax.set_xlim(counts[0] - 0.2 if counts[0] == 0 else counts[0] * 0.8, counts[-1] * 1.25 + 0.2)
    ax.set_xlabel("color hints per photo")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(f"PSNR against hints ({results.num_images} photos)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def write_results(results: EvalResults, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``per_image.csv``, ``summary.csv``, ``summary.md`` and ``grid.jpg`` (if any photo was
    evaluated) into ``out_dir`` (created), each atomically. Returns name → path.

    Evaluated with hints, both CSVs get a ``hints`` column (N, empty for gray) after ``model``, and
    ``psnr_vs_hints.png`` plots mean PSNR against N (when any photo was evaluated)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    key = ["model", "hints"] if results.hint_counts is not None else ["model"]
    texts = {
        "per_image.csv": _csv_text(["image", *key, *METRICS], results.rows),
        "summary.csv": _csv_text([*key, "images", *METRICS], results.summary()),
        "summary.md": results.to_markdown(),
    }
    written = {}
    for name, text in texts.items():
        with atomic_open(out / name, "w", newline="") as f:
            f.write(text)
        written[name] = out / name
    if results.grid is not None:
        written["grid.jpg"] = write_image(out / "grid.jpg", results.grid, quality=90)
    if results.hint_counts is not None and results.rows:
        if importlib.util.find_spec("matplotlib") is None:  # the `eval` extra; the tables are written anyway
            warnings.warn("psnr_vs_hints.png not drawn: it needs matplotlib (pip install 'tinct[eval]')", stacklevel=2)
            return written
        with atomic_open(out / "psnr_vs_hints.png", "wb") as f:
            f.write(_plot_psnr_vs_hints(results))
        written["psnr_vs_hints.png"] = out / "psnr_vs_hints.png"
    return written
