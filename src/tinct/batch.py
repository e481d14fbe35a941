"""A batch of photos and films: folder in, folder out, what ``tinct colorize`` runs.

:func:`colorize_paths` plans the outputs, takes this process's share, cleans up what a killed
run left, and runs the files in order: each run of photos through the staged pipeline
(``tinct.inference.batch.colorize_photos``), each film by itself (``tinct.video.colorize_video``,
the same pipeline over its frames). It sits above both ``tinct.inference`` and ``tinct.video``;
the parts a batch is made of (planning, shards, the log, the rules for skipping and resuming)
live in ``tinct.inference.batch``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from tinct.inference import batch, provenance
from tinct.inference.batch import BatchReport, Shard
from tinct.inference.colorizer import Colorizer
from tinct.io.video import is_video_path
from tinct.video.colorize import colorize_video

__all__ = ["BatchReport", "Shard", "colorize_paths"]


def colorize_paths(
    inputs: list[str | os.PathLike],
    out_dir: str | os.PathLike,
    colorizer: Colorizer | Callable[[], Colorizer],
    *,
    fmt: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    shard: Shard | None = None,
    log: str | os.PathLike | None = None,
    hints: Sequence[Any] | None = None,
    vividness: float | None = None,
    reference: Any = None,
    settings: Mapping[str, Any] | None = None,
    compare: bool = False,
    quiet: bool = False,
) -> BatchReport:
    """Colorize files and folders into ``out_dir``.

    Args:
        inputs: image files and/or folders (walked recursively, structure mirrored).
        out_dir: an output folder, created if needed (it may be an input folder: inputs are
            still never overwritten), or, for a single photo or video, an output file (see
            ``tinct.inference.batch.single_output``: ``old.jpg`` → ``colored.png``).
        colorizer: the model to use, or a function that loads it: called only when some file
            needs colorizing, so a rerun with nothing to do loads no model.
        fmt: output format ``"png"``, ``"jpg"``, ``"webp"`` or ``"tiff"``; ``None`` keeps each
            input's own format (formats we cannot write, e.g. GIF or BMP, become PNG).
        overwrite: replace every existing output. Otherwise an existing output is skipped when
            its recorded settings (``tinct.inference.provenance``) equal ``settings`` (so an
            interrupted batch resumes), made again when they differ (it is tinct's own output
            of other settings: e.g. a rerun with another vividness), and skipped with a line
            saying so when it records none (a file tinct did not write is never replaced).
        progress: show a tqdm bar on stderr (only when stderr is a terminal).
        shard: do only this process's share of the outputs (see :class:`Shard`); default all.
            Every process plans the whole batch the same way and keeps its own outputs;
            problems that concern no single output (an input folder without images) are
            reported by rank 0 only.
        log: append one JSON object per input of this shard to this file, as it is done:
            ``{"input", "output", "status": "ok" | "skipped" | "failed", "error", "warning",
            "seconds"}`` (``error`` and ``warning`` are one line or null; ``seconds`` is the
            wall time spent on the file). Use ``batch.rank_log_path`` for one file per rank.
        hints: color hints given to every image (see ``Colorizer.colorize``; positions in input
            pixels): an image a hint falls outside of fails, the rest go on.
        vividness: saturation in [0, 1] for every image; default the colorizer's.
        reference: color photos for every image and video (see ``Colorizer.colorize``),
            prepared once here; recorded in the outputs' settings.
        settings: what the outputs depend on (``provenance.describe``), recorded in each output;
            default: described from ``colorizer`` when it is a Colorizer loaded from a file.
        compare: also write a before/after picture beside each output
            (``provenance.compare_path``: the gray input left, the colorization right; a film
            gets a side-by-side film).
        quiet: print nothing but failures (no progress bar, no skip lines).

    Returns:
        A :class:`BatchReport` of this shard. Every failure is also printed to stderr as one
        line ``"path: reason"`` when it happens, and every warning as ``"warning: path: ..."``;
        the batch goes on.

    Raises:
        ValueError: unknown ``fmt``, bad ``vividness``, ``hints`` for a model that takes none, or
            a gray or unreadable reference. Anything else that stops the batch (e.g. weights
            that cannot be loaded) is raised as it is; from the photos' pipeline, with a note
            naming the stage and the photo.
    """
    batch.check_format(fmt)  # fail before doing anything
    want = batch.Wanted(overwrite, settings, compare)
    request = batch.Request.prepare(colorizer, hints=hints, vividness=vividness, reference=reference, want=want)
    shard = shard or Shard()
    out_dir = Path(out_dir)
    report = BatchReport()
    with batch.Tally(report, log, quiet) as tally:
        pairs, problems = batch.plan(inputs, out_dir, fmt)
        mine, others = batch.share(pairs, problems, out_dir, shard, tally)
        batch.remove_stale_temps([dst for _, dst in mine], others)
        progress = progress and not quiet
        desc = f"colorize rank {shard.rank}/{shard.world_size}" if shard.enabled else "colorize"
        # One file has no use for a bar of files (a film's own bar counts its frames).
        show = None if progress and len(mine) > 1 else True
        bar = tqdm(total=len(mine), desc=desc, unit="file", disable=show, file=sys.stderr)
        with contextlib.closing(_run(mine, request, batch.input_file_keys(pairs), progress)) as results:
            for result in results:
                tally.finish(result)
                bar.update()
        bar.close()
    return report


def _run(
    pairs: list[tuple[Path, Path]], request: batch.Request, input_keys: set, progress: bool
) -> Iterator[batch.FileResult]:
    """Every file's result in input order: each run of photos through the staged pipeline, each
    film by itself (it keeps the cores busy with its own pipeline of frames)."""
    for films, group in itertools.groupby(pairs, key=lambda pair: is_video_path(pair[0])):
        if films:
            for src, dst in group:
                yield _colorize_film(src, dst, request, input_keys, progress)
        else:
            with batch.colorize_photos(list(group), request, input_keys) as photos:
                yield from photos


def _colorize_film(src: Path, dst: Path, request: batch.Request, input_keys: set, progress: bool) -> batch.FileResult:
    """A film's whole way (read, colorize, write atomically) as one result, like a photo's, with
    a second progress bar counting its frames."""
    result = batch.FileResult.begin(src, dst, request.want, input_keys)
    if result.status != "todo":
        return result
    colorizer = request.model.get()
    want = request.want
    bar = tqdm(desc=src.name, unit="frame", leave=False, disable=None if progress else True, file=sys.stderr)

    def step(done: int, total: int | None) -> None:
        if total and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    def write() -> None:
        colorize_video(
            colorizer,
            src,
            dst,
            hints=request.hints,
            vividness=request.vividness,
            reference=request.references,
            overwrite=batch.may_replace(dst, want),
            progress=step,
            description=want.description,
            compare=provenance.compare_path(dst) if want.compare else None,
        )

    try:
        batch.settle(result, want, write, also=(ImportError,))  # ImportError: PyAV is missing
    finally:
        bar.close()
    return result
