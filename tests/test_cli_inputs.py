"""Unlucky inputs to the CLI: a newline in a file name, a sub-folder that cannot be listed.
(`tinct train --resume` before the first checkpoint: tests/test_train.py.)"""

from __future__ import annotations

import errno
import os

import pytest
from PIL import Image

from tinct.cli import main

from .conftest import synthetic_photo, write_photos

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def colorize(weights, *args):
    return main(["colorize", *map(str, args), "--model", str(weights), "--size", "64", "--backend", "torch"])


def test_a_newline_in_a_name_is_still_one_line(weights, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    bad = folder / "two\nlines.png"
    Image.fromarray(synthetic_photo(0, 40, 30)).save(bad, format="PNG")
    (folder / "broken\nname.png").write_text("not an image")

    # Its output would be the input itself, and a broken file beside it: one line each.
    code = colorize(weights, folder, "-o", folder)

    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 1 and "failed 2" in captured.out
    assert len(lines) == 2, lines
    assert any("two lines.png" in line and "input file" in line for line in lines)
    assert any("broken name.png" in line for line in lines)


def test_an_unreadable_subfolder_fails_the_batch(weights, tmp_path, capsys, monkeypatch):
    # As root a chmod-000 folder is still readable, so the refusal is simulated where the
    # folder is listed (os.scandir), as a PermissionError says it.
    src = tmp_path / "in"
    write_photos(src, 1, size=(40, 30))
    write_photos(src / "locked", 1, size=(40, 30))
    locked = str(src / "locked")
    real = os.scandir

    def scandir(path="."):
        if os.fspath(path) == locked:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), locked)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    code = colorize(weights, src, "-o", tmp_path / "out")

    captured = capsys.readouterr()
    assert code == 1
    assert "colorized 1, skipped 0, failed 1" in captured.out
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert lines == [f"{locked}: cannot list folder (Permission denied); its files were not colorized"]
