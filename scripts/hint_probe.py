"""How far one hint moves a uniform region, with and without Colorizer's hint propagation.

The scene of tests/test_hint_effect.py: a 512x384 gray image, a uniform 160x160 patch (L* ~ 50)
in textured surroundings, one hint (a* 55, b* 40) inside the patch. Prints a markdown table: the
mean CIEDE2000 between the patch and the hint color, and the mean change of a far textured region.

    python scripts/hint_probe.py [WEIGHTS] [--out docs/results/hint_probe.md]  # default: the bundled model
"""

from __future__ import annotations

import argparse
from unittest import mock

import numpy as np
import torch

from tinct.color.lab import lab_to_rgb, rgb_to_lab
from tinct.inference import Colorizer, colorizer
from tinct.io.tables import write_table
from tinct.metrics.ciede2000 import ciede2000

HINT_AB = (55.0, 40.0)


def _lab(rgb: np.ndarray) -> torch.Tensor:
    return rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", nargs="?", default="default", help="a bundled name or a .safetensors path")
    parser.add_argument("--out", metavar="MD", help="also write the table to, e.g., docs/results/hint_probe.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    c = Colorizer.load(args.weights, backend="torch", device="cpu")
    y, x = np.mgrid[0:384, 0:512]
    gray = (110 + 40 * np.sin(x / 9.0) * np.sin(y / 7.0)).astype(np.uint8)
    gray[60:220, 40:200] = 119
    rgb = np.stack([gray] * 3, axis=-1)
    hint_rgb = lab_to_rgb(torch.tensor([50.0, *HINT_AB]).view(3, 1, 1)).view(3).mul(255).round().int().tolist()
    hint = {"x": 120, "y": 140, "color": "#{:02x}{:02x}{:02x}".format(*hint_rgb)}
    base = _lab(c.colorize(rgb))
    region, far = (slice(None), slice(80, 200), slice(60, 180)), (slice(None), slice(260, 384), slice(330, 512))
    lines = ["| hints | patch ΔE00 to the hint | far region change (ΔE00) |", "|:---|---:|---:|"]
    for label, patch in (
        ("network only", mock.patch.object(colorizer, "propagate_hints", lambda ab, L, h: ab)),
        ("with propagation", mock.patch.object(colorizer, "propagate_hints", colorizer.propagate_hints)),
    ):
        with patch:
            hinted = _lab(c.colorize(rgb, hints=[hint]))
        target = torch.stack(
            (hinted[0], torch.full_like(hinted[0], HINT_AB[0]), torch.full_like(hinted[0], HINT_AB[1]))
        )
        lines.append(
            f"| {label} | {ciede2000(hinted[region], target[region]).mean():.2f}"
            f" | {ciede2000(hinted[far], base[far]).mean():.2f} |"
        )
    print("\n".join(lines))
    if args.out:
        write_table(args.out, "\n".join(lines))


if __name__ == "__main__":
    main()
