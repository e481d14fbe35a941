"""Score a*b* decoding choices for regression weights on a photo folder: PSNR vs colorfulness.

Each photo's gray version is run through every model once at each working size, plain and
mirrored (the raw a*b*, vividness 0.5 = ×1.0); the variants below then only recombine those
predictions at full resolution, so the table is cheap to extend.

    python scripts/decoding_sweep.py ../shared/data/photos/val default runs/stamps-l1/checkpoints/last.safetensors

Prints one markdown row per variant: mean PSNR (dB), colorfulness / truth colorfulness (%);
`--out docs/results/decoding_sweep.md` also writes the table there.
The first model is "the model"; the ensemble rows average all of them.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from tinct.inference.colorizer import Colorizer, combine_lab, image_lightness
from tinct.io.images import list_images, read_image
from tinct.io.tables import write_table
from tinct.metrics.evaluate import gray_version
from tinct.metrics.image import evaluate_pair

SIZES = (256, 192, 320)  #: working sizes; the first is the models' own


def predictions(colorizer: Colorizer, L: np.ndarray) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per working size: (plain, mirrored back) raw a*b*, each upsampled to the first size's grid."""
    out = []
    for size in SIZES:
        colorizer.size = size
        small = colorizer.working_lightness(L)
        plain = torch.from_numpy(colorizer.predict_ab(small, None, 0.5))
        mirrored = torch.from_numpy(colorizer.predict_ab(np.ascontiguousarray(small[:, ::-1]), None, 0.5)).flip(-1)
        grid = out[0][0].shape[-2:] if out else plain.shape[-2:]
        out.append(tuple(F.interpolate(ab[None], size=grid, mode="bilinear")[0] for ab in (plain, mirrored)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("models", nargs="+", help="weights: bundled names or .safetensors paths")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", metavar="MD", help="also write the table to, e.g., docs/results/decoding_sweep.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    colorizers = [Colorizer.load(m, backend="torch") for m in args.models]
    photos = []
    for path in list_images(args.data):
        rgb = read_image(path)
        L = image_lightness(gray_version(rgb))
        photos.append((rgb, L, [predictions(c, L) for c in colorizers]))

    def chroma(ab: torch.Tensor) -> torch.Tensor:
        return ab.norm(dim=0, keepdim=True)

    variants = {
        "× 1.00 (vividness 0.5)": lambda p: p[0][0][0],
        "× 1.12 (vividness 0.62)": lambda p: p[0][0][0] * 1.12,
        "mean with the mirrored prediction, × 1.18": lambda p: sum(p[0][0]) / 2 * 1.18,
        "mean over sizes 256, 192, 320 and mirrors, × 1.25": lambda p: sum(sum(s) for s in p[0]) / 6 * 1.25,
        "soft chroma threshold (6 units), × 1.6": lambda p: (
            p[0][0][0] * 1.6 * (chroma(p[0][0][0]) - 6).clamp(min=0) / chroma(p[0][0][0]).clamp(min=1e-3)
        ),
    }
    if len(colorizers) > 1:
        variants["ensemble of all models with mirrors, × 1.1"] = lambda p: (
            sum(sum(m[0]) for m in p) / (2 * len(p)) * 1.1
        )
    lines = ["| a\\*b\\* decoding | PSNR (dB) | colorfulness / truth |", "|:---|---:|---:|"]
    print("\n".join(lines))
    for name, decode in variants.items():
        scores = [evaluate_pair(combine_lab(L, decode(preds)), rgb) for rgb, L, preds in photos]
        psnr = np.mean([s["psnr"] for s in scores])
        ratio = np.mean([s["colorfulness"] for s in scores]) / np.mean([s["colorfulness_truth"] for s in scores])
        lines.append(f"| {name} | {psnr:.2f} | {100 * ratio:.1f}% |")
        print(lines[-1], flush=True)  # row by row: each variant takes a while on a large folder
    if args.out:
        write_table(args.out, "\n".join(lines))


if __name__ == "__main__":
    main()
