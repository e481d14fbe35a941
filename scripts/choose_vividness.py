"""Score one set of weights on a photo folder at several vividness values (and working sizes),
to choose the default vividness that ships in the weights' metadata.

    python scripts/choose_vividness.py runs/default/checkpoints/last.safetensors \
        ../shared/data/photos/val --vividness 0.4,0.5,0.6,0.7 [--size 256,320]

Prints a markdown table (mean PSNR, SSIM, colorfulness, CIEDE2000 per setting, plus `gray`);
`--out docs/results/vividness.md` also writes it there.
"""

from __future__ import annotations

import argparse

import torch

from tinct.inference import Colorizer
from tinct.io.images import list_images
from tinct.io.tables import write_table
from tinct.metrics.evaluate import evaluate_models


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights")
    parser.add_argument("data")
    parser.add_argument("--vividness", type=_floats, default=[0.4, 0.5, 0.6, 0.7])
    parser.add_argument("--size", type=_floats, default=[None])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", metavar="MD", help="also write the table to, e.g., docs/results/vividness.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base = Colorizer.load(args.weights, backend="torch")
    colorizers = {}
    for size in args.size:
        for v in args.vividness:
            size_text = f" @{int(size)}px" if size else ""
            colorizers[f"v={v:g}{size_text}"] = Colorizer(
                base.model, size=int(size) if size else None, vividness=v, device="cpu"
            )
    results = evaluate_models(list_images(args.data), colorizers, progress=False)
    table = results.to_markdown()
    print(table)
    if args.out:
        write_table(args.out, table)


if __name__ == "__main__":
    main()
