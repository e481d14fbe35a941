"""How far per-photo chroma gains could take a regression model's PSNR at a colorfulness target.

The vividness knob multiplies every photo's predicted a*b* by one gain. Mean PSNR is a mean of
per-photo log errors, so spending colorfulness on some photos and not on others could score
better. This script bounds that, using the truth (so none of these rows is a usable decoder):

- one gain for all photos (what `--vividness` does);
- each photo's gain set from its true mean chroma (gain ∝ true chroma / predicted chroma), the
  best a perfect "how colorful is this scene" predictor could do;
- each photo's gain chosen knowing its PSNR and colorfulness at every gain (the oracle).

    python scripts/gain_bounds.py ../shared/data/photos/val default [--target 65]

Prints a markdown table: the best mean PSNR (dB) of each policy whose colorfulness reaches
TARGET % of the truth's (mean over photos of colorfulness / mean of the truth's, as `tinct eval`);
`--out docs/results/gain_bounds.md` also writes it there.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from tinct.inference.colorizer import Colorizer, combine_lab, image_lightness
from tinct.io.images import list_images, read_image
from tinct.io.tables import write_table
from tinct.metrics import mean_chroma
from tinct.metrics.evaluate import gray_version
from tinct.metrics.image import evaluate_pair

GAINS = np.round(np.arange(0.0, 3.01, 0.05), 2)  #: multiples of the raw predicted a*b*


def photo_table(colorizer: Colorizer, path) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """One photo → (PSNR per gain, colorfulness per gain, truth colorfulness, true and predicted
    mean chroma in a*b* units)."""
    rgb = read_image(path)
    L = image_lightness(gray_version(rgb))
    ab = colorizer.predict_ab(colorizer.working_lightness(L), None, 0.5)  # vividness 0.5: gain 1
    scores = [evaluate_pair(combine_lab(L, ab * gain), rgb) for gain in GAINS]
    return (
        np.array([s["psnr"] for s in scores]),
        np.array([s["colorfulness"] for s in scores]),
        scores[0]["colorfulness_truth"],
        float(mean_chroma(rgb)),
        float(ab.norm(dim=0).mean()),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("model", help="weights: a bundled name or a .safetensors path")
    parser.add_argument("--target", type=float, default=65.0, help="colorfulness, %% of the truth's")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", metavar="MD", help="also write the table to, e.g., docs/results/gain_bounds.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    colorizer = Colorizer.load(args.model, backend="torch")
    rows = [photo_table(colorizer, path) for path in list_images(args.data)]
    psnr, cf = np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows])
    truth_cf = np.mean([r[2] for r in rows])
    chroma_ratio = np.array([r[3] / max(r[4], 1e-3) for r in rows])
    photos = np.arange(len(rows))

    def score(gain_index: np.ndarray) -> tuple[float, float]:
        return psnr[photos, gain_index].mean(), 100 * cf[photos, gain_index].mean() / truth_cf

    def best(policies) -> tuple[float, float, str]:
        """The highest-PSNR policy (gain indices, label) that reaches the colorfulness target."""
        found = []
        for index, label in policies:
            p, c = score(index)
            if c >= args.target:
                found.append((p, c, label))
        return max(found) if found else (float("nan"), float("nan"), "none reaches the target")

    nearest = lambda gains: np.abs(GAINS[None, :] - np.asarray(gains)[:, None]).argmin(axis=1)  # noqa: E731
    policies = {
        "one gain for all photos (`--vividness`)": [
            (np.full(len(rows), i), f"gain {g:g}") for i, g in enumerate(GAINS)
        ],
        "gain from each photo's true chroma": [
            (nearest(k * chroma_ratio), f"{k:g} × true / predicted chroma") for k in np.arange(0.2, 2.01, 0.05)
        ],
        "oracle: each photo's gain from its own scores": [
            (np.argmax(psnr + lam * cf, axis=1), f"argmax PSNR + {lam:g}·colorfulness")
            for lam in np.concatenate([np.arange(0, 0.3, 0.005), [1.0]])
        ],
    }
    baseline = psnr[:, 0].mean()
    lines = [
        f"gray: {baseline:.2f} dB; target: colorfulness ≥ {args.target:g}% of the truth's ({truth_cf:.1f})\n",
        "| per-photo a\\*b\\* gain | PSNR (dB) | vs gray | colorfulness / truth | setting |",
        "|:---|---:|---:|---:|:---|",
    ]
    for name, options in policies.items():
        p, c, label = best(options)
        lines.append(f"| {name} | {p:.2f} | {p - baseline:+.2f} | {c:.1f}% | {label} |")
    print("\n".join(lines))
    if args.out:
        write_table(args.out, "\n".join(lines))


if __name__ == "__main__":
    main()
