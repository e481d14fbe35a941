"""`tinct --help` lists every subcommand and each subcommand's help works."""

from __future__ import annotations

import pytest

from tinct.cli import main

SUBCOMMANDS = ["train", "colorize", "eval", "models"]


def test_top_level_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_subcommand_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: tinct {name}" in capsys.readouterr().out


def test_models_lists_architectures(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "seed" in out and "unet" in out and "bundled weights" in out
