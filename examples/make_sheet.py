"""Build a before/after sheet: one row per photo, the gray input beside its colorized output.

Usage: python examples/make_sheet.py INPUT_DIR OUTPUT_DIR SHEET.jpg
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from tinct.io.images import ImageReadError, list_images, read_image, write_image

ROW_HEIGHT = 320  # pixels per row in the sheet


def _thumb(rgb: np.ndarray) -> Image.Image:
    image = Image.fromarray(rgb)
    return image.resize((round(image.width * ROW_HEIGHT / image.height), ROW_HEIGHT), Image.LANCZOS)


def main(inputs: Path, outputs: Path, sheet: Path) -> int:
    rows = []
    for source in list_images(inputs):
        result = outputs / source.relative_to(inputs)
        try:
            rows.append((_thumb(read_image(source)), _thumb(read_image(result))))
        except ImageReadError as err:
            print(f"skipping {source.name}: {err}", file=sys.stderr)
    if not rows:
        print(f"no colorized photos found in {outputs}", file=sys.stderr)
        return 1
    width = max(a.width + b.width for a, b in rows) + 8
    canvas = Image.new("RGB", (width, len(rows) * (ROW_HEIGHT + 8)), "white")
    for i, (before, after) in enumerate(rows):
        y = i * (ROW_HEIGHT + 8)
        canvas.paste(before, (0, y))
        canvas.paste(after, (before.width + 8, y))
    write_image(sheet, np.asarray(canvas))
    print(f"wrote {sheet}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
