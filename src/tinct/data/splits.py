"""A fixed validation split carved out of a photo folder, chosen by a hash of each file's name.

Why a hash of the name and not a seeded shuffle: the split of a photo never changes when photos are
added to or removed from its folder, or when the folder is copied elsewhere, so a val photo can
never leak into a later run's training set and every machine carves the same split.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def in_val_split(name: str, fraction: float) -> bool:
    """True for the ``fraction`` (in [0, 1)) of file names whose SHA-1 falls in the val range."""
    digest = hashlib.sha1(name.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def carve_val(paths: list[Path], fraction: float) -> tuple[list[Path], list[Path]]:
    """(train, val) from ``paths``, by :func:`in_val_split` of each file name; order is kept."""
    train, val = [], []
    for path in paths:
        (val if in_val_split(Path(path).name, fraction) else train).append(Path(path))
    return train, val
