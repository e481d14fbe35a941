"""`tinct` command line: a thin dispatcher over library functions.

tinct train DATA ...        tinct.train.fit
tinct colorize INPUT ...    tinct.batch.colorize_paths
tinct eval DATA ...         tinct.metrics.evaluate.evaluate_models
tinct export MODEL ...      tinct.export.onnx.export_onnx
tinct convert FILE ...      tinct.models.loading.convert_checkpoint
tinct models                tinct.models.list_models + bundled weights
tinct serve                 tinct.serve.run (web page + HTTP API)
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import warnings

from tinct import __version__


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def _add_train(sub: argparse._SubParsersAction) -> None:
    import dataclasses
    import types
    import typing

    from tinct.train.args import TrainConfig

    p = sub.add_parser(
        "train",
        help="train a colorization model on a folder of color photos",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train on DATA (a folder, walked recursively). Options override --config.",
    )
    p.add_argument("data", nargs="?", help="folder of color training photos")
    p.add_argument("--config", help="TOML recipe (fields of tinct.train.TrainConfig), e.g. configs/default.toml")
    p.add_argument("--head", choices=("regression", "classification"), help="output head of the model")
    # One option per TrainConfig field, so the CLI cannot drift from the recipe. Every default is
    # None ("not given"): a --config value then stands unless the option is given.
    types_ = typing.get_type_hints(TrainConfig)
    for field in dataclasses.fields(TrainConfig):
        if field.name in ("data", "model_args"):
            continue
        kind = types_[field.name]
        if typing.get_origin(kind) in (typing.Union, types.UnionType):  # X | None -> X
            kind = next(t for t in typing.get_args(kind) if t is not type(None))
        default = field.default_factory() if field.default is dataclasses.MISSING else field.default
        extra = {k: v for k, v in field.metadata.items() if k != "help"}
        shown = "" if default in (None, [], False) else f" (default: {default})"
        text = field.metadata["help"].replace("%", "%%") + shown
        flag = "--" + field.name.replace("_", "-")
        if kind is bool:
            p.add_argument(flag, action="store_true", default=None, help=text)
        elif typing.get_origin(kind) is list:
            p.add_argument(flag, action="append", type=typing.get_args(kind)[0], help=text, **extra)
        else:
            p.add_argument(flag, type=kind, help=text, **extra)
    p.set_defaults(func=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    import dataclasses

    from tinct.train import TrainConfig, fit, load_config

    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}
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
        from tinct.threads import set_num_threads

        set_num_threads(args.threads)


def _load_colorizer(args: argparse.Namespace, model: str, weights: str | None = None, backend: str = "torch"):
    from tinct.inference import Colorizer

    return Colorizer.load(
        model, weights=weights, backend=backend, onnx=getattr(args, "onnx", None), device=args.device, size=args.size
    )


def _read_hints(args: argparse.Namespace) -> list[tuple]:
    """The --hints file's hints, then each --hint's: malformed ones fail here, before any model
    is loaded. Whether a hint lies inside an image is checked per image."""
    from tinct.inference.hint_specs import parse_hint_spec, read_hint_file

    hints = []
    if args.hints_file is not None:
        try:
            hints += read_hint_file(args.hints_file)
        except ValueError as err:
            raise ValueError(f"--hints {err}") from None
    for spec in args.hint_specs:
        try:
            hints.append(parse_hint_spec(spec))
        except ValueError as err:
            raise ValueError(f"--hint {spec!r}: {err}") from None
    return hints


def _check_common(args: argparse.Namespace) -> None:
    from tinct.vividness import check_vividness

    if args.vividness is not None:
        check_vividness(args.vividness)
    if args.size is not None and args.size < 1:
        raise ValueError(f"--size must be a positive number of pixels, got {args.size}")


_MODEL_HELP = (
    "weights: a .safetensors file, a published checkpoint as downloaded (e.g. DDColor's .pth), the name of "
    "bundled weights (see `tinct models`), or 'default' "
    "(a bare name is a bundled one; write ./NAME for a file so named)"
)


def _add_colorize(sub: argparse._SubParsersAction) -> None:
    from tinct.io.images import ENCODINGS

    p = sub.add_parser(
        "colorize",
        help="colorize photos and videos (files or folders) at their full resolution",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Colorize each INPUT (image files and/or folders, walked recursively) into the folder\n"
            "OUT, mirroring sub-folders; or one photo or video into the file OUT when OUT has an image\n"
            "or .mp4 suffix (-o colored.jpg). Outputs keep the input's size and lightness. Videos (.mp4\n"
            ".mov .mkv .avi .webm .m4v) become OUT/<name>.mp4 (H.264, same size, frame rate, frame count\n"
            "and rotation, audio copied) with color that holds still from frame to frame (docs/video.md).\n\n"
            "Each output records the model and settings it was made with. A rerun skips outputs made\n"
            "with the same ones (so an interrupted run resumes; no model is loaded when nothing is left\n"
            "to do), makes again those made with others (e.g. a new --vividness), and skips files tinct\n"
            "did not write unless --overwrite; every skipped file gets one line saying why. Inputs are\n"
            "never overwritten, and a file that fails is reported on one line while the rest go on.\n"
            "Exit status 1 if any file failed, 130 if interrupted (Ctrl-C or SIGTERM: no partial\n"
            "output is left behind). ONNX exports are cached in $TINCT_CACHE_DIR/onnx (default\n"
            "~/.cache/tinct/onnx).\n\n"
            "Many processes: `torchrun --nproc_per_node=N -m tinct colorize IN -o OUT` gives each\n"
            "process (RANK of WORLD_SIZE) a disjoint share of the outputs; each appends a JSON-lines\n"
            "log OUT/colorize-log.rank<R>.jsonl. Rerun the same command to finish a killed job."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image or video files and/or folders")
    p.add_argument(
        "-o",
        "--out",
        required=True,
        metavar="OUT",
        help="output folder (created if needed), or an output file for one input (-o colored.jpg, -o film.mp4)",
    )
    p.add_argument("--model", default="default", metavar="NAME|PATH", help=f"{_MODEL_HELP} (the default)")
    p.add_argument("--size", type=int, help="working resolution: longer side in pixels (default: model's)")
    p.add_argument("--format", dest="fmt", choices=tuple(ENCODINGS), help="output format (default: the input's)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace every existing output (default: skip the up-to-date ones and files tinct did not write)",
    )
    p.add_argument(
        "--compare",
        action="store_true",
        help="also write a before/after picture beside each output: OUT/<name>.compare.<ext>, the gray input "
        "left and the colorization right (a film: a side-by-side film)",
    )
    p.add_argument("--vividness", type=float, help="saturation in [0, 1] (default: the model's)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default: auto)")
    p.add_argument("--threads", type=int, help="CPU threads (color conversion, ONNX Runtime, torch)")
    p.add_argument(
        "--hint",
        dest="hint_specs",
        action="append",
        default=[],
        metavar="X,Y,#RRGGBB",
        help="a color hint for models that take hints: pixel column X and row Y of the input image and "
        "the color to put there (its a*b* is used); repeatable. With several inputs every hint applies "
        "to each one, and an input a hint falls outside of fails (one line) while the rest go on",
    )
    p.add_argument(
        "--hints",
        dest="hints_file",
        metavar="FILE.json",
        help='hints from a JSON list of {"x": X, "y": Y, "color": "#rrggbb"} (used with any --hint)',
    )
    p.add_argument(
        "--reference",
        dest="references",
        action="append",
        default=[],
        metavar="REF",
        help="a color photo of the same scene (or a hand-colored frame of the film): its colors are carried "
        "over wherever it matches the input, the rest is colorized as usual; applies to every input. "
        "Repeatable: each input (or film frame) takes its colors from the one it matches best",
    )
    p.add_argument(
        "--weights",
        metavar="FILE",
        help="with --model ARCH (an architecture, e.g. eccv16 or siggraph17): load this state dict into a "
        "fresh ARCH: a .pth file (read with torch.load(weights_only=True), e.g. the authors' published "
        "weights) or a .safetensors file",
    )
    p.add_argument(
        "--log",
        metavar="PATH",
        help="append one JSON line per input (input, output, status, error, warning, seconds) to PATH; "
        "under torchrun .rank<R> is added to the name (default then: OUT/colorize-log.rank<R>.jsonl)",
    )
    _add_backend_options(p)
    _add_verbosity(p)
    p.set_defaults(func=_run_colorize)


def _add_verbosity(p: argparse.ArgumentParser) -> None:
    """-v / -q after the subcommand too (`tinct colorize x -o y -v`), as users type them. SUPPRESS:
    a subcommand's default must not undo a `tinct -v colorize ...` given before it."""
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="say what runs (model, weights, backend, threads, each file's time); -vv: debugging details",
    )
    group.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="print failures only"
    )


def _add_backend_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        choices=("torch", "onnxruntime", "auto"),
        default="auto",
        # auto = the faster backend measured by `make bench` (benchmarks/RESULTS.md): ONNX Runtime.
        help="where the model runs: auto (the default: onnxruntime when installed and the model is on the "
        "CPU, else torch), torch, or onnxruntime (the model is exported to ONNX once into "
        "~/.cache/tinct/onnx, or use --onnx)",
    )
    p.add_argument("--onnx", metavar="FILE.onnx", help="an ONNX file exported from --model by `tinct export`")


class _Terminated(KeyboardInterrupt):
    """SIGTERM (torchrun stopping its workers, `kill`, a batch scheduler) handled like Ctrl-C, so
    the file being written is cleaned up instead of leaving a temporary file behind."""


@contextlib.contextmanager
def _sigterm_interrupts():
    def handler(signum, frame):
        raise _Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):  # not the main thread (e.g. called from a server): leave it alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _output_settings(args: argparse.Namespace, hints: list) -> dict:
    """What the outputs depend on (recorded in each; see tinct.inference.provenance), found
    without loading the model: the weights file's bytes, --size, --vividness, the hints."""
    import os

    from tinct.inference.colorizer import resolve_weights
    from tinct.inference.provenance import describe

    if args.backend == "torch" and args.onnx is not None:  # as Colorizer.load says, before any work
        raise ValueError("an ONNX file was given with the torch backend; use backend onnxruntime or auto")
    for option, path in (("--weights", args.weights), ("--onnx", args.onnx)):
        if path is not None and not os.path.isfile(path):
            raise FileNotFoundError(f"{option} {path}: no such file")
    if args.weights is not None:
        weights, arch = args.weights, args.model
    else:
        weights, arch = resolve_weights(args.model), None
    return describe(weights, architecture=arch, onnx=args.onnx, size=args.size, vividness=args.vividness, hints=hints)


def _run_colorize(args: argparse.Namespace) -> int:
    import os

    from tinct.batch import colorize_paths
    from tinct.inference.batch import Shard, rank_log_path, single_output, wait_for_all_ranks
    from tinct.threads import get_num_threads

    log = logging.getLogger("tinct.colorize")

    _check_common(args)
    shard = Shard.from_env()
    _threads(args)
    if shard.enabled and args.device in ("auto", "cuda"):
        import torch

        if torch.cuda.is_available():  # one GPU per process, as torchrun's LOCAL_RANK says
            args.device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0)) % torch.cuda.device_count()}"
    hints = _read_hints(args)
    references = None
    if args.references:  # a gray or unreadable reference fails here, before the model is loaded
        from tinct.inference.reference import digest_references, load_references

        references = load_references(args.references)
    single = single_output(args.inputs, args.out, args.fmt)  # a bad -o fails before any work
    settings = _output_settings(args, hints)
    if args.references:  # an output made with other references (or none) is made again
        settings["references"] = digest_references(references)

    def load():
        import time

        start = time.perf_counter()
        colorizer = _load_colorizer(args, args.model, weights=args.weights, backend=args.backend)
        log.info(
            "model %s from %s: backend %s on %s, working size %s px, %d thread(s); loaded in %.2f s",
            colorizer.spec.name,
            colorizer.source,
            colorizer.backend.name,
            colorizer.device,
            colorizer.spec.fixed_size or colorizer.size or colorizer.spec.preferred_size,
            get_num_threads(),
            time.perf_counter() - start,
        )
        return colorizer

    journal = rank_log_path(args.log, single.parent if single else args.out, shard)
    with _sigterm_interrupts():
        report = colorize_paths(
            args.inputs,
            args.out,
            load,
            fmt=args.fmt,
            overwrite=args.overwrite,
            shard=shard,
            log=journal,
            hints=hints,
            vividness=args.vividness,
            reference=references,
            settings=settings,
            compare=args.compare,
            quiet=args.quiet,
        )
        if not shard.enabled:
            if not args.quiet:
                print(report.summary())
            return 1 if report.failed else 0
        print(f"rank {shard.rank}/{shard.world_size}: {report.summary()}", flush=True)
        totals = wait_for_all_ranks(report, shard)
    if totals is None:
        return 1 if report.failed else 0
    done, skipped, failed = totals
    if shard.rank == 0:
        print(f"all {shard.world_size} ranks: colorized {done}, skipped {skipped}, failed {failed}", flush=True)
    return 1 if failed else 0


def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="score models against color photos (PSNR, SSIM, colorfulness, CIEDE2000) or videos (flicker)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Each photo in DATA (walked recursively) is reduced to its lightness, colorized by every\n"
            "--model and compared with the original; the gray baseline (no color) is always included.\n"
            "Writes per_image.csv, summary.csv, summary.md and grid.jpg into --out.\n\n"
            "With --hints 0,1,2,5,...: each model that takes hints is also scored with N hints per photo,\n"
            "for each N, at positions drawn uniformly (seeded by --hint-seed and the photo's name; the\n"
            "hints of a smaller N are among those of a larger one) and colored with the photo's true\n"
            "color there (mean of 3x3 pixels). Rows read 'model @N hints'; models without hint input\n"
            "are scored at N = 0 only. The CSVs gain a hints column; psnr_vs_hints.png plots PSNR.\n\n"
            "Color videos in DATA (.mp4 .mov .mkv .avi .webm .m4v) are reduced to L* and colorized frame\n"
            "by frame and with tinct's temporal filter; flicker (mean a*b* change at pixels whose gray\n"
            "input is static) of both and of the truth, and mean CIEDE2000 against the truth, go to\n"
            "video.tsv in --out (see docs/video.md). --limit then counts frames per video."
        ),
    )
    p.add_argument("data", metavar="DATA", help="folder (or file) of color photos or videos")
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
    p.add_argument("--threads", type=int, help="CPU threads (color conversion, ONNX Runtime, torch)")
    p.add_argument(
        "--weights",
        action="append",
        default=[],
        metavar="FILE",
        help="state dict (.pth or .safetensors) for a --model that names an architecture, e.g. "
        "--model eccv16 --weights e.pth; repeat for several, in the order of those --model values",
    )
    p.add_argument("--hints", dest="hint_counts", metavar="N,N,...", help="hint counts to score, e.g. 0,1,2,5,10,20,50")
    p.add_argument("--hint-seed", type=int, default=0, help="seed of the hint sampling (default: 0)")
    p.set_defaults(func=_run_eval)


def _display_names(specs: list[str]) -> list[str]:
    """Short unique labels: the file stem, with as many parent folders as needed to tell apart
    e.g. runs/a/checkpoints/best.safetensors and runs/b/checkpoints/best.safetensors."""
    from pathlib import PurePath

    def parts(spec: str) -> tuple[str, ...]:
        if not spec.endswith((".safetensors", ".pth", ".pt")):  # weights files: named by their stem
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


def _hint_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 0:
        raise ValueError(f"--hints: expected hint counts >= 0 separated by commas, e.g. 0,1,2,5, got {text!r}")
    return counts


def _weights_per_model(models: list[str], weights: list[str]) -> list[str | None]:
    """The k-th --weights goes with the k-th --model that names an architecture."""
    if not weights:
        return [None] * len(models)
    from tinct.models import list_models

    archs = [i for i, spec in enumerate(models) if spec in list_models()]
    if len(archs) != len(weights):
        raise ValueError(
            f"--weights: got {len(weights)} file(s) for {len(archs)} --model value(s) naming an architecture "
            f"({', '.join(list_models())}); give one --weights per such --model, in order"
        )
    paired: list[str | None] = [None] * len(models)
    for i, file in zip(archs, weights, strict=True):
        paired[i] = file
    return paired


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
    if not data.is_file() or _is_video(data):  # videos are scored on their own (flicker)
        videos = list_images(data, extensions=_video_extensions()) if data.is_dir() else [data]
        if videos:
            status = _run_eval_videos(args, videos)
            paths = [p for p in paths if not _is_video(p)] if data.is_dir() else []
            if not paths:
                return status
    if not paths:
        raise ValueError(f"{data}: no images found")
    if args.limit is not None:
        paths = paths[: args.limit]
    names = [str(p.relative_to(data)) if data.is_dir() else p.name for p in paths]
    hint_counts = _hint_counts(args.hint_counts) if args.hint_counts is not None else None
    weights = _weights_per_model(args.models, args.weights)
    colorizers = {}
    for label, spec, file in zip(_display_names(args.models), args.models, weights, strict=True):
        # torch, not "auto": the scores describe the model itself, and need no ONNX export per model.
        colorizers[label] = _load_colorizer(args, spec, weights=file)
    results = evaluate_models(
        paths, colorizers, names=names, vividness=args.vividness, hint_counts=hint_counts, hint_seed=args.hint_seed
    )
    for note in results.notes:
        print(f"note: {note}", file=sys.stderr)
    print(results.format_table())
    written = write_results(results, args.out)
    print(f"{results.num_images} photo(s) evaluated; wrote {', '.join(written)} to {args.out}")
    if results.failed:
        print(f"{len(results.failed)} photo(s) failed", file=sys.stderr)
    return 1 if results.failed else 0


def _is_video(path) -> bool:
    from tinct.io.video import is_video_path

    return is_video_path(path)


def _video_extensions() -> frozenset:
    from tinct.io.video import VIDEO_EXTENSIONS

    return VIDEO_EXTENSIONS


def _run_eval_videos(args: argparse.Namespace, videos: list) -> int:
    """``tinct eval`` on color videos: flicker and CIEDE2000 per model (tinct.video.evaluate)."""
    from tinct.io.images import atomic_write_bytes
    from tinct.video.evaluate import evaluate_videos, video_table

    if args.hint_counts is not None:
        raise ValueError("--hints: hint counts are scored on photos only, not on videos")
    rows, failed = [], []
    weights = _weights_per_model(args.models, args.weights)
    for label, spec, file in zip(_display_names(args.models), args.models, weights, strict=True):
        colorizer = _load_colorizer(args, spec, weights=file, backend="auto")
        found, bad = evaluate_videos(colorizer, videos, vividness=args.vividness, limit=args.limit)
        rows += [{"model": label, **row} for row in found]
        failed += bad
    for line in dict.fromkeys(failed):
        print(line, file=sys.stderr)
    table = video_table(rows, extra=("model",))
    print(table, end="")
    from pathlib import Path

    out = Path(args.out) / "video.tsv"
    atomic_write_bytes(out, table.encode())
    print(f"{len(rows)} video score(s); wrote {out}")
    return 1 if failed else 0


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
    _print_published()
    return 0


def _print_published() -> None:
    from tinct.models.ddcolor import PUBLISHED

    print("published weights tinct loads as downloaded (--model FILE.pth; tinct downloads nothing):")
    for name, (encoder, page) in PUBLISHED.items():
        print(f"  {name:<20} ddcolor {encoder:<11} {page}")


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a model to ONNX (decoding included) and verify it with onnxruntime",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Write MODEL as an ONNX graph: inputs L (N,1,H,W) L* in [0,100], hints (N,3,H,W) for hint\n"
            "models, vividness (scalar in [0,1], unless --vividness bakes one in); output ab (N,2,h,w)\n"
            "a*b* already decoded. Batch, height and width are dynamic. The export is checked against\n"
            "torch with onnxruntime at two input sizes (needs the 'onnx' extra)."
        ),
    )
    p.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    p.add_argument("-o", "--out", required=True, metavar="FILE.onnx", help="ONNX file to write")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version (default: 17)")
    p.add_argument("--vividness", type=float, help="bake this vividness in (default: a 'vividness' input)")
    p.set_defaults(func=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from tinct.export.onnx import export_onnx
    from tinct.inference import Colorizer

    colorizer = Colorizer.load(args.model, backend="torch", device="cpu")
    path = export_onnx(colorizer.model, args.out, opset=args.opset, vividness=args.vividness)
    print(f"wrote {path} (opset {args.opset}, verified against torch with onnxruntime)")
    return 0


def _add_convert(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="rewrite published weights (e.g. DDColor's .pth) as a self-describing .safetensors file",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Read FILE (a published checkpoint such as ddcolor_paper_tiny.pth, loaded with\n"
            "torch.load(weights_only=True) and recognised by its keys, or a tinct .safetensors file) and\n"
            "write it as .safetensors with its architecture, config and source in the metadata: it then\n"
            "loads without any pickle (--model OUT.safetensors)."
        ),
    )
    p.add_argument("source", metavar="FILE", help="weights file (.pth, .pt or .safetensors)")
    p.add_argument("-o", "--out", required=True, metavar="OUT.safetensors", help="file to write")
    p.add_argument("--half", action="store_true", help="store float16 (half the size; loaded as float32)")
    p.set_defaults(func=_run_convert)


def _run_convert(args: argparse.Namespace) -> int:
    from tinct.models.loading import convert_checkpoint

    path, meta = convert_checkpoint(args.source, args.out, half=args.half)
    config = meta["config"]
    details = f" ({config['encoder']})" if "encoder" in config else ""
    print(f"wrote {path}: {meta['model']}{details} from {meta['source']}")
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    # Users get "warning: <file>: <what>" on one line, not Python's file:line and source code.
    print("warning: " + " ".join(str(message).split()), file=sys.stderr if file is None else file)


def _add_serve(sub: argparse._SubParsersAction) -> None:
    from tinct.serve.settings import UPLOAD_MAX_PIXELS

    p = sub.add_parser(
        "serve",
        help="a local web page and HTTP API for colorizing (needs the 'serve' extra)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Serve a page (drag a photo in, compare before/after, vividness, color hints, download)\n"
            "and an HTTP API (POST /api/colorize, GET /api/health, /api/models; docs at /docs).\n"
            "The model is loaded once. Listens on 127.0.0.1 only unless --host says otherwise."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests whose Host is NAME (repeatable; '*': any). Loopback names and "
        "the --host address are always allowed; other names are refused against DNS rebinding",
    )
    p.add_argument("--model", default="default", metavar="NAME|PATH", help=f"{_MODEL_HELP} (the default)")
    p.add_argument("--workers", type=int, help="colorizations run at once, in threads (default: 2 on 2+ cores)")
    p.add_argument("--queue", type=int, default=16, help="requests that may wait for a worker before 503 (default: 16)")
    p.add_argument("--max-upload-mb", type=float, default=25.0, help="largest upload in MB (default: 25)")
    p.add_argument("--max-pixels", type=int, default=UPLOAD_MAX_PIXELS, help="largest width*height in pixels")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per colorization before 504 (default: 60)")
    p.add_argument("--threads", type=int, help="torch threads per colorization (default: cores / workers)")
    p.add_argument("--size", type=int, help="working resolution: longer side in pixels (default: model's)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default: auto)")
    _add_backend_options(p)
    p.set_defaults(func=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    import tinct.serve

    tinct.serve.run(
        host=args.host,
        port=args.port,
        model=args.model,
        workers=args.workers,
        queue=args.queue,
        max_upload_mb=args.max_upload_mb,
        max_pixels=args.max_pixels,
        timeout=args.timeout,
        threads=args.threads,
        device=args.device,
        size=args.size,
        backend=args.backend,
        onnx=args.onnx,
        log_level="warning" if args.quiet else "debug" if args.verbose else "info",
        allowed_hosts=tuple(args.allow_host),
    )
    return 0


class _StderrHandler(logging.Handler):
    """tinct's log lines on the current sys.stderr, above any progress bar (tqdm.write)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


def _log_to_stderr(level: int) -> None:
    """Route the ``tinct`` loggers to stderr at ``level``, on their own handler rather than by
    ``logging.basicConfig``, which does nothing when the root logger already has a handler (an
    embedding application, a test runner). Records still propagate to the root's handlers."""
    logger = logging.getLogger("tinct")
    logger.setLevel(level)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        logger.addHandler(handler)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinct",
        description="Colorize black-and-white photographs with convolutional neural networks.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"tinct {__version__}")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-v", "--verbose", action="count", default=0, help="say what runs (-v: model, backend, timings; -vv: debugging)"
    )
    verbosity.add_argument("-q", "--quiet", action="store_true", help="print failures only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_train(sub)
    _add_colorize(sub)
    _add_eval(sub)
    _add_models(sub)
    _add_export(sub)
    _add_convert(sub)
    _add_serve(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose and args.quiet:
        parser.error("-q/--quiet and -v/--verbose contradict each other")
    if args.quiet:
        level = logging.ERROR
    else:
        level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    _log_to_stderr(level)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, ImportError) as err:
        print(f"tinct {args.command}: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        # Refused or broken weights/checkpoints (e.g. `train --resume` on a pickle that would run
        # code) are a usage error with a one-line message, not a crash. Checked by name so that
        # `tinct --help` does not import torch.
        if type(err).__name__ != "WeightsError":
            raise
        print(f"tinct {args.command}: error: {err}", file=sys.stderr)
        return 2
