"""Read and write videos, streamed frame by frame, with PyAV (its wheels bundle FFmpeg).

Reading (:class:`VideoReader`) yields decoded frames one at a time, so memory does not grow with
the length of a clip. Writing (:class:`VideoWriter`) makes an H.264 (yuv420p) MP4 with the input's
width, height, frame timestamps (so its frame rate and frame count) and rotation metadata, and
copies the input's first audio stream packet by packet, unchanged. The file is written through
:func:`tinct.io.images.atomic_open`: a hidden temporary file renamed at the end, so an interrupted
run never leaves a partial file under the final name (and ``tinct colorize`` deletes such
temporary files on a rerun, as it does for images).

Every failure to read is one :class:`VideoReadError` whose ``str`` is ``"<path>: <reason>"``.
PyAV is imported on first use: ``pip install 'tinct[video]'``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from tinct.io.images import ImageReadError, ImageWriteError, _check_file, _one_line, atomic_open

__all__ = [
    "VIDEO_EXTENSIONS",
    "VideoInfo",
    "VideoReadError",
    "VideoReader",
    "VideoWriter",
    "import_av",
    "is_video_path",
]

PathLike = str | os.PathLike

#: Lowercase suffixes treated as videos (by ``tinct colorize`` in folders and for single files).
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm"})

#: Audio codecs the MP4 muxer takes as they are; any other audio is re-encoded to AAC.
_MP4_AUDIO = frozenset({"aac", "mp3", "ac3", "eac3", "opus", "flac", "alac"})


class VideoReadError(ImageReadError):
    """A file could not be read as a video (missing, empty, not a video, no video stream,
    truncated, corrupt). A subclass of ``ImageReadError`` so that every front end reporting
    unreadable inputs (the batch, the server) reports videos the same way."""


def is_video_path(path: PathLike) -> bool:
    return os.path.splitext(os.fspath(path))[1].lower() in VIDEO_EXTENSIONS


def import_av() -> Any:
    """The ``av`` module, or an ``ImportError`` saying how to install it."""
    try:
        import av
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("videos need PyAV: pip install 'tinct[video]' (or pip install av)") from None
    # PyAV's default (no log level) drops FFmpeg's messages without Python. Any level installs a
    # callback that takes the GIL from FFmpeg's decoder threads, which deadlocks when a decoder is
    # closed mid-stream by a thread holding the GIL: never set one here.
    return av


def _av_reason(exc: BaseException) -> str:
    """A short one-line reason for whatever FFmpeg raised."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    text = _one_line(text)
    if "moov atom not found" in str(exc) or "Invalid data found" in text:
        return f"not a video, or truncated/corrupt ({text})"
    return text


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What a video file says about its first video stream."""

    width: int
    height: int
    rate: Fraction  # average frames per second
    frames: int | None  # frame count from the container; None when it does not say (mkv, webm)
    rotation: int  # display rotation in degrees (as FFmpeg's display matrix says), 0 if none
    audio: bool  # whether it has an audio stream (the first one is copied to the output)
    codec: str


class VideoReader:
    """Decode a video's frames one at a time.

    Use as a context manager; ``info`` is filled on opening. Iterating yields ``(pts, frame)``
    with ``frame`` an ``av.VideoFrame`` (convert with ``frame.to_ndarray(format="rgb24")``),
    never holding more than the decoder's few frames.

    Raises:
        VideoReadError: on opening (missing, empty, not a video, no video stream) and while
            decoding (corrupt data; fewer frames than the container announced: truncated).
    """

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        _check_file(self.path, VideoReadError, "a video file")
        av = import_av()
        self._av = av
        try:
            self.container = av.open(os.fspath(self.path), "r")
        except av.FFmpegError as exc:
            raise VideoReadError(self.path, _av_reason(exc)) from None
        except (OSError, ValueError) as exc:
            raise VideoReadError(self.path, _one_line(f"cannot open video ({exc})")) from None
        try:
            if not self.container.streams.video:
                kinds = sorted({s.type for s in self.container.streams})
                what = f"only {', '.join(kinds)}" if kinds else "no streams"
                raise VideoReadError(self.path, f"no video stream ({what})")
            self.stream = self.container.streams.video[0]
            ctx = self.stream.codec_context
            if not ctx.width or not ctx.height:
                raise VideoReadError(self.path, "video stream without a frame size (corrupt header?)")
            self.stream.thread_type = "AUTO"
            rate = self.stream.average_rate or self.stream.guessed_rate or Fraction(25)
            audio = self.container.streams.audio
            self.info = VideoInfo(
                width=ctx.width,
                height=ctx.height,
                rate=Fraction(rate),
                frames=int(self.stream.frames) or None,
                rotation=0,
                audio=bool(audio),
                codec=ctx.name,
            )
        except BaseException:
            self.container.close()
            raise
        self._first: Any = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.container.close()

    def first_rotation(self) -> int:
        """Rotation of the first frame (decodes it once; iteration still starts with it)."""
        if self._first is None:
            it = self._decode()
            try:
                self._first = (next(it), it)
            except StopIteration:
                raise VideoReadError(self.path, "no frames could be decoded (truncated or corrupt)") from None
        return int(self._first[0].rotation or 0)

    def _decode(self) -> Iterator[Any]:
        av = self._av
        try:
            yield from self.container.decode(self.stream)
        except av.FFmpegError as exc:
            raise VideoReadError(self.path, f"corrupt video data ({_av_reason(exc)})") from None

    def __iter__(self) -> Iterator[Any]:
        if self._first is not None:
            first, it = self._first
            self._first = None
            frames = _chain(first, it)
        else:
            frames = self._decode()
        count, last = 0, None
        for frame in frames:
            count += 1
            last = frame.time if frame.time is not None else last
            yield frame
        if count == 0:
            raise VideoReadError(self.path, "no frames could be decoded (truncated or corrupt)")
        expected = self.info.frames
        if expected and count < expected:
            raise VideoReadError(self.path, f"truncated: decoded {count} of {expected} frames")
        duration = self.container.duration / 1e6 if self.container.duration else None
        if not expected and duration and last is not None:
            # Containers without a frame count (mkv, webm) still state a duration in their header.
            start = self.container.start_time / 1e6 if self.container.start_time else 0.0
            end = last - start + 1 / float(self.info.rate or 25)
            if end < duration - max(1.0, 0.05 * duration):
                raise VideoReadError(self.path, f"truncated: frames end at {end:.1f} s of {duration:.1f} s")


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


class VideoWriter:
    """Encode RGB frames to an H.264 MP4, atomically, copying the audio of ``audio_from``.

    Args:
        path: output file (``.mp4``); written to a hidden temporary file and renamed on
            :meth:`close` (on an exception in the ``with`` block nothing is left behind).
        info: the input's :class:`VideoInfo` (size, rate, rotation).
        time_base: the timestamps' unit of the frames given to :meth:`write` (the input's).
        audio_from: a video file whose first audio stream is copied; ``None``: no audio.
        overwrite: replace an existing ``path`` (else ``ImageWriteError``).
        crf, preset: libx264 quality (lower crf = better; 18 is visually lossless for most
            footage) and speed.
        description: text stored as the file's ``comment`` tag (e.g. the settings it was made
            with, ``tinct.inference.provenance``).
    """

    def __init__(
        self,
        path: PathLike,
        info: VideoInfo,
        time_base: Fraction,
        *,
        audio_from: PathLike | None = None,
        overwrite: bool = False,
        crf: int = 18,
        preset: str = "veryfast",
        description: str | None = None,
    ) -> None:
        self.path = Path(path)
        self._av = av = import_av()
        self._stack = contextlib.ExitStack()
        try:
            f = self._stack.enter_context(atomic_open(self.path, "wb", overwrite=overwrite))
        except FileExistsError:
            raise ImageWriteError(self.path, "already exists (overwrite disabled)") from None
        try:
            self.container = av.open(f, "w", format="mp4")
            self._stack.callback(self.container.close)
            if description is not None:
                self.container.metadata["comment"] = description
            stream = self.container.add_stream("libx264", rate=info.rate)
            stream.width, stream.height, stream.pix_fmt = info.width, info.height, "yuv420p"
            stream.time_base = time_base
            stream.codec_context.time_base = time_base
            stream.options = {"preset": preset, "crf": str(crf), "movflags": "+faststart"}
            if info.rotation:
                stream.set_display_rotation(info.rotation)
            self.stream = stream
            self._audio_in = self._audio_out = self._encoder = None
            self._audio_packets: Iterator[Any] = iter(())
            self._pending: Any = None
            if audio_from is not None:
                self._open_audio(audio_from)
        except BaseException:
            self._stack.__exit__(None, None, None)
            raise
        self._closed = False

    def _open_audio(self, src: PathLike) -> None:
        av = self._av
        source = av.open(os.fspath(src), "r")
        self._stack.callback(source.close)
        if not source.streams.audio:
            return
        audio = source.streams.audio[0]
        self._audio_in = audio
        if audio.codec_context.name in _MP4_AUDIO:
            self._audio_out = self.container.add_stream_from_template(audio)
            self._audio_packets = (p for p in source.demux(audio) if p.dts is not None)
        else:  # e.g. PCM from .avi/.mov, which MP4 does not hold: re-encoded to AAC
            self._audio_out = self.container.add_stream("aac", rate=audio.rate or 48000)
            self._encoder = True
            self._audio_packets = self._transcode(source, audio)

    def _transcode(self, source: Any, audio: Any) -> Iterator[Any]:
        for frame in source.decode(audio):
            frame.pts = None
            yield from self._audio_out.encode(frame)
        yield from self._audio_out.encode(None)

    def _mux_audio_until(self, seconds: float | None) -> None:
        """Mux the audio packets that start before ``seconds`` (all of them for ``None``), so the
        file stays interleaved while only a packet is ever held."""
        if self._audio_out is None:
            return
        while True:
            packet = self._pending
            if packet is None:
                try:
                    packet = next(self._audio_packets)
                except StopIteration:
                    self._audio_out = None
                    return
                except self._av.FFmpegError:  # damaged audio: keep what was copied so far
                    self._audio_out = None
                    return
            t = packet.pts if packet.pts is not None else packet.dts
            if seconds is not None and t is not None and packet.time_base and float(t * packet.time_base) > seconds:
                self._pending = packet
                return
            self._pending = None
            if self._encoder is None:
                packet.stream = self._audio_out
            self.container.mux(packet)

    def write(self, rgb: np.ndarray, pts: int | None) -> None:
        """Encode one (H, W, 3) uint8 RGB frame shown at ``pts`` (in ``time_base`` units)."""
        frame = self._av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = pts
        frame.time_base = self.stream.time_base
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        if pts is not None:
            self._mux_audio_until(float(pts * self.stream.time_base))

    def close(self) -> Path:
        """Flush the encoder, mux the remaining audio and move the file into place."""
        if not self._closed:
            self._closed = True
            for packet in self.stream.encode(None):
                self.container.mux(packet)
            self._mux_audio_until(None)
            try:
                self._stack.close()
            except FileExistsError:
                raise ImageWriteError(self.path, "already exists (overwrite disabled)") from None
        return self.path

    def abort(self) -> None:
        """Give up: nothing is left under ``path`` (nor a temporary file)."""
        if not self._closed:
            self._closed = True
            error = RuntimeError("aborted")
            with contextlib.suppress(Exception):  # the temporary file is removed either way
                self._stack.__exit__(RuntimeError, error, None)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
