"""Folder in, folder out: a batch's parts, and its photos. ``tinct.batch.colorize_paths`` (what
``tinct colorize`` runs) puts them together with films, which live above this layer.

Each output is written atomically, so after an interruption every existing output is complete
and a rerun (without ``overwrite``) skips it and goes on with the rest; temporary files left by
a killed run are removed by the rerun.

Under ``torchrun`` (``RANK`` / ``WORLD_SIZE`` in the environment) every process takes a disjoint
:class:`Shard` of the outputs: an output belongs to rank ``blake2b(relative output path) mod
world size``. A hash of the path, not "the i-th file of the sorted list", because a file's owner
then depends on its own name only: ranks that list a folder at slightly different times (files
still arriving, outputs written into an input folder) or under different mount points (multi-node)
can never both take, or both leave out, the same file. The price, a shard-size spread of about
sqrt(files / world size), is small next to the spread of per-file times. No process group is
needed while working: a dead or slow rank never stalls the others, and a rerun with any number
of processes finishes whatever is missing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import sys
import time
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from tqdm import tqdm

from tinct.inference import provenance
from tinct.inference.colorizer import Colorizer
from tinct.inference.reference import Reference, digest_references, load_references
from tinct.io.images import (
    IMAGE_EXTENSIONS,
    WRITE_FORMATS,
    ImageReadError,
    ImageWriteError,
    list_images,
    output_encoding,
    read_image,
    temp_file_target,
    write_image,
)
from tinct.io.video import VIDEO_EXTENSIONS, is_video_path
from tinct.pipeline import staged

__all__ = [
    "BatchReport",
    "FileResult",
    "Request",
    "Shard",
    "Tally",
    "Wanted",
    "check_format",
    "colorize_photos",
    "input_file_keys",
    "may_replace",
    "nothing_to_do",
    "plan",
    "plan_outputs",
    "rank_log_path",
    "remove_stale_temps",
    "settle",
    "shard_index",
    "share",
    "single_output",
    "wait_for_all_ranks",
]

_log = logging.getLogger(__name__)

#: Errors that cost one file, not the batch.
_FILE_ERRORS = (ImageReadError, ImageWriteError, ValueError, OSError, MemoryError)


#: Default JSON-lines log of a sharded run, in the output folder; ``{rank}`` is the process's rank.
LOG_NAME = "colorize-log.rank{rank}.jsonl"


@dataclasses.dataclass
class BatchReport:
    """Outcome of :func:`colorize_paths`: counts, and one ``"path: reason"`` line per failure."""

    done: int = 0
    skipped: int = 0
    failed: list[str] = dataclasses.field(default_factory=list)
    #: One ``"output: why"`` line per skipped file (also printed as it happens, unless quiet).
    skip_reasons: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return f"colorized {self.done}, skipped {self.skipped}, failed {len(self.failed)}"

    def __str__(self) -> str:
        return self.summary()


# --------------------------------------------------------------------------------------------
# Sharding


def shard_index(key: str, world_size: int) -> int:
    """The rank in ``0 .. world_size - 1`` that owns ``key`` (a relative output path, ``/``-separated).

    Stable across processes, machines and Python versions (blake2b, not the salted ``hash``);
    the key is NFC-normalised so that a macOS (NFD) and a Linux node agree on accented names.
    """
    if world_size < 1:
        raise ValueError(f"world_size must be at least 1, got {world_size}")
    data = unicodedata.normalize("NFC", key).encode("utf-8", "surrogateescape")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big") % world_size


@dataclasses.dataclass(frozen=True)
class Shard:
    """This process's share of a batch: the outputs whose :func:`shard_index` is ``rank``."""

    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise ValueError(f"invalid shard: rank {self.rank} of world size {self.world_size}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Shard:
        """``RANK`` and ``WORLD_SIZE`` as set by torchrun (or any launcher); rank 0 of 1 without them.

        Raises:
            ValueError: values that are not integers, or a rank outside ``0 .. WORLD_SIZE - 1``.
        """
        env = os.environ if environ is None else environ
        text = (env.get("RANK", "0"), env.get("WORLD_SIZE", "1"))
        try:
            rank, world_size = int(text[0]), int(text[1])
        except ValueError:
            raise ValueError(f"RANK={text[0]!r} WORLD_SIZE={text[1]!r}: expected integers") from None
        try:
            return cls(rank, world_size)
        except ValueError as err:
            raise ValueError(f"RANK={text[0]} WORLD_SIZE={text[1]}: {err}") from None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def owns(self, key: str) -> bool:
        return self.world_size == 1 or shard_index(key, self.world_size) == self.rank


def _shard_key(dst: Path, out_dir: Path) -> str:
    try:
        return dst.relative_to(out_dir).as_posix()
    except ValueError:  # not produced by plan_outputs; still a stable key
        return dst.as_posix()


def rank_log_path(path: str | os.PathLike | None, out_dir: str | os.PathLike, shard: Shard) -> Path | None:
    """Where this process appends its JSON-lines log.

    ``path`` given: that file for a single process, ``<stem>.rank<R><suffix>`` beside it for a
    sharded run (one file per rank: no two processes ever append to the same file). ``None``:
    ``OUTDIR/colorize-log.rank<R>.jsonl`` for a sharded run, no log for a single process.
    """
    if path is None:
        return Path(out_dir) / LOG_NAME.format(rank=shard.rank) if shard.enabled else None
    path = Path(path)
    if not shard.enabled:
        return path
    return path.with_name(f"{path.stem}.rank{shard.rank}{path.suffix}")


class _JsonLines:
    """Append-only log: one ``os.write`` per record on an ``O_APPEND`` descriptor, so a record is
    on disk whole as soon as the call returns, and a killed process loses at most the record it
    was about to write."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0), 0o666)
        # A record cut short by a crash (or a file edited by hand) must not swallow the next one.
        size = os.fstat(self.fd).st_size
        if size:
            with open(path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    os.write(self.fd, b"\n")

    def write(self, record: dict[str, Any]) -> None:
        try:
            data = json.dumps(record, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:  # undecodable file names (surrogate escapes): \u-escape them
            data = json.dumps(record).encode("ascii")
        os.write(self.fd, data + b"\n")

    def close(self) -> None:
        os.close(self.fd)


def remove_stale_temps(mine: list[Path], others: Iterable[Path]) -> int:
    """Delete the temporary files a killed run left for outputs of this shard.

    Temporary names keep only the first 100 characters of the target's name, so a temporary file
    whose prefix matches an output of another shard as well is left alone. One directory listing
    per output folder.
    """
    folders: dict[Path, set[str]] = {}
    for dst in mine:
        folders.setdefault(dst.parent, set()).add(dst.name[:100])
    for dst in others:
        if dst.parent in folders:
            folders[dst.parent].discard(dst.name[:100])
    removed = 0
    for folder, names in folders.items():
        if not names:
            continue
        try:
            with os.scandir(folder) as entries:
                stale = [e.path for e in entries if temp_file_target(e.name) in names]
        except OSError:  # no such folder yet, or unreadable: nothing to clean
            continue
        for path in stale:
            with contextlib.suppress(OSError):
                os.unlink(path)
                removed += 1
    return removed


def wait_for_all_ranks(report: BatchReport, shard: Shard, poll: float = 0.5) -> tuple[int, int, int] | None:
    """Under torchrun, wait until every rank has finished its shard; return the totals
    ``(done, skipped, failed)`` over all ranks, or ``None`` when that is not possible.

    Why wait at all: torchrun stops every process as soon as one exits with a non-zero status,
    so a rank whose shard had a bad file must not exit before the others are done. The only
    channel used is the key-value store torchrun's agent already runs (``MASTER_ADDR`` /
    ``MASTER_PORT``, ``TORCHELASTIC_USE_AGENT_STORE``): no process group, no collective, no
    timeout to tune. Polling keeps Ctrl-C responsive, and if another rank dies torchrun stops
    this one anyway, so the wait cannot hang. Without torchrun's agent store (other launchers)
    this returns ``None`` at once and each process reports only its own shard.
    """
    if not shard.enabled:
        return report.done, report.skipped, len(report.failed)
    env = os.environ
    if env.get("TORCHELASTIC_USE_AGENT_STORE") != "True" or "MASTER_ADDR" not in env or "MASTER_PORT" not in env:
        return None
    from datetime import timedelta

    from torch.distributed import TCPStore

    # The agent's store outlives restarted workers: keep each attempt's counters apart.
    prefix = f"tinct/colorize/{env.get('TORCHELASTIC_RUN_ID', '')}/{env.get('TORCHELASTIC_RESTART_COUNT', '0')}/"
    try:
        store = TCPStore(env["MASTER_ADDR"], int(env["MASTER_PORT"]), is_master=False, timeout=timedelta(seconds=60))
        store.add(prefix + "done", report.done)
        store.add(prefix + "skipped", report.skipped)
        store.add(prefix + "failed", len(report.failed))
        store.add(prefix + "ranks", 1)
        while store.add(prefix + "ranks", 0) < shard.world_size:
            time.sleep(poll)
        done, skipped, failed = (store.add(prefix + key, 0) for key in ("done", "skipped", "failed"))
    except (RuntimeError, OSError, ValueError) as err:
        reason = " ".join(str(err).split())
        tqdm.write(f"rank {shard.rank}: cannot reach the other ranks ({reason}); totals not known", file=sys.stderr)
        return None
    return done, skipped, failed


def _suffix(src: Path, fmt: str | None) -> str:
    if is_video_path(src):
        return ".mp4"  # H.264 in MP4 whatever the input's container; fmt is for images
    if fmt is not None:
        return output_encoding(fmt).suffix
    # Keep the input's format when we can write it; GIF, BMP & co. become lossless PNG.
    return src.suffix if src.suffix.lower() in WRITE_FORMATS else ".png"


def _file_key(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def single_output(inputs: Sequence[str | os.PathLike], out: str | os.PathLike, fmt: str | None = None) -> Path | None:
    """The output file ``out`` names, or ``None`` when ``out`` is a folder.

    ``out`` names a file when it is not an existing folder, does not end with a separator, and
    either has an image or video suffix or is an existing file: ``tinct colorize old.jpg -o
    colored.jpg`` writes that file, as ``tinct export -o`` does. Anything else is a folder
    (created if needed), as before: ``-o out``, ``-o out/``.

    Raises:
        ValueError: one line naming ``-o`` and the reason: a file for several inputs or a
            folder; a suffix that cannot hold the input (a photo as ``.mp4``, a video as
            ``.jpg``, ``.gif``); a ``fmt`` that disagrees with the suffix; ``out`` is the input.
    """
    text = os.fspath(out)
    path = Path(text)
    if text.endswith(("/", os.sep)) or path.is_dir():
        return None
    suffix = path.suffix.lower()
    if suffix not in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS and not os.path.lexists(path):
        return None  # a folder to create, e.g. -o out
    if len(inputs) != 1 or Path(inputs[0]).is_dir():
        what = f"{len(inputs)} inputs" if len(inputs) != 1 else f"the folder {inputs[0]}"
        kind = "an existing file" if os.path.lexists(path) else "a file"
        raise ValueError(f"-o {text}: names {kind}, but {what} need an output folder (e.g. -o out/)")
    src = Path(inputs[0])
    if is_video_path(src):
        if suffix != ".mp4":
            raise ValueError(f"-o {text}: {src} is a video, written as H.264 MP4: name a .mp4 file or a folder")
    elif suffix not in WRITE_FORMATS:
        raise ValueError(
            f"-o {text}: cannot write a photo as {suffix or 'a file without a suffix'}; "
            "name a .png, .jpg, .webp or .tiff file, or a folder"
        )
    elif fmt is not None and WRITE_FORMATS[_suffix(Path("x"), fmt)] != WRITE_FORMATS[suffix]:
        raise ValueError(f"-o {text} and --format {fmt} disagree; drop --format (the suffix decides)")
    same = _file_key(path)
    if same is not None and same == _file_key(src):
        raise ValueError(f"-o {text}: is the input itself; tinct never overwrites an input (name another file)")
    return path


def plan_outputs(
    inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike, fmt: str | None = None
) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Map inputs to output paths.

    A folder is expanded recursively (``tinct.io.list_images``) and its sub-folder structure is
    mirrored under ``out_dir``; a file (or a path that does not exist: it fails later, when it
    is read) maps to ``out_dir/<stem><suffix>``. Files already under ``out_dir`` are left out
    when ``out_dir`` lies inside an input folder, so a rerun does not colorize its own outputs.

    Returns:
        ``([(input, output), ...], problems)``: problems are ``"path: reason"`` lines, e.g. two
        inputs that would be written to the same output.
    """
    pairs, problems = plan(inputs, out_dir, fmt)
    return pairs, [line for _, _, line in problems]


def plan(
    inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike, fmt: str | None
) -> tuple[list[tuple[Path, Path]], list[tuple[Path, Path | None, str]]]:
    """:func:`plan_outputs`, with each problem as ``(input, output or None, line)``."""
    inputs = list(inputs)
    if (dst := single_output(inputs, out_dir, fmt)) is not None:
        return [(Path(inputs[0]), dst)], []
    out_dir = Path(out_dir)
    out_real = out_dir.resolve()
    pairs: list[tuple[Path, Path]] = []
    problems: list[tuple[Path, Path | None, str]] = []
    claimed: dict[Path, Path] = {}
    for item in inputs:
        root = Path(item)
        if root.is_dir():
            root_real = root.resolve()
            nested_out = out_real != root_real and _is_inside(out_real, root_real)
            unlisted: list[tuple[Path, str]] = []
            files = list_images(root, extensions=IMAGE_EXTENSIONS | VIDEO_EXTENSIONS, unreadable=unlisted)
            for folder, reason in unlisted:  # its files exist but are never done: a failure
                line = f"{folder}: {reason}; its files were not colorized"
                problems.append((folder, out_dir / folder.relative_to(root), line))
            if not files and not unlisted:
                problems.append((root, None, f"{root}: no images or videos found in this folder"))
            for src in files:
                if nested_out and _is_inside(src.resolve(), out_real):
                    continue
                rel = src.relative_to(root)
                pairs.append((src, out_dir / rel.parent / (src.stem + _suffix(src, fmt))))
        else:
            pairs.append((root, out_dir / (root.stem + _suffix(root, fmt))))
    unique = []
    for src, dst in pairs:
        key = Path(os.path.normcase(os.path.abspath(dst)))
        if key in claimed:
            if claimed[key] != src:  # the same file given twice is simply done once
                line = f"{src}: output {dst} would also be written for {claimed[key]}; skipped"
                problems.append((src, dst, line))
            continue
        claimed[key] = src
        unique.append((src, dst))
    return unique, problems


def _reason(src: Path, err: BaseException) -> str:
    if isinstance(err, ImageReadError):
        return str(err)  # already "path: reason"
    if isinstance(err, MemoryError):
        text = "out of memory"
    elif isinstance(err, ImageWriteError):
        text = str(err)  # names the output file
    else:
        text = f"{type(err).__name__}: {err}" if not isinstance(err, ValueError) else str(err)
    return " ".join(f"{src}: {text}".split())


@contextlib.contextmanager
def _warnings_as_lines(lines: list[str]) -> Iterator[None]:
    """Collect warnings (e.g. "animated, first frame only") as one-line strings instead of
    letting Python print them with a source-code line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    lines.extend(" ".join(str(w.message).split()) for w in caught)


# --------------------------------------------------------------------------------------------
# A batch's jobs, one function each: plan (above), share out (share), clean up
# (remove_stale_temps), run the photos (colorize_photos) and report each file (Tally).
# tinct.batch.colorize_paths calls them in that order and runs the films between the photos:
# it sits above tinct.video, which builds on this layer.


def check_format(fmt: str | None) -> None:
    """Raise ValueError for an output format that cannot be written (before any work)."""
    if fmt is not None:
        _suffix(Path("x"), fmt)


def share(
    pairs: list[tuple[Path, Path]],
    problems: list[tuple[Path, Path | None, str]],
    out_dir: Path,
    shard: Shard,
    tally: Tally,
) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """This process's share of a planned batch: ``(its (input, output) pairs, the outputs of the
    other shards)``. Its problems are reported through ``tally``; one that concerns no output (an
    input folder without images) is only printed, by rank 0."""
    for src, dst, line in problems:
        if dst is None:  # an empty folder: worth saying (once), but no file failed
            if shard.rank == 0:
                tqdm.write(line, file=sys.stderr)
        elif shard.owns(_shard_key(dst, out_dir)):
            tally.fail(line)
            tally.record(src, dst, "failed", 0.0, line, None)
    mine = [(src, dst) for src, dst in pairs if shard.owns(_shard_key(dst, out_dir))]
    others = [dst for _, dst in pairs if not shard.owns(_shard_key(dst, out_dir))] if shard.enabled else []
    return mine, others


def input_file_keys(pairs: Iterable[tuple[Path, Path]]) -> set[tuple[int, int]]:
    """The (device, inode) of every input that exists: an output that is one of them is refused."""
    return {key for key in (_file_key(src) for src, _ in pairs) if key is not None}


class _Model:
    """The colorizer, or the function that loads it, called the first time a file needs it."""

    def __init__(
        self, colorizer: Colorizer | Callable[[], Colorizer], hints: list[Any] | None, vividness: float | None
    ) -> None:
        self._colorizer = colorizer if isinstance(colorizer, Colorizer) else None
        self._load = colorizer
        self._request = (hints, vividness)
        self._checked = False

    def get(self) -> Colorizer:
        if self._colorizer is None:
            self._colorizer = self._load()
        if not self._checked:  # once, at the batch's boundary (Colorizer.check_request)
            self._colorizer.check_request(*self._request)
            self._checked = True
        return self._colorizer


@dataclasses.dataclass(frozen=True)
class Wanted:
    """What the outputs should be: replace them all, made with these settings, with a before/after."""

    overwrite: bool
    settings: Mapping[str, Any] | None
    compare: bool

    @property
    def description(self) -> str | None:
        return None if self.settings is None else provenance.encode_settings(self.settings)


@dataclasses.dataclass(frozen=True)
class Request:
    """What every file of a batch gets: the model (loaded when a file first needs it), the same
    hints, vividness and reference photos, and what its outputs should be."""

    model: _Model
    want: Wanted
    hints: list[Any] | None
    vividness: float | None
    references: tuple[Reference, ...] | None

    @classmethod
    def prepare(
        cls,
        colorizer: Colorizer | Callable[[], Colorizer],
        *,
        hints: Sequence[Any] | None,
        vividness: float | None,
        reference: Any,
        want: Wanted,
    ) -> Request:
        """Check the request (at once for a loaded colorizer, else when the model is loaded) and
        read the reference photos; ``want.settings`` None is described from a colorizer loaded
        from a file."""
        hints = list(hints) if hints else None
        references = None if reference is None else load_references(reference)
        model = _Model(colorizer, hints, vividness)
        if isinstance(colorizer, Colorizer):
            model.get()  # checks the request at once
            if want.settings is None and colorizer.source is not None:
                settings = provenance.describe(
                    colorizer.source,
                    size=colorizer.size,
                    vividness=colorizer.vividness if vividness is None else vividness,
                    hints=hints,
                )
                if references is not None:
                    settings = {**settings, "references": digest_references(references)}
                want = dataclasses.replace(want, settings=settings)
        return cls(model, want, hints, vividness, references)


@dataclasses.dataclass
class FileResult:
    """One input's way through a batch: ``status`` "todo" until it is done, then "ok", "skipped"
    (``line``: why) or "failed" (``line``: ``"path: reason"``); ``notes``: its decoder's warnings."""

    src: Path
    dst: Path
    start: float
    status: str = "todo"
    line: str | None = None
    notes: list[str] = dataclasses.field(default_factory=list)

    @classmethod
    def begin(cls, src: Path, dst: Path, want: Wanted, input_keys: set) -> Self:
        """The clock started, and the outcome already settled when there is nothing to do
        (:func:`nothing_to_do`)."""
        result = cls(src, dst, time.perf_counter())
        if (done := nothing_to_do(src, dst, want, input_keys)) is not None:
            result.status, result.line = done
        return result

    def failed(self, err: BaseException) -> None:
        self.status, self.line = "failed", _reason(self.src, err)


class Tally:
    """Reports each file as it is done, in input order: the :class:`BatchReport`, one line on
    stderr per failure, warning and (unless quiet) skip, and the JSON-lines ``log``."""

    def __init__(self, report: BatchReport, log: str | os.PathLike | None, quiet: bool) -> None:
        self.report, self.quiet = report, quiet
        self.journal = _JsonLines(Path(log)) if log is not None else None

    def __enter__(self) -> Tally:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.journal is not None:
            self.journal.close()

    def fail(self, line: str) -> None:
        line = " ".join(line.split())  # a newline in a file name must not make a second line
        self.report.failed.append(line)
        tqdm.write(line, file=sys.stderr)

    def record(self, src: Path, dst: Path, status: str, seconds: float, error: str | None, warning: str | None) -> None:
        if self.journal is not None:
            self.journal.write(
                {
                    "input": os.fsdecode(src),
                    "output": os.fsdecode(dst),
                    "status": status,
                    "error": None if error is None else " ".join(error.split()),
                    "warning": warning,
                    "seconds": round(seconds, 4),
                }
            )

    def finish(self, result: FileResult) -> None:
        status, error = result.status, result.line
        for note in result.notes:
            tqdm.write(f"warning: {note}", file=sys.stderr)
        if status == "failed":
            self.fail(error)
        elif status == "skipped":
            self.report.skipped += 1
            self.report.skip_reasons.append(error)
            if not self.quiet:
                tqdm.write(error, file=sys.stderr)
            error = None
        else:
            self.report.done += 1
            _log.info("%s -> %s in %.2f s", result.src, result.dst, time.perf_counter() - result.start)
        warning = "; ".join(result.notes) or None
        self.record(result.src, result.dst, status, time.perf_counter() - result.start, error, warning)


def nothing_to_do(src: Path, dst: Path, want: Wanted, input_keys: set) -> tuple[str, str | None] | None:
    """``(status, line)`` when ``src`` (a photo or a video) is not to be colorized: failed (no
    such file, or its output would overwrite an input) or skipped (with the reason: the output
    is up to date, or exists and is not tinct's); else None (to do, replacing any tinct output
    of other settings)."""
    try:
        if not src.exists():  # may raise, e.g. PermissionError on a folder above it
            raise ImageReadError(src, "no such file")
    except _FILE_ERRORS as err:
        return "failed", _reason(src, err)
    if not os.path.lexists(dst):
        return None
    if _file_key(dst) in input_keys:
        return "failed", f"{src}: output {dst} is an input file; refusing to overwrite it"
    if want.overwrite:
        return None
    found = provenance.read_settings(dst)
    if want.settings is None:
        return "skipped", f"{dst}: exists; skipped (overwrite replaces it)"
    if found is None:
        return "skipped", f"{dst}: exists and does not say how it was made; skipped (--overwrite replaces it)"
    if found != want.settings:
        return None  # tinct's own output of other settings (e.g. another --vividness): made again
    if want.compare and provenance.read_settings(provenance.compare_path(dst)) != want.settings:
        return None
    return "skipped", f"{dst}: up to date (made from this input with the same model and settings); skipped"


def may_replace(dst: Path, want: Wanted) -> bool:
    """Whether writing ``dst`` may replace a file there: with ``overwrite``, or when the file
    there is tinct's own output (it records settings; :func:`nothing_to_do` found them different)."""
    return want.overwrite or (want.settings is not None and provenance.read_settings(dst) is not None)


def settle(result: FileResult, want: Wanted, write: Callable[[], None], also: tuple[type, ...] = ()) -> None:
    """Run ``write`` (which writes ``result.dst`` atomically) and settle the outcome: "ok", or the
    one line of a file's error (those of ``also`` too); an output another process wrote meanwhile
    is skipped."""
    try:
        write()
        result.status = "ok"
    except ImageWriteError as err:
        if not want.overwrite and os.path.lexists(result.dst):  # another process wrote it meanwhile
            result.status, result.line = "skipped", f"{result.dst}: written by another process meanwhile; skipped"
        else:
            result.failed(err)
    except (*_FILE_ERRORS, *also) as err:
        result.failed(err)


# --------------------------------------------------------------------------------------------
# Photos

#: Photos in flight (decoded, colorized, not yet written and reported): memory stays that of a
#: few photos whatever the folder's size.
PHOTOS_IN_FLIGHT = 3


@dataclasses.dataclass
class _Photo(FileResult):
    pixels: Any = None  # decoded: (H, W) or (H, W, 3) uint8
    colors: Any = None  # colorized: (H, W, 3) uint8


def colorize_photos(
    pairs: Iterable[tuple[Path, Path]], request: Request, input_keys: set
) -> contextlib.AbstractContextManager[Iterator[FileResult]]:
    """Photos ``(input, output)`` through the staged pipeline (``tinct.pipeline.staged``): one
    thread decodes photo i + 1 while another colorizes photo i and a third encodes and writes
    photo i - 1 (atomically, with its before/after picture under ``request.want.compare``).

    Returns:
        A context manager of the photos' :class:`FileResult` in input order. A file's error is
        its result ("failed" and one line); anything else (a model that cannot be loaded, a
        request the model refuses) stops the photos and is raised. Leaving early stops them;
        a write under way finishes (it is atomic: a whole file under its name, or none).
    """
    want = request.want

    def decode(pair: tuple[Path, Path]) -> _Photo:
        photo = _Photo.begin(*pair, want, input_keys)
        if photo.status == "todo":
            try:
                # Only this thread records warnings (catch_warnings is process-wide state).
                with _warnings_as_lines(photo.notes):
                    photo.pixels = read_image(photo.src, keep_gray=True)  # only its L* is used
            except _FILE_ERRORS as err:
                photo.failed(err)
        return photo

    def colorize(photo: _Photo) -> _Photo:
        if photo.status == "todo":
            colorizer = request.model.get()  # loads the model for the first photo that needs it
            try:
                photo.colors = colorizer.colorize(
                    photo.pixels, hints=request.hints, vividness=request.vividness, reference=request.references
                )
            except _FILE_ERRORS as err:  # e.g. a hint outside this photo
                photo.failed(err)
        return photo

    def encode(photo: _Photo) -> FileResult:
        if photo.status == "todo":
            settle(photo, want, lambda: _write_photo(photo, want))
        photo.pixels = photo.colors = None
        return photo

    stages = {"decode": decode, "model": colorize, "encode": encode}
    return staged(pairs, stages, depth=PHOTOS_IN_FLIGHT, label=lambda pair: str(pair[0]))


def _write_photo(photo: _Photo, want: Wanted) -> None:
    """The colorized photo, and with ``want.compare`` its before/after picture, written atomically."""
    import numpy as np

    write_image(
        photo.dst,
        photo.colors,
        protect=[photo.src],
        overwrite=may_replace(photo.dst, want),
        description=want.description,
    )
    if want.compare:
        pair = np.concatenate([_before(photo.pixels), photo.colors], axis=1)
        write_image(
            provenance.compare_path(photo.dst), pair, protect=[photo.src], overwrite=True, description=want.description
        )


def _before(pixels: Any) -> Any:
    """The gray picture the model saw, (H, W, 3) uint8: the input's L* as sRGB gray."""
    import numpy as np

    from tinct.inference.colorizer import combine_lab, image_lightness

    return combine_lab(image_lightness(np.asarray(pixels)), None)
