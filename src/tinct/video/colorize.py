"""Colorize a video file: streamed, overlapped, temporally stable.

Per frame, exactly the image pipeline (DESIGN.md): decode → L* at full resolution → L* at the
model's working size → a*b* at the model's output resolution → upsampled and recombined with the
frame's own full-resolution L* (``Colorizer.working_chroma`` and ``combine_lab``, the functions
images use). The one addition sits between prediction and recombination: a*b* is filtered over
time along the motion (:class:`tinct.video.temporal.ChromaStabilizer`), and the model only runs
on keyframes and shot cuts.

Three stages overlap in three threads (``tinct.pipeline.staged``, the pipeline photo batches
run too), with a few frames in flight (so memory does not grow with the clip's length): decoding
+ L* (PyAV and the L* tables release the GIL), the model + the temporal filter (ONNX Runtime /
torch release it), and recombination + encoding + muxing (the compiled color kernels and libx264
release it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from tinct.io.video import VideoReader, VideoWriter
from tinct.pipeline import staged
from tinct.video.temporal import ChromaStabilizer, ReferenceTrack, StabilizerConfig

__all__ = ["VideoReport", "colorize_video"]

#: Frames in flight between decoding and the caller: enough for each of the three stages to have
#: one to work on and one waiting (the model's time alternates between keyframes and the rest),
#: few enough to bound memory (1080p: ~8 MB a frame).
_IN_FLIGHT = 8


@dataclasses.dataclass
class VideoReport:
    """What :func:`colorize_video` did: frames written, model runs, shot cuts, wall seconds."""

    path: Path
    frames: int
    predictions: int
    cuts: int
    seconds: float

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


def _timestamps(time_base: Fraction, rate: Fraction) -> Callable[[int | None], int]:
    """Strictly increasing presentation times: the frame's own, or the next one at ``rate``
    when a container gives none (or repeats one), so the muxer never refuses a frame."""
    step = max(1, round(1 / (rate * time_base))) if rate and time_base else 1
    last: list[int | None] = [None]

    def fix(pts: int | None) -> int:
        prev = last[0]
        if pts is None or (prev is not None and pts <= prev):
            pts = 0 if prev is None else prev + step
        last[0] = pts
        return pts

    return fix


@contextlib.contextmanager
def _torch_threads_for_a_stage(colorizer: Any) -> Iterator[None]:
    """torch's intra-op threads while a film runs: 1, unless a thread count was set (``--threads``).

    Why: here the model is one of three stages running at once, and the other two keep the cores
    busy with decoding, L*, recombination and libx264. torch's OpenMP threads then wait at their
    barriers for cores that are taken: on 2 cores a 72-frame clip took several times as long with
    torch's default (one thread per core) as with one thread (benchmarks/VIDEO_THREADS.md, from
    `python benchmarks/bench.py --video-threads-only`). ONNX Runtime's threads sleep instead of
    spinning (tinct.inference.backends)."""
    from tinct.threads import torch_threads_set

    if getattr(colorizer.backend, "name", None) != "torch" or torch_threads_set():
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def colorize_video(
    colorizer: Any,
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    hints: Sequence[Any] | None = None,
    vividness: float | None = None,
    reference: Any = None,
    overwrite: bool = False,
    config: StabilizerConfig | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    crf: int = 18,
    preset: str = "veryfast",
    max_pixels: int | None = None,
    max_frames: int | None = None,
    description: str | None = None,
    compare: str | os.PathLike | None = None,
) -> VideoReport:
    """Colorize the video ``src`` into the H.264 MP4 ``dst``.

    The output has the input's width, height, frame timestamps (frame rate and count) and
    rotation metadata, its first audio stream copied unchanged, and each frame's own L* (up to
    uint8 rounding and the lossy encoding; see docs/video.md). It is written to a temporary file
    renamed at the end: an error or an interruption leaves nothing under ``dst``.

    Args:
        colorizer: a ``tinct.inference.Colorizer``.
        hints: color hints for every frame (as for ``Colorizer.colorize``; x/y in frame pixels).
        vividness: saturation in [0, 1]; default the colorizer's.
        reference: color photos (as for ``Colorizer.colorize``): each frame the model runs on
            takes its colors from the one it matches best, held still along the motion
            (``tinct.video.temporal.ReferenceTrack``), and the temporal filter carries them on
            like the model's own (docs/reference.md).
        overwrite: replace an existing ``dst`` (else ``ImageWriteError``).
        config: the temporal filter's settings; ``StabilizerConfig(keyframe_interval=1,
            strength=0)`` is frame-by-frame colorization.
        progress: called as ``progress(frames_done, frames_total_or_None)`` after each frame.
        crf, preset: libx264 quality and speed (see ``tinct.io.video.VideoWriter``).
        max_pixels: largest width*height of a frame (header and every decoded frame); default
            ``tinct.io.video.VIDEO_MAX_PIXELS``, the photos' limit.
        max_frames: most frames to decode (counted as they are decoded); default no limit.
        description: stored in the MP4's ``comment`` tag (see ``tinct.inference.provenance``).
        compare: also write a side-by-side MP4 here (twice the width: the gray frames the model
            saw left, the colorization right; same timestamps and audio), replacing any file.

    Raises:
        VideoReadError: the input is not a readable video, or passes a limit (one line naming it).
        ImageWriteError: the output exists (without ``overwrite``) or cannot be written.
        ValueError: bad hints or vividness, a gray or unreadable reference.
    """
    from tinct.inference.colorizer import HINT_PATCH, combine_lab, image_lightness
    from tinct.inference.hint_specs import parse_hints
    from tinct.inference.hints import rasterize_hints
    from tinct.inference.reference import load_references

    colorizer.check_request(hints, vividness)
    references = None if reference is None else ReferenceTrack(load_references(reference), config)
    src, dst = Path(src), Path(dst)
    start = time.perf_counter()
    stabilizer = ChromaStabilizer(config)
    with (
        _torch_threads_for_a_stage(colorizer),
        VideoReader(src, max_pixels=max_pixels, max_frames=max_frames) as reader,
    ):
        info = dataclasses.replace(reader.info, rotation=reader.first_rotation())
        hint_map = None
        if hints:
            shape = colorizer.working_shape(info.height, info.width)
            specs = parse_hints(list(hints), info.width, info.height)
            hint_map = rasterize_hints(specs, (info.height, info.width), shape, HINT_PATCH)
        time_base = reader.stream.time_base or Fraction(1, 1000)
        fix_pts = _timestamps(time_base, info.rate)
        written = 0

        def decode(numbered: tuple[int, Any]) -> tuple[int, np.ndarray, np.ndarray]:
            frame = numbered[1]
            L = image_lightness(frame.to_ndarray(format="rgb24"))
            return fix_pts(frame.pts), L, colorizer.working_lightness(L)

        def predict(decoded: tuple[int, np.ndarray, np.ndarray]) -> tuple[int, np.ndarray, np.ndarray]:
            pts, L, L_small = decoded
            ab = stabilizer.step(L_small, lambda: colorizer.working_chroma(L_small, hint_map, vividness, references))
            return pts, L, ab

        with VideoWriter(
            dst, info, time_base, audio_from=src if info.audio else None, overwrite=overwrite, crf=crf, preset=preset,
            description=description,
        ) as writer, contextlib.ExitStack() as extra:
            pair = None
            if compare is not None:
                wide = dataclasses.replace(info, width=2 * info.width)
                pair = extra.enter_context(
                    VideoWriter(
                        compare, wide, time_base, audio_from=src if info.audio else None, overwrite=True,
                        crf=crf, preset=preset, description=description,
                    )
                )

            def encode(predicted: tuple[int, np.ndarray, np.ndarray]) -> None:
                pts, L, ab = predicted
                rgb = combine_lab(L, ab, keep_lightness=colorizer.spec.keep_lightness)
                writer.write(rgb, pts)
                if pair is not None:
                    pair.write(np.concatenate([combine_lab(L, None), rgb], axis=1), pts)

            def label(numbered: tuple[int, Any]) -> str:
                return f"frame {numbered[0]} of {src}"

            stages = {"decode": decode, "model": predict, "encode": encode}
            with staged(enumerate(reader), stages, depth=_IN_FLIGHT, label=label) as frames:
                for _ in frames:
                    written += 1
                    if progress is not None:
                        progress(written, info.frames)
    return VideoReport(dst, written, stabilizer.predictions, stabilizer.cuts, time.perf_counter() - start)

