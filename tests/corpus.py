"""A corpus of bad and awkward input files, generated on the fly (nothing binary is committed).

``make_corpus(folder)`` writes every file into ``folder`` and returns what each one should
become: an output of a given (displayed) size, or a one-line error containing a given reason.
Used by tests/test_reliability.py, which pushes the corpus through every front end.
"""

from __future__ import annotations

import dataclasses
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from tinct.io.images import _TRANSPOSE

#: The inverse of each EXIF orientation's transpose (5, 6 and 7, 8 swap roles; the rest are involutions).
_INVERSE = {2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}


@dataclasses.dataclass(frozen=True)
class Expect:
    """What should happen to one corpus file.

    Attributes:
        ok: the file is readable: every front end produces a result of ``size``.
        size: ``(width, height)`` as displayed (after EXIF rotation), for readable files.
        reason: for unreadable files, a substring of the one-line error.
        gray: the image has no chroma (the training dataset skips it by default).
        warns: reading it warns (animated: first frame only).
        displayed: for EXIF-rotated files, the (H, W) uint8 lightness the output must show.
    """

    ok: bool
    size: tuple[int, int] | None = None
    reason: str = ""
    gray: bool = False
    warns: bool = False
    displayed: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)


def colorful(width: int, height: int, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8 with plenty of chroma and smooth structure."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height, 1)
    phase = rng.uniform(0, 2 * np.pi, 3)
    rgb = np.stack([0.5 + 0.45 * np.sin(5 * x + 4 * y * (c + 1) + phase[c]) for c in range(3)], axis=-1)
    return (rgb * 255).round().astype(np.uint8)


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _png(width: int, height: int, idat: bytes) -> bytes:
    """A 1-bit grayscale PNG file with this header and compressed pixel data."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def png_header_only(width: int, height: int) -> bytes:
    """A 1-bit PNG claiming ``width`` × ``height`` pixels with only a few rows of data (a cheap bomb)."""
    return _png(width, height, zlib.compress(b"\0" * (1 + (width + 7) // 8) * 4))


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit all-black PNG of width x height: a few KB that decode to width*height pixels."""
    row = b"\x00" * (1 + (width + 7) // 8)
    z = zlib.compressobj(9)
    return _png(width, height, b"".join(z.compress(row) for _ in range(height)) + z.flush())


def exif_pattern(width: int = 48, height: int = 32) -> np.ndarray:
    """The displayed image of the EXIF files: a bright top-left block on a dark ramp, so every
    wrong rotation or flip is obvious. (H, W) uint8."""
    gray = np.tile(np.linspace(20, 90, width, dtype=np.float32), (height, 1))
    gray[: height // 2, : width // 3] = 235
    return gray.round().astype(np.uint8)


def _animated(fmt: str) -> bytes:
    frames = [Image.fromarray(colorful(30, 20, seed=s)) for s in range(3)]
    options = {"save_all": True, "append_images": frames[1:], "duration": 100, "loop": 0}
    if fmt == "WEBP":
        options["lossless"] = True
    return _encode(frames[0], fmt, **options)


def make_corpus(folder: Path) -> dict[str, Expect]:
    """Write the corpus into ``folder`` (created). Returns file name → expectation.

    Besides the files in the returned dict, ``folder`` holds a symlink loop ``loop -> .`` (a
    folder walk must terminate and list each file once) and a self-referencing file symlink
    ``selfloop.jpg`` (not a readable file: folder walks skip it, as they skip dangling links).
    """
    folder.mkdir(parents=True, exist_ok=True)
    base = Image.fromarray(colorful(64, 48))
    jpeg, png = _encode(base, "JPEG", quality=90), _encode(base, "PNG")
    files: dict[str, tuple[bytes, Expect]] = {
        "empty.jpg": (b"", Expect(False, reason="empty file (0 bytes)")),
        "truncated.jpg": (jpeg[: len(jpeg) // 2], Expect(False, reason="truncated")),
        "truncated.png": (png[: len(png) // 2], Expect(False, reason="truncated")),
        "text.jpg": (b"hello, I am plain text pretending to be a JPEG\n", Expect(False, reason="not an image")),
        "png_named.jpg": (png, Expect(True, (64, 48))),
        "one_pixel.png": (_encode(Image.new("RGB", (1, 1), (200, 30, 40)), "PNG"), Expect(True, (1, 1))),
        "thin_1x10000.png": (_encode(Image.fromarray(colorful(1, 10000)), "PNG"), Expect(True, (1, 10000))),
        "wide_10000x1.png": (_encode(Image.fromarray(colorful(10000, 1)), "PNG"), Expect(True, (10000, 1))),
        "bomb_20000x20000.png": (png_header_only(20000, 20000), Expect(False, reason="exceeds the limit")),
        "cmyk.jpg": (_encode(base.convert("CMYK"), "JPEG", quality=90), Expect(True, (64, 48))),
        "sixteen_bit.png": (
            _encode(Image.fromarray(np.arange(40 * 30, dtype=np.uint16).reshape(30, 40) * 50), "PNG"),
            Expect(True, (40, 30), gray=True),
        ),
        "palette_transparent.png": (
            _encode(base.quantize(16), "PNG", transparency=0),
            Expect(True, (64, 48)),
        ),
        "la.png": (_encode(base.convert("LA"), "PNG"), Expect(True, (64, 48), gray=True)),
        "animated.gif": (_animated("GIF"), Expect(True, (30, 20), warns=True)),
        "animated.webp": (_animated("WEBP"), Expect(True, (30, 20), warns=True)),
        "name with spaces ünïcødé 写真.png": (
            _encode(Image.fromarray(colorful(24, 16, 3)), "PNG"),
            Expect(True, (24, 16)),
        ),
    }
    pattern = exif_pattern()
    for orientation in range(1, 9):
        stored = Image.fromarray(pattern)
        if orientation in _TRANSPOSE:
            stored = stored.transpose(_TRANSPOSE[_INVERSE[orientation]])
        exif = Image.Exif()
        exif[0x0112] = orientation
        data = _encode(stored.convert("RGB"), "JPEG", quality=95, exif=exif.tobytes())
        size = (pattern.shape[1], pattern.shape[0])
        files[f"exif_{orientation}.jpg"] = (data, Expect(True, size, gray=True, displayed=pattern))

    expected: dict[str, Expect] = {}
    for name, (data, expect) in files.items():
        (folder / name).write_bytes(data)
        expected[name] = expect

    unreadable = folder / "unreadable.png"
    unreadable.write_bytes(_encode(Image.fromarray(colorful(20, 10, 5)), "PNG"))
    unreadable.chmod(0)
    if os.access(unreadable, os.R_OK):  # root (as in CI containers) reads it anyway
        expected[unreadable.name] = Expect(True, (20, 10))
    else:
        expected[unreadable.name] = Expect(False, reason="permission denied")

    os.symlink(".", folder / "loop")
    os.symlink("selfloop.jpg", folder / "selfloop.jpg")
    return expected


def output_name(name: str) -> str:
    """The output file name ``tinct colorize`` uses for a corpus file (GIF is written as PNG)."""
    stem, suffix = os.path.splitext(name)
    return stem + (".png" if suffix == ".gif" else suffix)
