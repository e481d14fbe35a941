"""Folder in, folder out: colorize many files, never overwriting an input, resumable.

Each output is written atomically, so after an interruption every existing output is complete
and a rerun (without ``overwrite``) skips it and goes on with the rest.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from tinct.inference.colorizer import Colorizer
from tinct.io.images import (
    WRITE_FORMATS,
    ImageReadError,
    ImageWriteError,
    list_images,
    read_image,
    write_image,
)

__all__ = ["OUTPUT_FORMATS", "BatchReport", "colorize_paths", "plan_outputs"]

#: ``fmt`` value → output suffix.
OUTPUT_FORMATS = {
    "png": ".png",
    "jpg": ".jpg",
    "jpeg": ".jpg",
    "webp": ".webp",
    "tiff": ".tiff",
    "tif": ".tif",
}
#: Errors that cost one file, not the batch.
_FILE_ERRORS = (ImageReadError, ImageWriteError, ValueError, OSError, MemoryError)


@dataclasses.dataclass
class BatchReport:
    """Outcome of :func:`colorize_paths`: counts, and one ``"path: reason"`` line per failure."""

    done: int = 0
    skipped: int = 0
    failed: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return f"colorized {self.done}, skipped {self.skipped}, failed {len(self.failed)}"

    def __str__(self) -> str:
        return self.summary()


def _suffix(src: Path, fmt: str | None) -> str:
    if fmt is not None:
        key = fmt.lower().lstrip(".")
        if key not in OUTPUT_FORMATS:
            raise ValueError(f"unsupported output format {fmt!r}; choose one of png, jpg, webp, tiff")
        return OUTPUT_FORMATS[key]
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
    out_dir = Path(out_dir)
    out_real = out_dir.resolve()
    pairs: list[tuple[Path, Path]] = []
    problems: list[str] = []
    claimed: dict[Path, Path] = {}
    for item in inputs:
        root = Path(item)
        if root.is_dir():
            root_real = root.resolve()
            nested_out = out_real != root_real and _is_inside(out_real, root_real)
            files = list_images(root)
            if not files:
                problems.append(f"{root}: no images found in this folder")
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
                problems.append(f"{src}: output {dst} would also be written for {claimed[key]}; skipped")
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


def colorize_paths(
    inputs: list[str | os.PathLike],
    out_dir: str | os.PathLike,
    colorizer: Colorizer,
    *,
    fmt: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> BatchReport:
    """Colorize files and folders into ``out_dir``.

    Args:
        inputs: image files and/or folders (walked recursively, structure mirrored).
        out_dir: created if needed. May be an input folder: inputs are still never overwritten.
        colorizer: the model to use.
        fmt: output format ``"png"``, ``"jpg"``, ``"webp"`` or ``"tiff"``; ``None`` keeps each
            input's own format (formats we cannot write, e.g. GIF or BMP, become PNG).
        overwrite: replace existing outputs; otherwise they are skipped (and counted), which
            makes an interrupted batch resumable.
        progress: show a tqdm bar on stderr (only when stderr is a terminal).

    Returns:
        A :class:`BatchReport`. Every failure is also printed to stderr as one line
        ``"path: reason"`` when it happens; the batch goes on.

    Raises:
        ValueError: unknown ``fmt``.
    """
    if fmt is not None:
        _suffix(Path("x"), fmt)  # fail before doing anything
    report = BatchReport()

    def fail(line: str) -> None:
        report.failed.append(line)
        tqdm.write(line, file=sys.stderr)

    pairs, problems = plan_outputs(inputs, out_dir, fmt)
    for line in problems:
        if "no images found" in line:
            tqdm.write(line, file=sys.stderr)  # worth saying, but no file failed
        else:
            fail(line)
    input_keys = {key for key in (_file_key(src) for src, _ in pairs) if key is not None}
    bar = tqdm(pairs, desc="colorize", unit="image", disable=None if progress else True, file=sys.stderr)
    for src, dst in bar:
        try:
            if not src.exists():
                raise ImageReadError(src, "no such file")
            if os.path.lexists(dst):
                if _file_key(dst) in input_keys:
                    fail(f"{src}: output {dst} is an input file; refusing to overwrite it")
                    continue
                if not overwrite:
                    report.skipped += 1
                    continue
            result = colorizer.colorize(read_image(src))
            write_image(dst, result, protect=[src], overwrite=overwrite)
            report.done += 1
        except ImageWriteError as err:
            if not overwrite and os.path.lexists(dst):  # another process wrote it meanwhile
                report.skipped += 1
            else:
                fail(_reason(src, err))
        except _FILE_ERRORS as err:
            fail(_reason(src, err))
    bar.close()
    return report
