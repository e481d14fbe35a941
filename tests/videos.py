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
