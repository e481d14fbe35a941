"""Check tinct's DDColor against the authors' own code and pipeline, on the same checkpoint.

No published weights are needed (nor downloaded): for each encoder size the authors' model is built
from their code with seeded random weights at a realistic scale, saved as they publish checkpoints
(``{'params': state_dict}`` in a ``.pth``), and that file is then

* colorized by the authors' ``ddcolor.ColorizationPipeline`` (cv2 BGR → /255 → resize to 512 →
  Lab → L → gray RGB → model → a*b* resized back → beside the photo's own L → BGR), and
* loaded and colorized by tinct exactly as ``tinct colorize PHOTO --model FILE.pth`` does
  (``Colorizer.load``; torch backend, and ONNX Runtime with ``--onnx``),

on 512×512 gray photos (center-cropped and resized from a folder of photos, then reduced to gray,
so that neither pipeline resizes anything). Prints the mean absolute difference per pixel and
channel in 8-bit RGB, per photo and overall.

Random weights, made realistic: the spectral norms' u/v come from power iterations (as after
training; fresh ones are random vectors), the ConvNeXt layer scales and BatchNorm statistics are
drawn away from their identity-like initial values, and the last color-embedding layer is scaled so
that the predicted a*b* has a standard deviation of about ``--ab-std`` (colorful, with a tail out of
the sRGB gamut, where the two pipelines' gamut handling can differ).

Usage (the authors' code is a checkout of github.com/piddnad/DDColor; it never enters tinct)::

    PYTHONPATH=src python scripts/check_ddcolor_reference.py /tmp/ddcolor_ref \\
        --photos ../shared/data/photos/val --count 4 --sizes tiny large

Their ``basicsr`` package imports torchvision for training utilities the model does not use; if
torchvision is missing, an empty stand-in module is registered so that the import succeeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

SIZE = 512
ENCODERS = {"tiny": "convnext-t", "large": "convnext-l"}


def import_reference(code: Path):
    """The authors' ``ddcolor`` package (model + pipeline) from a checkout at ``code``."""
    sys.path.insert(0, str(code))
    try:
        import torchvision  # noqa: F401
    except ImportError:  # only basicsr.utils' image helpers use it, never the model
        stub = types.ModuleType("torchvision")
        stub.utils = types.ModuleType("torchvision.utils")
        stub.utils.make_grid = None
        sys.modules.update({"torchvision": stub, "torchvision.utils": stub.utils})
    import ddcolor

    return ddcolor


def realistic_random_weights(model: torch.nn.Module, seed: int, ab_std: float, probe: torch.Tensor) -> None:
    """Seeded weights at a trained-like scale (see the module docstring); ``probe`` is a
    (1, 3, 512, 512) gray RGB input used to set the a*b* scale."""
    from torch.nn.utils.spectral_norm import SpectralNorm

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".gamma"):  # ConvNeXt layer scale: 1e-6 at init, O(0.1-1) once trained
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(1 + torch.randn(m.weight.shape, generator=g) * 0.1)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            for hook in m._forward_pre_hooks.values():
                if isinstance(hook, SpectralNorm):
                    for _ in range(30):
                        hook.compute_weight(m, do_power_iteration=True)
        model.eval()
        # a*b* is affine in this layer's output (color maps → spectral 1×1 conv, beside a fixed
        # input term), so a few rescalings settle its spread.
        last = model.decoder.color_decoder.color_embed.layers[-1]
        for _ in range(4):
            factor = ab_std / float(model(probe).std())
            last.weight.mul_(factor)
            last.bias.mul_(factor)


def gray_photos(folder: Path, count: int, out: Path) -> list[Path]:
    """The first ``count`` photos of ``folder``, center-cropped, resized to 512×512 and reduced to
    8-bit gray, saved as PNG (R = G = B) under ``out``."""
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:count]
    if not paths:
        raise SystemExit(f"{folder}: no photos")
    saved = []
    for p in paths:
        image = ImageOps.fit(ImageOps.exif_transpose(Image.open(p)).convert("RGB"), (SIZE, SIZE), Image.BICUBIC)
        target = out / f"{p.stem}.png"
        image.convert("L").convert("RGB").save(target)
        saved.append(target)
    return saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("code", type=Path, help="checkout of github.com/piddnad/DDColor")
    parser.add_argument("--photos", type=Path, default=Path("../shared/data/photos/val"))
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--sizes", nargs="+", choices=sorted(ENCODERS), default=["tiny", "large"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ab-std", type=float, default=25.0, help="a*b* standard deviation to aim the weights at")
    parser.add_argument("--onnx", action="store_true", help="also run tinct's ONNX Runtime backend")
    parser.add_argument(
        "--keep-lightness",
        action="store_true",
        help="map out-of-gamut colors at constant L* (tinct's default for other models) instead of clipping them "
        "per channel as the authors do, to measure what that changes",
    )
    parser.add_argument("--keep", type=Path, help="folder to keep the checkpoints in (default: a temporary one)")
    args = parser.parse_args()

    import cv2

    from tinct.inference import Colorizer

    ref = import_reference(args.code.resolve())
    work = Path(tempfile.mkdtemp(prefix="ddcolor_check_")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    photos = gray_photos(args.photos, args.count, work)
    probe_bgr = cv2.imread(str(photos[0]))
    probe_l = cv2.cvtColor((probe_bgr / 255.0).astype(np.float32), cv2.COLOR_BGR2Lab)[:, :, :1]
    probe = cv2.cvtColor(np.concatenate([probe_l, 0 * probe_l, 0 * probe_l], -1), cv2.COLOR_LAB2RGB)
    probe = torch.from_numpy(probe.transpose(2, 0, 1))[None].float()

    print(f"{len(photos)} gray {SIZE}x{SIZE} photos from {args.photos}; mean |tinct - authors| in 8-bit RGB levels")
    for size in args.sizes:
        torch.manual_seed(args.seed)
        model = ref.DDColor(
            encoder_name=ENCODERS[size],
            decoder_name="MultiScaleColorDecoder",
            input_size=[SIZE, SIZE],
            num_output_channels=2,
            last_norm="Spectral",
            do_normalize=False,
            num_queries=100,
            num_scales=3,
            dec_layers=9,
        )
        realistic_random_weights(model, args.seed, args.ab_std, probe)
        checkpoint = work / f"ddcolor_random_{size}.pth"
        torch.save({"params": model.state_dict()}, checkpoint)
        del model
        # Both sides load the same file, each its own way.
        theirs = ref.ColorizationPipeline(
            ref.build_ddcolor_model(ref.DDColor, model_path=str(checkpoint), model_size=size, device="cpu"),
            input_size=SIZE,
            device="cpu",
        )
        backends = ["torch"] + (["onnxruntime"] if args.onnx else [])
        ours = {b: Colorizer.load(checkpoint, backend=b, device="cpu") for b in backends}
        for colorizer in ours.values():  # the gamut handling is the spec's (ONNX exports carry it too)
            colorizer.spec = dataclasses.replace(colorizer.spec, keep_lightness=args.keep_lightness)
        results: dict[str, list[float]] = {b: [] for b in backends}
        ab_spread = []
        for photo in photos:
            bgr = cv2.imread(str(photo))
            expected = theirs.process(bgr)[:, :, ::-1].astype(np.int16)  # BGR → RGB
            lab = cv2.cvtColor((expected[:, :, ::-1] / 255.0).astype(np.float32), cv2.COLOR_BGR2Lab)
            ab_spread.append(float(lab[:, :, 1:].std()))
            for b, colorizer in ours.items():
                got = colorizer.colorize(photo).astype(np.int16)
                assert got.shape == expected.shape
                diff = np.abs(got - expected)
                results[b].append(float(diff.mean()))
                print(
                    f"  {size:<5} {b:<11} {photo.name:<28} mean {diff.mean():.3f}  "
                    f"p99 {np.percentile(diff, 99):.0f}  max {diff.max()}  (authors' a*b* std {ab_spread[-1]:.1f})"
                )
        for b, values in results.items():
            print(f"{size:<5} {b:<11} mean over photos {np.mean(values):.3f} levels (worst photo {max(values):.3f})")
        del theirs, ours
    print(f"checkpoints in {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
