"""Give a trained U-Net (regression head, encoder frozen at its ImageNet weights) a per-photo
scene-chroma gain (tinct.models.scene), fitted on training photos, and write the weights.

    python scripts/fit_scene_chroma.py runs/default/checkpoints/best.safetensors \
        ../shared/data/photos/train [more folders ...] runs/default/scene.safetensors [--ridge 1000]

Each photo is reduced to its gray version at the model's working size; the target is the true
photo's mean chroma. Choose the vividness on val afterwards (scripts/choose_vividness.py): the gain
changes how colorful a given vividness is.
"""

from __future__ import annotations

import argparse

import torch

from tinct.inference.colorizer import Colorizer, image_lightness
from tinct.io.images import list_images, read_image
from tinct.metrics import mean_chroma
from tinct.metrics.evaluate import gray_version
from tinct.models.loading import load_model, save_model
from tinct.models.scene import fit_scene_chroma


def photos(colorizer: Colorizer, folders: list[str]):
    """(L at the working size (1, 1, h, w), true mean chroma) per photo in `folders`."""
    for path in (p for folder in folders for p in list_images(folder)):
        rgb = read_image(path)
        L_small = colorizer.working_lightness(image_lightness(gray_version(rgb)))
        yield torch.from_numpy(L_small)[None, None], float(mean_chroma(rgb))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("data", nargs="+", help="training photo folders (never the validation set)")
    parser.add_argument("output")
    parser.add_argument("--ridge", type=float, default=1000.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, meta = load_model(args.checkpoint)
    scene = fit_scene_chroma(model, photos(Colorizer(model, device="cpu"), args.data), ridge=args.ridge)
    model.attach_scene_chroma(scene)
    keep = {k: meta[k] for k in ("epoch", "train_config", "val_loss", "val_psnr") if k in meta}
    save_model(args.output, model.eval(), **keep, scene_chroma_fit={"data": args.data, "ridge": args.ridge})
    print(f"wrote {args.output} (reference chroma {float(scene.reference):.2f})")


if __name__ == "__main__":
    main()
