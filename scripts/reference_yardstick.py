"""The reference yardstick: docs/results/reference.tsv and docs/reference-before-after.jpg.

    python scripts/reference_yardstick.py ../shared/data/photos/val

Every color photo of the folder (val only: never run this on test/) gives cases of three kinds:

* ``overlap``: the photo split into two overlapping crops along its longer side (each 65 % of it,
  so 30 % is shared): the target is one crop in gray, the reference the other in color. Scored
  separately on the part both show (``shared``) and on the rest (``rest``).
* ``overlap-zoom``: the same, with the reference crop shown at 80 % of its size (views of the same
  scene rarely share a scale).
* ``unrelated``: the whole photo as the target, the next photo of the folder as the reference.

Each case is colorized automatically, with the reference (tinct's method) and, as the
alternative, with a global transfer of the reference's a*b* statistics (mean and standard
deviation per channel, Reinhard et al. 2001) onto the automatic result; the score is the mean
CIEDE2000 against the true colors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from tinct.color.lab import rgb_to_lab
from tinct.inference import Colorizer
from tinct.inference.reference import confidence_map, load_reference, match_reference
from tinct.io.images import list_images, read_image
from tinct.metrics.ciede2000 import ciede2000

ROOT = Path(__file__).resolve().parents[1]
SHARE = 0.65  # each crop's share of the longer side


def lab(rgb: np.ndarray) -> torch.Tensor:
    return rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1).float()[None] / 255)[0]


def de00(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    d = ciede2000(lab(pred), lab(truth)).numpy()
    return float(d[mask].mean() if mask is not None else d.mean())


def global_transfer(auto: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The alternative: match the automatic result's a*b* mean and spread to the reference's."""
    from tinct.color.lab import lab_to_rgb

    a, r = lab(auto), lab(reference)
    out = a.clone()
    for c in (1, 2):
        out[c] = (a[c] - a[c].mean()) / (a[c].std() + 1e-6) * r[c].std() + r[c].mean()
    rgb = lab_to_rgb(out[None]).clamp(0, 1)[0]
    return (rgb.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def split(photo: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(target crop, reference crop, bool mask of the target's pixels the reference also shows)."""
    h, w = photo.shape[:2]
    transposed = h > w
    if transposed:
        photo = photo.transpose(1, 0, 2)
        h, w = w, h
    cut = round(w * SHARE)
    target, reference = photo[:, :cut], photo[:, w - cut :]
    shared = np.zeros(target.shape[:2], bool)
    shared[:, w - cut :] = True
    if transposed:
        return target.transpose(1, 0, 2).copy(), reference.transpose(1, 0, 2).copy(), shared.T.copy()
    return target.copy(), reference.copy(), shared


def cases(photos: list[np.ndarray]):
    for i, photo in enumerate(photos):
        target, reference, shared = split(photo)
        yield i, "overlap", target, reference, shared
        h, w = reference.shape[:2]
        zoomed = np.asarray(Image.fromarray(reference).resize((round(w * 0.8), round(h * 0.8)), Image.LANCZOS))
        yield i, "overlap-zoom", target, zoomed, shared
        yield i, "unrelated", photo, photos[(i + 1) % len(photos)], None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--model", default=None, help="weights (default: the bundled default model)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "reference.tsv")
    parser.add_argument("--sheet", type=Path, default=ROOT / "docs" / "reference-before-after.jpg")
    parser.add_argument("--limit", type=int, default=0, help="first N photos only (0: all)")
    args = parser.parse_args(argv)
    if "test" in args.folder.resolve().parts:
        parser.error("the yardstick never runs on test/ (report only, see docs/reference.md)")
    paths = list_images(args.folder)
    paths = paths[: args.limit] if args.limit else paths
    photos = [read_image(p) for p in paths]
    colorizer = Colorizer.load(args.model)
    rows, sheet = [], []
    for i, kind, target, ref_rgb, shared in cases(photos):
        gray = target.mean(axis=2, keepdims=True).astype(np.uint8).repeat(3, axis=2)
        reference = load_reference(ref_rgb)
        auto = colorizer.colorize(target)
        with_ref = colorizer.colorize(target, reference=reference)
        stats = global_transfer(auto, ref_rgb)
        row = {"photo": paths[i].name, "kind": kind}
        for name, pred in (("auto", auto), ("reference", with_ref), ("global", stats)):
            if shared is None:
                row[f"{name}_all"] = de00(pred, target)
            else:
                row[f"{name}_shared"] = de00(pred, target, shared)
                row[f"{name}_rest"] = de00(pred, target, ~shared)
        L_small = colorizer.working_lightness(colorizer_lightness(target))
        row["matched"] = match_reference(reference, L_small).matches
        rows.append(row)
        print(" ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
        if kind == "overlap" and len(sheet) < 4:
            conf = confidence_map(match_reference(reference, L_small), target.shape[:2])
            sheet.append((gray, ref_rgb, auto, with_ref, conf))
    write_table(rows, args.out)
    if sheet:
        write_sheet(sheet, args.sheet)
    return 0


def colorizer_lightness(rgb: np.ndarray) -> np.ndarray:
    from tinct.inference.colorizer import image_lightness

    return image_lightness(rgb)


def write_table(rows: list[dict], out: Path) -> None:
    kinds = sorted({r["kind"] for r in rows})
    lines = ["kind\tcases\tpart\tauto\treference\tglobal_stats\treference/auto\tglobal/auto"]
    for kind in kinds:
        sel = [r for r in rows if r["kind"] == kind]
        parts = ("all",) if "auto_all" in sel[0] else ("shared", "rest")
        for part in parts:
            a, r, g = (float(np.mean([x[f"{n}_{part}"] for x in sel])) for n in ("auto", "reference", "global"))
            lines.append(f"{kind}\t{len(sel)}\t{part}\t{a:.2f}\t{r:.2f}\t{g:.2f}\t{r / a:.2f}\t{g / a:.2f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    per_photo = out.with_name(out.stem + "-per-photo.tsv")
    keys = list(dict.fromkeys(k for r in rows for k in r))
    per_photo.write_text(
        "\t".join(keys) + "\n" + "".join("\t".join(_fmt(r.get(k, "")) for k in keys) + "\n" for r in rows)
    )


def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def write_sheet(sheet: list, out: Path, height: int = 200) -> None:
    titles = ("gray target", "reference", "automatic", "with reference", "from reference (white)")
    rows = []
    for images in sheet:
        tiles = []
        for img in images:
            img = Image.fromarray(img).convert("RGB")
            tiles.append(img.resize((max(1, round(img.width * height / img.height)), height), Image.LANCZOS))
        width = sum(t.width for t in tiles) + 8 * (len(tiles) - 1)
        row = Image.new("RGB", (width, height + 18), "white")
        x = 0
        draw = ImageDraw.Draw(row)
        for tile, title in zip(tiles, titles, strict=True):
            row.paste(tile, (x, 18))
            draw.text((x + 2, 2), title, fill="black")
            x += tile.width + 8
        rows.append(row)
    canvas = Image.new("RGB", (max(r.width for r in rows), sum(r.height + 8 for r in rows)), "white")
    y = 0
    for row in rows:
        canvas.paste(row, (0, y))
        y += row.height + 8
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out, quality=88)


if __name__ == "__main__":
    sys.exit(main())
