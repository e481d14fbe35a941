"""Test clips made on the fly with PyAV: pans and zooms over a photo, a cut to a second photo in the
middle, an optional sine audio track and rotation metadata (no committed binaries)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import VAL_PHOTOS, synthetic_photo


def source_photo(index: int) -> Image.Image:
    """A photo from the shared val set when present (real texture), else a synthetic one."""
    photos = sorted(VAL_PHOTOS.glob("*.jpg")) if VAL_PHOTOS.is_dir() else []
    if len(photos) > index:
        with Image.open(photos[index]) as img:
            img = img.convert("RGB")
            img.thumbnail((320, 320))
            return img
    return Image.fromarray(synthetic_photo(index, 320, 240))


def clip_frames(width: int, height: int, frames: int, cut: int | None = None) -> list[np.ndarray]:
    """(H, W, 3) uint8 frames: a slow pan plus zoom over photo 0, then (from frame ``cut``) a pan
    over photo 1."""
    out = []
    for i in range(frames):
        shot, t = (0, i) if cut is None or i < cut else (1, i - cut)
        photo = source_photo(shot)
        pw, ph = photo.size
        zoom = 1.0 - 0.01 * t if shot == 0 else 1.0
        cw, ch = int(pw * 0.6 * zoom), int(ph * 0.6 * zoom)
        x0 = min(pw - cw, 2 * t)
        y0 = min(ph - ch, t)
        crop = photo.crop((x0, y0, x0 + cw, y0 + ch)).resize((width, height), Image.BILINEAR)
        out.append(np.asarray(crop))
    return out


def write_clip(
    path: Path,
    frames: list[np.ndarray],
    rate: int = 12,
    audio: bool = False,
    rotation: int = 0,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
) -> Path:
    """Encode ``frames`` (all the same size) to ``path``; with ``audio``, a 440 Hz mono AAC track
    as long as the video."""
    import av

    height, width = frames[0].shape[:2]
    container = av.open(str(path), "w")
    stream = container.add_stream(codec, rate=rate)
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    if rotation:
        stream.set_display_rotation(rotation)
    sound = None
    if audio:
        sound = container.add_stream("aac", rate=16000)
        sound.layout = "mono"
    for i, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = i
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):
            container.mux(packet)
    if sound is not None:
        samples = int(16000 * len(frames) / rate)
        wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / 16000)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = wave[start : start + 1024]
            aframe = av.AudioFrame.from_ndarray(chunk[None], format="fltp", layout="mono")
            aframe.rate, aframe.pts = 16000, start
            for packet in sound.encode(aframe):
                container.mux(packet)
        for packet in sound.encode(None):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)
    container.close()
    return path


def read_frames(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


#: Every container ``tinct colorize`` accepts (``tinct.io.video.VIDEO_EXTENSIONS``), with a
#: codec that container holds and that takes odd frame sizes (libx264 in 4:2:0 does not, so
#: MP4/M4V/MOV carry MPEG-4 Part 2, as old clips and cameras do).
CONTAINER_CODECS = {
    ".mp4": ("mpeg4", "yuv420p"),
    ".m4v": ("mpeg4", "yuv420p"),
    ".mov": ("mjpeg", "yuvj420p"),
    ".mkv": ("ffv1", "yuv420p"),
    ".avi": ("mpeg4", "yuv420p"),
    ".webm": ("libvpx-vp9", "yuv420p"),
}

#: Odd frame sizes as scans and old clips have them: odd width, odd height, both (the issue's).
ODD_SIZES = ((65, 48), (64, 49), (321, 241))


def container_corpus(folder: Path, frames: int = 40) -> dict[str, tuple[int, int]]:
    """Silent clips in every accepted container, each at an even size and at each odd size;
    returns ``{file name: (width, height)}``.

    40 frames is long enough that the MP4 muxer writes its header (and may change its time base)
    before the encoder has taken the last frame, which is what broke silent clips.
    """
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for suffix, (codec, pix_fmt) in CONTAINER_CODECS.items():
        for width, height in ((64, 48), *ODD_SIZES):
            name = f"{suffix[1:]}-{width}x{height}{suffix}"
            count = frames if (width, height) == (64, 48) else 6
            write_clip(folder / name, clip_frames(width, height, count), rate=10, codec=codec, pix_fmt=pix_fmt)
            made[name] = (width, height)
    return made
