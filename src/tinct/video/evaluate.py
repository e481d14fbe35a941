"""The video yardstick: reduce color videos to L*, colorize them, and measure flicker and error.

For each color video, in one decoding pass: every frame is reduced to its L* (the gray film),
colorized frame by frame (the model on every frame, as images are) and with the temporal filter
(:func:`tinct.video.colorize_video`'s path, minus the encoder); then

* ``flicker_truth``, ``flicker_frame``, ``flicker_tinct``: :func:`tinct.metrics.flicker` of the
  real color frames, of frame-by-frame colorization and of tinct's video path (static pixels of
  the gray input, |ΔL*| < 1);
* ``de00_frame``, ``de00_tinct``: mean CIEDE2000 against the real frames.

Frames are judged before encoding (the output's codec adds its own, small, changes; the truth is
as decoded). Memory stays flat: only the previous frame of each stream is kept.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinct.io.video import VideoReader
from tinct.video.temporal import ChromaStabilizer, ReferenceTrack, StabilizerConfig

__all__ = ["VIDEO_METRICS", "VIDEO_TABLE", "evaluate_video", "evaluate_videos", "video_table", "write_video_table"]

#: The file of :func:`write_video_table` (``tinct eval`` on videos) in its output folder.
VIDEO_TABLE = "video.tsv"

#: Columns of a row of :func:`evaluate_video`, after ``video``.
VIDEO_METRICS = (
    "frames",
    "width",
    "height",
    "predictions",
    "cuts",
    "flicker_truth",
    "flicker_frame",
    "flicker_tinct",
    "flicker_ratio",
    "de00_frame",
    "de00_tinct",
)


def evaluate_video(
    colorizer: Any,
    path: str | os.PathLike,
    *,
    config: StabilizerConfig | None = None,
    vividness: float | None = None,
    limit: int | None = None,
    keep: Callable[[int, dict[str, np.ndarray]], None] | None = None,
    reference: Any = None,
) -> dict[str, Any]:
    """Score one color video (see the module docstring).

    Args:
        colorizer: a ``tinct.inference.Colorizer``.
        config: the temporal filter's settings (default :class:`StabilizerConfig`).
        limit: only the first ``limit`` frames.
        keep: called as ``keep(index, {"gray", "frame", "tinct", "truth"})`` with each frame's
            (H, W, 3) uint8 images, e.g. to draw a before/after strip.
        reference: color photos for every frame (as for ``tinct.video.colorize_video``).

    Returns:
        ``{"video": name, **metrics}`` with the keys of :data:`VIDEO_METRICS`.
    """
    import torch

    from tinct.inference.colorizer import combine_lab, image_lightness
    from tinct.inference.reference import apply_reference, load_references, match_best
    from tinct.metrics.ciede2000 import ciede2000
    from tinct.metrics.video import FlickerMeter, rgb_to_lab_planes

    references = None if reference is None else load_references(reference)
    track = None if references is None else ReferenceTrack(references, config)
    path = Path(path)
    stabilizer = ChromaStabilizer(config)
    meters = {name: FlickerMeter() for name in ("truth", "frame", "tinct")}
    de00 = {"frame": [], "tinct": []}
    frames = 0
    with VideoReader(path) as reader:
        info = reader.info
        for frame in reader:
            if limit is not None and frames >= limit:
                break
            truth = frame.to_ndarray(format="rgb24")
            L = image_lightness(truth)
            L_small = colorizer.working_lightness(L)
            prediction = colorizer.working_chroma(L_small, None, vividness)
            if references is None:
                filtered = stabilizer.step(L_small, lambda p=prediction: p)
            else:
                # Frame by frame: matched afresh, as a photo; the video path: the film's track,
                # which sees only the frames the model runs on, as in colorize_video.
                automatic = prediction
                prediction = apply_reference(automatic, match_best(references, L_small))
                filtered = stabilizer.step(L_small, lambda a=automatic, L=L_small: apply_reference(a, track.match(L)))
            keep_lightness = colorizer.spec.keep_lightness
            outputs = {
                "frame": combine_lab(L, prediction, keep_lightness=keep_lightness),
                "tinct": combine_lab(L, filtered, keep_lightness=keep_lightness),
            }
            truth_lab = rgb_to_lab_planes(truth)
            meters["truth"].update(L, truth_lab[1:])
            for name, rgb in outputs.items():
                lab = rgb_to_lab_planes(rgb)
                meters[name].update(L, lab[1:])
                de00[name].append(float(ciede2000(torch.from_numpy(lab), torch.from_numpy(truth_lab)).mean()))
            if keep is not None:
                gray = combine_lab(L, None)
                keep(frames, {"gray": gray, "truth": truth, **outputs})
            frames += 1
    row: dict[str, Any] = {
        "video": path.name,
        "frames": frames,
        "width": info.width,
        "height": info.height,
        "predictions": stabilizer.predictions,
        "cuts": stabilizer.cuts,
    }
    for name, meter in meters.items():
        row[f"flicker_{name}"] = meter.value
    row["flicker_ratio"] = row["flicker_tinct"] / row["flicker_frame"] if row["flicker_frame"] else float("nan")
    for name, values in de00.items():
        row[f"de00_{name}"] = float(np.mean(values)) if values else float("nan")
    return row


def evaluate_videos(
    colorizer: Any,
    paths: Sequence[str | os.PathLike],
    *,
    config: StabilizerConfig | None = None,
    vividness: float | None = None,
    limit: int | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """:func:`evaluate_video` for each path; ``(rows, failures)`` with one line per bad file."""
    from tinct.io.images import ImageReadError

    rows, failures = [], []
    for path in paths:
        try:
            rows.append(evaluate_video(colorizer, path, config=config, vividness=vividness, limit=limit))
        except (ImageReadError, ValueError, OSError) as err:
            failures.append(" ".join(str(err).split()))
    return rows, failures


def video_table(rows: Sequence[dict[str, Any]], extra: Sequence[str] = ()) -> str:
    """Tab-separated table: a header, then one line per row (floats to 3 decimals); ``extra``
    columns (e.g. ``"model"``) come first."""
    header = (*extra, "video", *VIDEO_METRICS)
    lines = ["\t".join(header)]
    for row in rows:
        cells = [f"{row[k]:.3f}" if isinstance(row[k], float) else str(row[k]) for k in header]
        lines.append("\t".join(cells))
    return "\n".join(lines) + "\n"


def write_video_table(rows: Sequence[dict[str, Any]], out_dir: str | os.PathLike, extra: Sequence[str] = ()) -> Path:
    """Write :func:`video_table` of ``rows`` atomically to ``out_dir``/:data:`VIDEO_TABLE` (the
    folder is created if needed); return its path."""
    from tinct.io.images import atomic_write_bytes

    path = Path(out_dir) / VIDEO_TABLE
    atomic_write_bytes(path, video_table(rows, extra).encode())
    return path
