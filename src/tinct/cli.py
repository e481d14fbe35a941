"""`tinct` command line: a thin dispatcher over library functions.

tinct train DATA ...        tinct.train.fit
tinct colorize INPUT ...    tinct.inference.batch.colorize_paths
tinct eval DATA ...         tinct.metrics.evaluate.evaluate_models
tinct export MODEL ...      tinct.export.onnx.export_onnx
tinct models                tinct.models.list_models + bundled weights
"""

from __future__ import annotations

import argparse
import logging
import sys

from tinct import __version__


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a colorization model on a folder of color photos",
        formatter_class=_Formatter,
        description="Train on DATA (a folder, walked recursively). Options override --config.",
    )
    p.add_argument("data", nargs="?", help="folder of color training photos")
    p.add_argument("--config", help="TOML recipe (fields of tinct.train.TrainConfig), e.g. configs/default.toml")
    p.add_argument("--file-list", help="text file with one training image path per line (instead of DATA)")
    p.add_argument("--model", help="architecture (see `tinct models`); default unet")
    p.add_argument("--head", choices=("regression", "classification"), help="output head of the model")
    p.add_argument("--size", type=int, help="training crop side in pixels (default: the model's)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, help="global batch size")
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--optimizer", choices=("adamw", "sgd"), help="optimizer (default adamw)")
    p.add_argument("--loss", help="loss spec: l2 | l1 | ssim | weighted terms like l1=0.5,ssim=0.5 | ce")
    p.add_argument("--val", help="validation folder")
    p.add_argument("--val-fraction", type=float, help="hold out this fraction of DATA for validation")
    p.add_argument("--out", help="run folder (default runs/default)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N | mps (default auto)")
    p.add_argument("--seed", type=int)
    p.add_argument("--workers", type=int, help="data-loader worker processes")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--grad-accum", type=int, help="accumulate gradients over N batches per optimizer step")
    p.add_argument("--ema", type=float, help="keep an exponential moving average of weights with this decay")
    p.add_argument("--amp", choices=("auto", "bf16", "fp16", "off"), help="mixed precision on CUDA")
    p.add_argument("--compile", action="store_true", help="torch.compile the model for training")
    p.set_defaults(func=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from tinct.train import TrainConfig, fit, load_config

    overrides = {
        "data": args.data,
        "file_list": args.file_list,
        "model": args.model,
        "size": args.size,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "optimizer": args.optimizer,
        "loss": args.loss,
        "val": args.val,
        "val_fraction": args.val_fraction,
        "out": args.out,
        "resume": args.resume or None,
        "device": args.device,
        "seed": args.seed,
        "workers": args.workers,
        "threads": args.threads,
        "ema": args.ema,
        "amp": args.amp,
        "compile": args.compile or None,
        "grad_accum": args.grad_accum,
    }
    if args.config:
        cfg = load_config(args.config, **overrides)
    else:
        cfg = TrainConfig(**{k: v for k, v in overrides.items() if v is not None})
    if args.head:
        cfg.model_args = {**cfg.model_args, "head": args.head}
    if not cfg.data and not cfg.file_list:
        raise ValueError("train: give a DATA folder, --file-list, or a --config that names one")
    result = fit(cfg)
    print(f"run folder: {result.out}")
    return 0


def _threads(args: argparse.Namespace) -> None:
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)


def _load_colorizer(spec: str, args: argparse.Namespace):
    from tinct.inference import Colorizer
    from tinct.io.weights import WeightsError

    try:
        return Colorizer.from_pretrained(spec, device=args.device, size=args.size, vividness=args.vividness)
    except WeightsError as err:
        raise ValueError(str(err)) from None  # main() reports it and exits with status 2


def _check_common(args: argparse.Namespace) -> None:
    from tinct.models.base import check_vividness

    if args.vividness is not None:
        check_vividness(args.vividness)
    if args.size is not None and args.size < 1:
        raise ValueError(f"--size must be a positive number of pixels, got {args.size}")


_FORMATS = ("png", "jpg", "webp", "tiff")
_MODEL_HELP = "weights: a .safetensors file, the name of bundled weights (see `tinct models`), or 'default'"


def _add_colorize(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "colorize",
        help="colorize photos (files or folders) at their full resolution",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Colorize each INPUT (image files and/or folders, walked recursively) into OUTDIR,\n"
            "mirroring sub-folders. Outputs keep the input's size and lightness. Existing outputs are\n"
            "skipped (so an interrupted run resumes), inputs are never overwritten, and a file that\n"
            "fails is reported on one line while the rest go on. Exit status 1 if any file failed."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and/or folders")
    p.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="output folder (created if needed)")
    p.add_argument("--model", default="default", metavar="NAME|PATH", help=f"{_MODEL_HELP} (the default)")
    p.add_argument("--size", type=int, help="working resolution: longer side in pixels (default: model's)")
    p.add_argument("--format", dest="fmt", choices=_FORMATS, help="output format (default: the input's)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs instead of skipping")
    p.add_argument("--vividness", type=float, help="saturation in [0, 1] (default: the model's)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default: auto)")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.set_defaults(func=_run_colorize)


def _run_colorize(args: argparse.Namespace) -> int:
    from tinct.inference import colorize_paths

    _check_common(args)
    _threads(args)
    colorizer = _load_colorizer(args.model, args)
    report = colorize_paths(args.inputs, args.out, colorizer, fmt=args.fmt, overwrite=args.overwrite)
    print(report.summary())
    return 1 if report.failed else 0


def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="score models against color photos (PSNR, SSIM, colorfulness, CIEDE2000)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Each photo in DATA (walked recursively) is reduced to its lightness, colorized by every\n"
            "--model and compared with the original; the gray baseline (no color) is always included.\n"
            "Writes per_image.csv, summary.csv, summary.md and grid.jpg into --out."
        ),
    )
    p.add_argument("data", metavar="DATA", help="folder (or file) of color photos")
    p.add_argument(
        "--model",
        dest="models",
        action="append",
        required=True,
        metavar="NAME|PATH",
        help=_MODEL_HELP + "; repeat to compare several models",
    )
    p.add_argument("--size", type=int, help="working resolution: longer side in pixels (default: model's)")
    p.add_argument("--out", default="runs/eval", help="folder for tables and grid (default: runs/eval)")
    p.add_argument("--vividness", type=float, help="saturation in [0, 1] (default: each model's)")
    p.add_argument("--limit", type=int, help="evaluate only the first N photos (sorted by path)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default: auto)")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.set_defaults(func=_run_eval)


def _display_names(specs: list[str]) -> list[str]:
    """Short unique labels: the file stem, with as many parent folders as needed to tell apart
    e.g. runs/a/checkpoints/best.safetensors and runs/b/checkpoints/best.safetensors."""
    from pathlib import PurePath

    def parts(spec: str) -> tuple[str, ...]:
        if not spec.endswith(".safetensors"):
            return (spec,)
        path = PurePath(spec).with_suffix("")
        return tuple(p for p in path.parts if p != path.anchor) or (path.name,)

    split = [parts(s) for s in specs]
    names: list[str] = []
    for i, p in enumerate(split):
        name = p[-1]
        for k in range(1, len(p) + 1):
            if sum(1 for q in split if q[-k:] == p[-k:]) == 1:
                name = "/".join(p[-k:])
                break
        if name == "gray" or name in names:  # the same file twice, or a file named gray
            name = f"{name} ({i + 1})"
        names.append(name)
    return names


def _run_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tinct.io.images import list_images
    from tinct.metrics.evaluate import evaluate_models, write_results

    _check_common(args)
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
    _threads(args)
    data = Path(args.data)
    paths = list_images(data)
    if not paths:
        raise ValueError(f"{data}: no images found")
    if args.limit is not None:
        paths = paths[: args.limit]
    names = [str(p.relative_to(data)) if data.is_dir() else p.name for p in paths]
    colorizers = {}
    for label, spec in zip(_display_names(args.models), args.models, strict=True):
        colorizers[label] = _load_colorizer(spec, args)
    results = evaluate_models(paths, colorizers, names=names, vividness=args.vividness)
    print(results.format_table())
    written = write_results(results, args.out)
    print(f"{results.num_images} photo(s) evaluated; wrote {', '.join(written)} to {args.out}")
    if results.failed:
        print(f"{len(results.failed)} photo(s) failed", file=sys.stderr)
    return 1 if results.failed else 0


def _add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list model architectures and the weights bundled with tinct",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="List registered architectures and the bundled weights files (usable as --model NAME).",
    )
    p.set_defaults(func=_run_models)


def _run_models(args: argparse.Namespace) -> int:
    from tinct.inference import BUNDLED_WEIGHTS_DIR, bundled_weights
    from tinct.models import list_models

    print("architectures: " + ", ".join(list_models()))
    weights = bundled_weights()
    print(f"bundled weights ({BUNDLED_WEIGHTS_DIR}):")
    if not weights:
        print("  none")
    for w in weights:
        parts = (w.model, w.head, "hints" if w.hints else None)
        described = " ".join(x for x in parts if x) or "(no tinct metadata)"
        print(f"  {w.name:<20} {w.size_mb:8.1f} MB  {described}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinct",
        description="Colorize black-and-white photographs with convolutional neural networks.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"tinct {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_train(sub)
    _add_colorize(sub)
    _add_eval(sub)
    _add_models(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, ImportError) as err:
        print(f"tinct {args.command}: error: {err}", file=sys.stderr)
        return 2
