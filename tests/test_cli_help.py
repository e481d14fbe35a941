"""`tinct --help` lists every subcommand and each subcommand's help works."""

from __future__ import annotations

import pytest

from tinct.cli import main

SUBCOMMANDS = ["train", "colorize", "eval", "models", "convert"]


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


#: The `tinct train` options users are promised (README, configs/*.toml keys), written out by hand:
#: the CLI builds them from TrainConfig's fields, so a test that built them the same way could not
#: fail. A field renamed or dropped, or one added without its option, shows up here.
TRAIN_OPTIONS = {
    "--file-list", "--extra-data", "--val", "--val-fraction", "--source-weights", "--model", "--init-from", "--cache",
    "--size", "--degrade",
    "--epochs", "--batch-size", "--grad-accum", "--lr", "--optimizer", "--encoder-lr-scale", "--hint-lr-scale",
    "--freeze-encoder-epochs", "--weight-decay", "--schedule", "--warmup-steps", "--loss", "--rebalance-lambda",
    "--out", "--resume", "--device", "--seed", "--workers", "--threads", "--ema", "--amp", "--compile", "--samples",
    "--log-every",
}  # fmt: skip


def test_train_options_are_the_fields_of_train_config(monkeypatch, tmp_path):
    """Every TrainConfig field (but the TOML-only model_args) is a `tinct train` option, and what
    the command line says reaches fit() unchanged, over a --config file's value."""
    import argparse
    import dataclasses

    import tinct.train
    from tinct.cli import build_parser
    from tinct.train import TrainConfig

    subcommands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    train = subcommands.choices["train"]
    flags = {s for action in train._actions for s in action.option_strings}
    assert TRAIN_OPTIONS <= flags
    assert len(TRAIN_OPTIONS) == len(dataclasses.fields(TrainConfig)) - 2  # all but data (positional), model_args

    seen = []
    monkeypatch.setattr(tinct.train, "fit", lambda cfg: seen.append(cfg) or type("R", (), {"out": "x"})())
    recipe = tmp_path / "r.toml"
    recipe.write_text('epochs = 7\nschedule = "cosine"\nlr = 0.5\n')
    argv = ["train", "photos", "--config", str(recipe), "--lr", "0.25", "--degrade", "0.3", "--resume"]
    assert main([*argv, "--extra-data", "a", "--extra-data", "b", "--head", "classification"]) == 0
    cfg = seen[0]
    assert (cfg.data, cfg.epochs, cfg.schedule, cfg.lr, cfg.degrade, cfg.resume) == (
        "photos",
        7,
        "cosine",
        0.25,
        0.3,
        True,
    )
    assert cfg.extra_data == ["a", "b"] and cfg.model_args == {"head": "classification"} and cfg.compile is False
