"""Result tables that scripts print and also write under docs/results/, so that every number a
document quotes comes from a file a command wrote (and says which command)."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from tinct.io.images import atomic_open

__all__ = ["write_table"]


def write_table(path: str | os.PathLike, text: str, argv: Sequence[str] | None = None) -> Path:
    """Write ``text`` (markdown: a table, perhaps with lines around it) to ``path`` atomically,
    under a comment holding the command that produced it; parent folders are created.

    Args:
        argv: the command line to record; default ``sys.argv`` (as ``python <script> <args>``).

    Returns:
        ``Path(path)``.
    """
    path = Path(path)
    command = "python " + shlex.join(sys.argv if argv is None else argv)
    with atomic_open(path, "w") as f:
        f.write(f"<!-- written by: {command} -->\n\n{text.rstrip()}\n")
    return path
