"""`tinct` command line: arguments mapped to library calls, and their results printed.

tinct train DATA ...        tinct.train.fit(tinct.train.resolve_config(...)); options: TrainConfig's fields
tinct colorize INPUT ...    tinct.batch.colorize_paths
tinct eval DATA ...         tinct.metrics.evaluate.evaluate_models; videos: tinct.video.evaluate
tinct export MODEL ...      tinct.export.onnx.export_onnx
tinct convert FILE ...      tinct.models.loading.convert_checkpoint
tinct models                tinct.models.list_models + bundled weights
tinct serve                 tinct.serve.run(ServeSettings(...)); options: ServeSettings' fields
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import warnings

from tinct import __version__
from tinct.inference.lookup import MODEL_HELP  # torch-free, as `tinct --help` must be


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def _add_fields(p: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One option per field of the dataclass ``cls`` that has a help text (``metadata["help"]``), so
    the command line cannot drift from the library. Every default is None ("not given"): the
    dataclass (or a --config recipe) supplies the value, and the help shows it. A field's metadata
    may also name the option ("flag"), say how its default reads ("shown"), give the unit the option
    counts in ("unit": e.g. 2**20 for megabytes of a field in bytes) and argparse settings."""
    import dataclasses
    import types
    import typing

    types_ = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if field.name in skip or "help" not in field.metadata:
            continue
        extra = dict(field.metadata)  # what is left of it after the pops goes to argparse
        text, unit = extra.pop("help"), extra.pop("unit", 1)
        flag = extra.pop("flag", "--" + field.name.replace("_", "-"))
        kind = types_[field.name]
        if typing.get_origin(kind) in (typing.Union, types.UnionType):  # X | None -> X
            kind = next(t for t in typing.get_args(kind) if t is not type(None))
        default = field.default_factory() if field.default is dataclasses.MISSING else field.default
        shown = extra.pop("shown", None if default in (None, [], (), False) else default)
        if unit != 1:
            kind, shown = float, f"{default / unit:g}"
        text = text.replace("%", "%%") + ("" if shown is None else f" (default: {shown})")
        if "choices" not in extra:  # argparse would name it after dest, e.g. TORCH_THREADS for --threads
            extra.setdefault("metavar", flag[2:].upper().replace("-", "_"))
        if kind is bool:
            p.add_argument(flag, dest=field.name, action="store_true", default=None, help=text)
        elif typing.get_origin(kind) in (list, tuple):
            p.add_argument(flag, dest=field.name, action="append", type=typing.get_args(kind)[0], help=text, **extra)
        else:
            p.add_argument(flag, dest=field.name, type=kind, help=text, **extra)


def _given(args: argparse.Namespace, cls: type) -> dict:
    """The fields of ``cls`` the command line gave (see :func:`_add_fields`), in the field's unit."""
    import dataclasses

    given = {}
    for field in dataclasses.fields(cls):
        value = getattr(args, field.name, None)
        if value is None:
            continue
        unit = field.metadata.get("unit", 1)
        if unit != 1:
            if not value > 0:
                raise ValueError(f"{field.metadata['flag']} must be positive, got {value}")
            value = int(value * unit)
        given[field.name] = tuple(value) if isinstance(field.default, tuple) else value
    return given


def _add_train(sub: argparse._SubParsersAction) -> None:
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
    _add_fields(p, TrainConfig, skip=("data", "model_args"))
    p.set_defaults(func=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from tinct.train import TrainConfig, fit, resolve_config

    result = fit(resolve_config(args.config, head=args.head, **_given(args, TrainConfig)))
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


def _check_common(args: argparse.Namespace) -> None:
    from tinct.vividness import check_vividness

    if args.vividness is not None:
        check_vividness(args.vividness)
    if args.size is not None and args.size < 1:
        raise ValueError(f"--size must be a positive number of pixels, got {args.size}")


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
    p.add_argument("--model", default="default", metavar="NAME|PATH", help=f"{MODEL_HELP} (the default)")
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
    group.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="print failures only")


def _add_backend_options(p: argparse.ArgumentParser, default: str | None = "auto") -> None:
    """--backend and --onnx; ``default`` None: the library's (``tinct serve``'s ServeSettings)."""
    p.add_argument(
        "--backend",
        choices=("torch", "onnxruntime", "auto"),
        default=default,
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


def _run_colorize(args: argparse.Namespace) -> int:
    from tinct.batch import colorize_paths
    from tinct.device import local_device
    from tinct.inference.backends import check_backend_choice
    from tinct.inference.batch import Shard, rank_log_path, single_output, wait_for_all_ranks
    from tinct.inference.hint_specs import gather_hints
    from tinct.inference.provenance import describe_request
    from tinct.threads import get_num_threads

    log = logging.getLogger("tinct.colorize")

    _check_common(args)
    shard = Shard.from_env()
    _threads(args)
    if shard.enabled:  # one GPU per process, as torchrun's LOCAL_RANK says
        args.device = local_device(args.device)
    hints = gather_hints(args.hints_file, args.hint_specs)  # malformed ones fail before the model loads
    references = None
    if args.references:  # a gray or unreadable reference fails here, before the model is loaded
        from tinct.inference.reference import digest_references, load_references

        references = load_references(args.references)
    single = single_output(args.inputs, args.out, args.fmt)  # a bad -o fails before any work
    check_backend_choice(args.backend, args.onnx)  # before any work, as Colorizer.load would
    settings = describe_request(  # what the outputs depend on (recorded in each), without the model
        args.model, weights=args.weights, onnx=args.onnx, size=args.size, vividness=args.vividness, hints=hints
    )
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
        help=MODEL_HELP + "; repeat to compare several models",
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


def _run_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tinct.io.video import list_media
    from tinct.metrics.evaluate import evaluate_models, model_labels, pair_weights, parse_hint_counts, write_results

    _check_common(args)
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
    _threads(args)
    data = Path(args.data)
    paths, videos = list_media(data)
    models = list(zip(model_labels(args.models), args.models, pair_weights(args.models, args.weights), strict=True))
    status = _run_eval_videos(args, models, videos) if videos else 0  # videos are scored on their own (flicker)
    if videos and not paths:
        return status
    if not paths:
        raise ValueError(f"{data}: no images found")
    if args.limit is not None:
        paths = paths[: args.limit]
    names = [str(p.relative_to(data)) if data.is_dir() else p.name for p in paths]
    hint_counts = parse_hint_counts(args.hint_counts) if args.hint_counts is not None else None
    # torch, not "auto": the scores describe the model itself, and need no ONNX export per model.
    colorizers = {label: _load_colorizer(args, spec, weights=file) for label, spec, file in models}
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
    return 1 if results.failed or status else 0


def _run_eval_videos(args: argparse.Namespace, models: list[tuple[str, str, str | None]], videos: list) -> int:
    """``tinct eval`` on color videos: flicker and CIEDE2000 per model (tinct.video.evaluate)."""
    from tinct.video.evaluate import evaluate_videos, video_table, write_video_table

    if args.hint_counts is not None:
        raise ValueError("--hints: hint counts are scored on photos only, not on videos")
    rows, failed = [], []
    for label, spec, file in models:
        colorizer = _load_colorizer(args, spec, weights=file, backend="auto")
        found, bad = evaluate_videos(colorizer, videos, vividness=args.vividness, limit=args.limit)
        rows += [{"model": label, **row} for row in found]
        failed += bad
    for line in dict.fromkeys(failed):
        print(line, file=sys.stderr)
    print(video_table(rows, extra=("model",)), end="")
    out = write_video_table(rows, args.out, extra=("model",))
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
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
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
    import inspect

    from tinct.serve import ServeSettings, run

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
    # --host and --port are tinct.serve.run's, every other option a field of ServeSettings.
    where = inspect.signature(run).parameters
    host, port = where["host"].default, where["port"].default
    p.add_argument("--host", default=host, help=f"address to bind (default: {host}, this machine only)")
    p.add_argument("--port", type=int, default=port, help=f"port (default: {port})")
    _add_fields(p, ServeSettings)
    _add_backend_options(p, default=None)
    p.set_defaults(func=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    from tinct.serve import ServeSettings, run

    level = "warning" if args.quiet else "debug" if args.verbose else "info"
    run(ServeSettings(**_given(args, ServeSettings)), host=args.host, port=args.port, log_level=level)
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
    except Exception as err:
        # Refused or broken weights/checkpoints (e.g. `train --resume` on a pickle that would run
        # code) are a usage error with a one-line message, not a crash. WeightsError is imported
        # only once something failed, so that `tinct --help` imports no more than it needs.
        from tinct.io.weights import WeightsError

        if not isinstance(err, (ValueError, FileNotFoundError, ImportError, WeightsError)):
            raise
        print(f"tinct {args.command}: error: {err}", file=sys.stderr)
        return 2
