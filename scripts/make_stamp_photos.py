"""Build extra training photos from Debian's tuxpaint-stamps-default: object photos on plain backgrounds.

Why: the shipped model's worst val photos are studio shots of objects on white or gray backgrounds
(a measuring tape, a chair, a multimeter), where it paints a faint sky or a warm blotch into the
empty background. The training set has few such shots. Tux Paint's stamps include a few hundred
real photographs of animals, food, tools and plants, cut out with an alpha channel (GPL-2, see
the package's copyright file). Placed on a plain neutral background with a soft shadow, each
becomes a studio-style product photo whose background is known to be exactly neutral.

Result (configs/stamps-l1.toml, stamps-l2.toml; docs/results/val-stamps): fine-tuning the default
on train + these photos made val worse (23.88 / 23.52 dB vs 24.38 dB at vividness 0.5), and worse
precisely on the plain-background photos (measuring tape: -17.4 dB vs -12.9 dB from gray). The
colorful cut-out objects seem to teach "an object on a plain backdrop is colorful" more than
"the backdrop is neutral". Kept to reproduce that finding.

Drawings are left out: whole folders of cartoons, letters and symbols, then any stamp whose
opaque pixels are flat fills (more than ``MAX_FLAT`` of them equal both their right and lower
neighbours) or use few colors (fewer than ``MIN_COLORS`` distinct 6-bit colors per pixel).

Reproduce (needs only the Debian archive):

    apt-get download tuxpaint-stamps-default
    dpkg-deb -x tuxpaint-stamps-default_*.deb /tmp/tuxpaint
    python scripts/make_stamp_photos.py /tmp/tuxpaint data/stamps

Writes ``<out>/<folder>__<name>.jpg`` and ``<out>/SOURCES.tsv`` (file, package, path). The
output depends only on the package contents (one seeded generator per stamp).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

PACKAGE = "tuxpaint-stamps-default"
STAMPS = Path("usr/share/tuxpaint/stamps")
#: Folders that hold drawings, letters, signs or renders, not photographs.
SKIP_FOLDERS = {
    "cartoon", "lowercase", "uppercase", "asl", "roadsigns", "symbols", "math", "00_symbols",
    "flags", "planets", "space", "shapes", "faces",
}  # fmt: skip
MAX_FLAT = 0.05  #: fraction of flat-fill pixels above which a stamp is a drawing
MIN_COLORS = 0.015  #: distinct 6-bit colors per opaque pixel below which a stamp is a drawing
MIN_OPAQUE = 8000  #: opaque pixels: smaller stamps are icons
MIN_SIDE = 256  #: the output's shorter side, so 256-pixel training crops need no upscaling


def is_photo(rgba: np.ndarray) -> bool:
    """True when an (H, W, 4) uint8 stamp looks photographic rather than drawn (see module doc)."""
    opaque = rgba[..., 3] > 250
    if opaque.sum() < MIN_OPAQUE:
        return False
    rgb = rgba[..., :3].astype(np.int16)
    centre = rgb[1:-1, 1:-1]
    flat = (centre == rgb[1:-1, 2:]).all(-1) & (centre == rgb[2:, 1:-1]).all(-1)
    if flat[opaque[1:-1, 1:-1]].mean() > MAX_FLAT:
        return False
    levels = (rgb[opaque] // 4).astype(np.int32)
    distinct = np.unique(levels[:, 0] * 4096 + levels[:, 1] * 64 + levels[:, 2]).size
    return distinct / opaque.sum() >= MIN_COLORS


def studio_photo(stamp: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The RGBA ``stamp`` on a neutral backdrop: gray level, vertical falloff, soft shadow, noise."""
    w, h = stamp.size
    margin = rng.uniform(1.2, 1.7)
    scale = max(1.0, MIN_SIDE / (min(w, h) * margin))
    if scale > 1.0:
        stamp = stamp.resize((round(w * scale), round(h * scale)), Image.LANCZOS)
        w, h = stamp.size
    cw, ch = round(w * margin), round(h * margin)
    x0, y0 = int(rng.integers(0, cw - w + 1)), int(rng.integers(0, ch - h + 1))
    # Neutral (R = G = B) backdrop, lighter at the top like a studio sweep.
    level = rng.uniform(165, 250)
    falloff = rng.uniform(0, 25)
    rows = level - falloff * np.linspace(0, 1, ch)[:, None]
    backdrop = np.repeat(np.broadcast_to(rows, (ch, cw))[..., None], 3, axis=2)
    # A soft contact shadow: the stamp's alpha, shifted down-right and blurred.
    alpha = Image.new("L", (cw, ch), 0)
    dx, dy = rng.integers(2, 12, size=2)
    alpha.paste(stamp.getchannel("A"), (x0 + int(dx), y0 + int(dy)))
    shadow = np.asarray(alpha.filter(ImageFilter.GaussianBlur(rng.uniform(4, 12))), np.float32) / 255
    backdrop = backdrop * (1 - rng.uniform(0.15, 0.35) * shadow[..., None])
    backdrop += rng.normal(0, 1.2, size=(ch, cw, 1))  # gray sensor noise, still neutral
    canvas = Image.fromarray(np.clip(backdrop, 0, 255).astype(np.uint8), "RGB")
    canvas.paste(stamp.convert("RGB"), (x0, y0), stamp.getchannel("A"))
    return canvas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="where tuxpaint-stamps-default was extracted (dpkg-deb -x)")
    parser.add_argument("out", type=Path, help="output folder for the JPEGs and SOURCES.tsv")
    args = parser.parse_args(argv)
    stamps_dir = args.root / STAMPS
    if not stamps_dir.is_dir():
        print(f"error: {stamps_dir}: no Tux Paint stamps here (extract {PACKAGE} first)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    rows = ["file\tsource_package\tsource_path"]
    for path in sorted(stamps_dir.rglob("*.png")):
        rel = path.relative_to(stamps_dir)
        if SKIP_FOLDERS & set(rel.parts[:-1]):
            continue
        stamp = Image.open(path).convert("RGBA")
        if not is_photo(np.asarray(stamp)):
            continue
        seed = int.from_bytes(hashlib.sha256(str(rel).encode()).digest()[:8], "little")
        photo = studio_photo(stamp, np.random.default_rng(seed))
        name = f"{rel.parent.name}__{path.stem}.jpg"
        tmp = args.out / f".{name}.tmp"
        photo.save(tmp, "JPEG", quality=92)
        tmp.replace(args.out / name)
        rows.append(f"{name}\t{PACKAGE}\t{STAMPS / rel}")
    (args.out / "SOURCES.tsv").write_text("\n".join(rows) + "\n")
    print(f"wrote {len(rows) - 1} photos to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
