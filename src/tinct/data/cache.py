"""Training photos decoded once into one uint8 pixel buffer, in memory or memory-mapped from disk.

Why: the training sets are thousands of JPEGs. Decoding and downscaling them costs ~20 ms a photo
(about two minutes for 6,000 on one core) at every start, in every torchrun process. With a cache
folder the work is done once: the pixels of all photos lie back to back in ``pixels.u8`` and
``index.json`` says where each one starts, so a later run (or a resume, or every process of a
torchrun job) maps the same pages instead of decoding again. Without a folder the same buffer is
built in memory, so both ways go through one decode → skip → downscale path.

A cache folder is valid only for the photo list, file sizes, modification times and settings it
was built from (its ``key``); any change rebuilds it. ``pixels.u8`` is written first and
``index.json`` last, both atomically, so an interrupted build leaves no index and is redone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from tinct.io.images import ImageReadError, atomic_open, atomic_write_bytes, is_grayscale, read_image

log = logging.getLogger(__name__)

#: Bumped whenever the layout or the decoding changes, so old cache folders are rebuilt.
CACHE_VERSION = 1
INDEX, PIXELS = "index.json", "pixels.u8"


def shrink(rgb: np.ndarray, shorter_side: int) -> np.ndarray:
    """(H, W, 3) uint8 downscaled (bicubic) so its shorter side is at most ``shorter_side`` px;
    photos already that small are returned as they are (never upscaled)."""
    h, w = rgb.shape[:2]
    factor = shorter_side / min(h, w)
    if factor >= 1:
        return rgb
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.BICUBIC))


def cache_key(paths: list[Path], shorter_side: int, skip_gray: bool) -> str:
    """SHA-256 over the settings and every file's path, size and mtime (ns): what makes a cache valid."""
    digest = hashlib.sha256(json.dumps([CACHE_VERSION, shorter_side, skip_gray]).encode())
    for path in paths:
        try:
            st = os.stat(path)
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        digest.update(f"{path}\0{stamp}\n".encode())
    return digest.hexdigest()


class PhotoCache:
    """Decoded photos: ``cache[i]`` is photo i as (H, W, 3) uint8, shorter side ≤ ``shorter_side``.

    Build it with :meth:`build`. Attributes: ``paths`` (the photos kept, in input order),
    ``skipped_unreadable`` (one-line errors) and ``skipped_gray`` (paths without chroma).
    """

    def __init__(self, pixels: np.ndarray, entries: list[dict], skipped_unreadable: list[str], skipped_gray: list[str]):
        self._pixels = pixels
        self._entries = entries
        self.paths = [Path(e["path"]) for e in entries]
        self.skipped_unreadable = skipped_unreadable
        self.skipped_gray = skipped_gray

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: int) -> np.ndarray:
        e = self._entries[index]
        n = e["height"] * e["width"] * 3
        return self._pixels[e["offset"] : e["offset"] + n].reshape(e["height"], e["width"], 3)

    @classmethod
    def build(
        cls, paths: list[Path], shorter_side: int, skip_gray: bool, folder: str | Path | None = None
    ) -> PhotoCache:
        """Decode ``paths`` (unreadable files and, if ``skip_gray``, gray photos are left out and
        listed), each downscaled by :func:`shrink`. With ``folder``, reuse the cache there if its key
        matches, else (re)build it there; without, build in memory."""
        paths = [Path(p) for p in paths]
        key = cache_key(paths, shorter_side, skip_gray)
        if folder is not None:
            cached = cls._open(Path(folder), key)
            if cached is not None:
                return cached
        entries, chunks, skipped_unreadable, skipped_gray = [], [], [], []
        offset = 0
        for path in tqdm(paths, desc="decoding photos", unit="photo", leave=False, disable=len(paths) < 200):
            try:
                rgb = read_image(path)
            except ImageReadError as err:
                log.warning("skipping %s", err)
                skipped_unreadable.append(str(err))
                continue
            if skip_gray and is_grayscale(rgb):
                skipped_gray.append(str(path))
                continue
            rgb = np.ascontiguousarray(shrink(rgb, shorter_side))
            entries.append({"path": str(path), "offset": offset, "height": rgb.shape[0], "width": rgb.shape[1]})
            chunks.append(rgb.reshape(-1))
            offset += rgb.size
        if folder is None:
            pixels = np.concatenate(chunks) if chunks else np.zeros(0, np.uint8)
            return cls(pixels, entries, skipped_unreadable, skipped_gray)
        folder = Path(folder)
        with atomic_open(folder / PIXELS) as f:
            for chunk in chunks:  # photo by photo: no second copy of every pixel in memory
                f.write(memoryview(chunk))
        index = {"key": key, "entries": entries, "skipped_unreadable": skipped_unreadable, "skipped_gray": skipped_gray}
        atomic_write_bytes(folder / INDEX, json.dumps(index).encode())  # last: the build is complete
        log.info("cached %d photos (%.0f MB) in %s", len(entries), offset / 1e6, folder)
        del chunks
        opened = cls._open(folder, key)
        assert opened is not None
        return opened

    @classmethod
    def _open(cls, folder: Path, key: str) -> PhotoCache | None:
        """The cache in ``folder`` if it was built for ``key`` and is whole, else None."""
        try:
            index = json.loads((folder / INDEX).read_text())
            if index.get("key") != key:
                return None
            entries = index["entries"]
            size = entries[-1]["offset"] + entries[-1]["height"] * entries[-1]["width"] * 3 if entries else 0
            if (folder / PIXELS).stat().st_size != size:
                return None
            pixels = np.memmap(folder / PIXELS, np.uint8, mode="r") if size else np.zeros(0, np.uint8)
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            return None
        return cls(pixels, entries, index["skipped_unreadable"], index["skipped_gray"])
