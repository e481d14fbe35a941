"""Issue 3's speed check: colorizing a 12-megapixel photo with the default model (256 px working
size, EfficientNet-Lite0 U-Net) against the `seed` model (every convolution at 128×128), the
whole pipeline from JPEG file to JPEG file, median of several runs after a warm-up.

    python benchmarks/default_vs_seed.py [--reps 3] [--threads N] [--out docs/results/default_vs_seed.md]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tinct.inference import Colorizer
from tinct.io.images import read_image, write_image
from tinct.io.tables import write_table

VAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos" / "val"


def make_photo(path: Path, width: int = 4000, height: int = 3000) -> None:
    """A 12 MP gray JPEG: a real photo upscaled, with grain so JPEG cannot cheat on flat areas."""
    source = sorted(VAL.glob("*.jpg"))[0] if VAL.is_dir() else None
    if source is not None:
        image = Image.open(source).convert("L").resize((width, height), Image.BICUBIC)
        gray = np.asarray(image, dtype=np.float32)
    else:
        y, x = np.mgrid[0:height, 0:width]
        gray = 128 + 60 * np.sin(x / 150) * np.cos(y / 110)
    gray = gray + np.random.default_rng(0).normal(0, 4, gray.shape)
    Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).save(path, quality=95)


def time_colorize(colorizer: Colorizer, src: Path, dst: Path, reps: int) -> float:
    def once() -> float:
        start = time.perf_counter()
        write_image(dst, colorizer.colorize(read_image(src)))
        return time.perf_counter() - start

    once()  # warm-up
    return statistics.median(once() for _ in range(reps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", metavar="MD", help="also write the table to, e.g., docs/results/default_vs_seed.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photo-12mp.jpg"
        make_photo(src)
        rows = []
        for name in ("default", "seed"):
            colorizer = Colorizer.load(name, backend="torch", device="cpu")
            h, w = colorizer.working_shape(3000, 4000)
            seconds = time_colorize(colorizer, src, Path(tmp) / f"out-{name}.jpg", args.reps)
            rows.append((name, f"{w}x{h}", seconds))
    lines = [
        f"12 MP (4000x3000) JPEG in -> JPEG out, torch threads {args.threads}, median of {args.reps}",
        "| model | model input | seconds |",
        "|---|---|---:|",
        *(f"| {name} | {size} | {seconds:.2f} |" for name, size, seconds in rows),
    ]
    print("\n".join(lines))
    if args.out:
        write_table(args.out, "\n".join(lines))


if __name__ == "__main__":
    main()
