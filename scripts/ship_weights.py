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
    parser.add_argument("--size", type=int, help="working size (longer side, px) stored in the config")
    parser.add_argument("--note", default="", help="free text stored as metadata 'note'")
    args = parser.parse_args()
    model, meta = load_model(args.checkpoint)
    if args.vividness is not None:
        model.config = dataclasses.replace(model.config, default_vividness=args.vividness)
    if args.size is not None:
        model.check_size(args.size, args.size)
        model.config = dataclasses.replace(model.config, working_size=args.size)
    keep = {k: meta[k] for k in ("epoch", "train_config", "val_loss", "val_psnr", "scene_chroma_fit") if k in meta}
    save_model(args.output, model, dtype=torch.float16, source_checkpoint=args.checkpoint, note=args.note, **keep)
    c = model.config
    print(f"wrote {args.output} ({c.name}, {c.head}, vividness {c.default_vividness}, size {model.preferred_size})")


if __name__ == "__main__":
    main()
