"""Copy a training checkpoint into the package as bundled weights: float16, with the chosen
default vividness written into the model config, and the training provenance kept in metadata.

    python scripts/ship_weights.py runs/default/checkpoints/last.safetensors \
        src/tinct/weights/default.safetensors --vividness 0.6
"""

from __future__ import annotations

import argparse
import dataclasses

import torch

from tinct.models.loading import load_model, save_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("output")
    parser.add_argument("--vividness", type=float, help="default vividness stored in the config")
    parser.add_argument("--note", default="", help="free text stored as metadata 'note'")
    args = parser.parse_args()
    model, meta = load_model(args.checkpoint)
    if args.vividness is not None:
        model.config = dataclasses.replace(model.config, default_vividness=args.vividness)
    keep = {k: meta[k] for k in ("epoch", "train_config", "val_loss", "val_psnr") if k in meta}
    save_model(args.output, model, dtype=torch.float16, source_checkpoint=args.checkpoint, note=args.note, **keep)
    print(f"wrote {args.output} ({model.config.name}, {model.config.head}, vividness {model.config.default_vividness})")


if __name__ == "__main__":
    main()
