"""Read and write videos, streamed frame by frame, with PyAV (its wheels bundle FFmpeg).

Reading (:class:`VideoReader`) yields decoded frames one at a time, so memory does not grow with
the length of a clip; its limits (pixels per frame, frames) count what is decoded, not only what a
header claims. Writing (:class:`VideoWriter`) makes an H.264 MP4 (yuv420p; yuv444p for an odd
width or height) with the input's exact width, height, frame timestamps (so its frame rate and
frame count) and rotation metadata, and
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

from tinct.io.images import (
    IMAGE_EXTENSIONS,
    READ_MAX_PIXELS,
    ImageReadError,
    ImageWriteError,
    _check_file,
    _one_line,
    atomic_open,
    list_images,
)

__all__ = [
    "VIDEO_EXTENSIONS",
    "VIDEO_MAX_PIXELS",
    "VideoInfo",
    "VideoReadError",
    "VideoReader",
    "VideoWriter",
    "import_av",
    "is_video_path",
    "list_media",
]

PathLike = str | os.PathLike

#: Lowercase suffixes treated as videos (by ``tinct colorize`` in folders and for single files).
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm"})

#: Largest width*height of a video frame :class:`VideoReader` decodes unless told otherwise: the
#: photos' limit (a 256 MP frame would take about 4 GB as it goes through the pipeline). Read at
#: call time, so the server's lower limit and tests can stand in for it.
VIDEO_MAX_PIXELS = READ_MAX_PIXELS

#: Audio codecs the MP4 muxer takes as they are; any other audio is re-encoded to AAC.
_MP4_AUDIO = frozenset({"aac", "mp3", "ac3", "eac3", "opus", "flac", "alac"})


class VideoReadError(ImageReadError):
    """A file could not be read as a video (missing, empty, not a video, no video stream,
    truncated, corrupt). A subclass of ``ImageReadError`` so that every front end reporting
    unreadable inputs (the batch, the server) reports videos the same way."""


def is_video_path(path: PathLike) -> bool:
    return os.path.splitext(os.fspath(path))[1].lower() in VIDEO_EXTENSIONS


def list_media(root: PathLike) -> tuple[list[Path], list[Path]]:
    """``(photos, videos)`` under ``root``, each sorted: a folder is walked as
    :func:`tinct.io.images.list_images` walks it, for image and video suffixes; a file is a video
    when its suffix says so, else a photo (:func:`tinct.io.images.read_image` says if it is not).

    Raises:
        FileNotFoundError: ``root`` does not exist.
    """
    found = list_images(root, extensions=IMAGE_EXTENSIONS | VIDEO_EXTENSIONS)
    return [p for p in found if not is_video_path(p)], [p for p in found if is_video_path(p)]


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

    Args:
        max_pixels: largest width*height of a frame, checked on the header and again on every
            decoded frame (a stream may change size midway); default :data:`VIDEO_MAX_PIXELS`.
        max_frames: most frames decoded; the frame after it raises (default: no limit). Raw
            streams carry no frame count, so only counting decoded frames holds a limit.

    Raises:
        VideoReadError: on opening (missing, empty, not a video, no video stream, frames over
            ``max_pixels``) and while decoding (corrupt data; fewer frames than the container
            announced: truncated; a frame over ``max_pixels``; more than ``max_frames`` frames).
    """

    def __init__(self, path: PathLike, *, max_pixels: int | None = None, max_frames: int | None = None) -> None:
        self.path = Path(path)
        self.max_pixels = VIDEO_MAX_PIXELS if max_pixels is None else max_pixels
        self.max_frames = max_frames
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
            self._check_pixels(ctx.width, ctx.height)
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

    def _check_pixels(self, width: int, height: int) -> None:
        if width * height > self.max_pixels:
            raise VideoReadError(
                self.path,
                f"{width}x{height} frames are {width * height / 1e6:.1f} megapixels, more than "
                f"{self.max_pixels / 1e6:.1f} megapixels allowed",
            )

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
            if self.max_frames is not None and count > self.max_frames:
                raise VideoReadError(self.path, f"more than {self.max_frames} frames, the limit")
            self._check_pixels(frame.width, frame.height)
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


class _FirstErrorOnly:
    """The output file as FFmpeg sees it: the first failed operation (a write, or a seek that
    flushes the buffer, failing with ENOSPC) is raised, later ones do nothing, as the file is
    thrown away then. FFmpeg goes on writing (the trailer, the flush on close) before PyAV can
    raise the first error, and PyAV prints each error it must set aside for another as a
    "PyAV library exception being dropped" traceback."""

    def __init__(self, file: Any) -> None:
        self._file = file
        self.failed = False
        self._pos = 0  # where FFmpeg believes it is, once the file has failed

    def _guard(self, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except OSError:
            self.failed = True
            raise

    def write(self, data: Any) -> int:
        if self.failed:
            return len(data)
        return self._guard(self._file.write, data)

    def seek(self, offset: int, whence: int = 0) -> int:
        if self.failed:
            self._pos = offset if whence == os.SEEK_SET else self._pos + offset
            return self._pos
        self._pos = self._guard(self._file.seek, offset, whence)
        return self._pos

    def tell(self) -> int:
        return self._pos if self.failed else self._guard(self._file.tell)

    def flush(self) -> None:
        if not self.failed:
            self._guard(self._file.flush)


def _pixel_format(info: VideoInfo) -> str:
    """yuv420p, which every player takes, for even sizes; yuv444p for an odd width or height.

    H.264 4:2:0 codes whole 2x2 chroma blocks and crops the decoded picture in steps of 2, so an
    odd size cannot come out of it exactly (libx264 refuses it); padding would change the size,
    scaling the pixels. 4:4:4 (High 4:4:4 profile) takes any size and keeps each pixel's own
    color, which is all a colorizer adds; FFmpeg-based players and Chromium play it.
    """
    return "yuv420p" if info.width % 2 == 0 and info.height % 2 == 0 else "yuv444p"


def _write_reason(exc: BaseException) -> str:
    """One line for a failed write: the OS's words for a file error (ENOSPC: "No space left on
    device"), else FFmpeg's."""
    if isinstance(exc, OSError) and exc.errno and exc.strerror:
        return _one_line(f"cannot write ({exc.strerror})")
    return _one_line(f"cannot write ({_av_reason(exc)})")


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
        self._file = _FirstErrorOnly(f)
        try:
            self.container = av.open(self._file, "w", format="mp4")
            self._stack.callback(self._close_container)
            if description is not None:
                self.container.metadata["comment"] = description
            stream = self.container.add_stream("libx264", rate=info.rate)
            stream.width, stream.height, stream.pix_fmt = info.width, info.height, _pixel_format(info)
            stream.time_base = time_base
            stream.codec_context.time_base = time_base
            stream.options = {"preset": preset, "crf": str(crf), "movflags": "+faststart"}
            if info.rotation:
                stream.set_display_rotation(info.rotation)
            self.stream = stream
            # The frames' timestamps stay in the input's unit: the MP4 muxer picks its own time
            # base for the stream when it writes its header (after the encoder's first packets),
            # and frames stamped with that one were read as a clock jump backwards.
            self.time_base = time_base
            self._audio_in = self._audio_out = self._encoder = None
            self._audio_packets: Iterator[Any] = iter(())
            self._pending: Any = None
            if audio_from is not None:
                self._open_audio(audio_from)
        except BaseException as err:
            self._stack.__exit__(None, None, None)
            if isinstance(err, (av.FFmpegError, OSError)):
                raise ImageWriteError(self.path, _av_reason(err)) from None
            raise
        self._closed = False
        self._failed = False

    def _close_container(self) -> None:
        """Close the container; after a failed write, ignoring what closing raises: the file is
        thrown away, and the first error is the one reported."""
        if self._failed:
            with contextlib.suppress(Exception):
                self.container.close()
        else:
            self.container.close()

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
        """Encode one (H, W, 3) uint8 RGB frame shown at ``pts`` (in ``time_base`` units).

        Raises:
            ImageWriteError: encoding or writing failed (e.g. a full disk), one line.
        """
        frame = self._av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = pts
        frame.time_base = self.time_base
        with self._write_errors():
            for packet in self.stream.encode(frame):
                self.container.mux(packet)
            if pts is not None:
                self._mux_audio_until(float(pts * self.time_base))

    def close(self) -> Path:
        """Flush the encoder, mux the remaining audio and move the file into place."""
        if not self._closed:
            self._closed = True
            try:
                with self._write_errors():
                    for packet in self.stream.encode(None):
                        self.container.mux(packet)
                    self._mux_audio_until(None)
            except BaseException:
                self._failed = True
                self._discard()
                raise
            try:
                with self._write_errors():
                    self._stack.close()
            except FileExistsError:
                raise ImageWriteError(self.path, "already exists (overwrite disabled)") from None
        return self.path

    @contextlib.contextmanager
    def _write_errors(self) -> Iterator[None]:
        """FFmpeg's and the file's errors as one ``ImageWriteError`` line naming the output."""
        try:
            yield
        except (self._av.FFmpegError, OSError) as err:
            if isinstance(err, FileExistsError):
                raise
            self._failed = True
            raise ImageWriteError(self.path, _write_reason(err)) from None

    def abort(self) -> None:
        """Give up: nothing is left under ``path`` (nor a temporary file)."""
        self._failed = True  # nothing more is to reach the file: no trailer, no retried write
        if not self._closed:
            self._closed = True
            self._discard()

    def _discard(self) -> None:
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
