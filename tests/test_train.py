"""The training loop: learning happens, the run folder is complete, and resume is exact."""

import csv
import dataclasses
import json

import pytest
import torch

from tinct.cli import main
from tinct.color.lab import rgb_to_lab
from tinct.io.weights import load_weights
from tinct.losses import build_loss
from tinct.models import create_model
from tinct.models.loading import load_model
from tinct.train import TrainConfig, fit, load_config
from tinct.train import loop as fit_module
from tinct.train.checkpoint import load_resume_state

from .conftest import write_photos

TINY_UNET = {"decoder_channels": [8, 8, 8, 8], "head": "classification", "output_stride": 4, "hints": True}


def read_rows(run):
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_seed_loss_falls_by_half_on_two_images():
    """Two synthetic strips whose color is a function of lightness (blue dark, orange light)."""
    torch.manual_seed(0)
    ramp = torch.linspace(0, 1, 128).expand(16, 128)
    blue, orange = torch.tensor([30.0, 60, 170]).view(3, 1, 1), torch.tensor([250.0, 170, 40]).view(3, 1, 1)
    rgb = torch.stack([(blue * (1 - r) + orange * r) / 255 for r in (ramp, ramp.flip(-1))])
    lab = rgb_to_lab(rgb)
    L, ab = lab[:, :1], lab[:, 1:]
    model = create_model("seed")
    loss_fn = build_loss("l2", "regression")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(40):
        loss = loss_fn(model(L), ab)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] <= 0.5 * losses[0], losses


def test_run_folder_and_exact_resume(tmp_path, monkeypatch):
    data = tmp_path / "data"
    write_photos(data, 6, size=(80, 72))
    common = dict(
        data=str(data),
        val=str(data),
        model="unet",
        model_args=TINY_UNET,
        size=64,
        batch_size=4,
        lr=1e-3,
        schedule="cosine",
        freeze_encoder_epochs=1,
        encoder_lr_scale=0.1,
    )
    straight = fit(TrainConfig(**common, epochs=3, out=str(tmp_path / "straight"))).out
    for name in (
        "config.json",
        "metrics.csv",
        "loss.png",
        "samples/epoch_003.png",
        "checkpoints/last.safetensors",
        "checkpoints/best.safetensors",
        "checkpoints/last.resume.pt",
    ):
        assert (straight / name).is_file(), name
    assert json.loads((straight / "config.json").read_text())["epochs"] == 3
    rows = read_rows(straight)
    assert [r["epoch"] for r in rows] == ["1", "2", "3"] and all(r["val_psnr"] for r in rows)
    _, meta = load_weights(straight / "checkpoints/last.safetensors")
    assert meta["model"] == "unet" and meta["config"]["hints"] is True and meta["epoch"] == 3
    assert load_resume_state(straight / "checkpoints/last.resume.pt")["epoch"] == 3

    # The same run, interrupted after epoch 1 and resumed, ends with identical weights.
    split = tmp_path / "split"
    write_epoch = fit_module._write_epoch

    def write_then_crash(*args, **kwargs):
        write_epoch(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(fit_module, "_write_epoch", write_then_crash)
    with pytest.raises(KeyboardInterrupt):
        fit(TrainConfig(**common, epochs=3, out=str(split)))
    monkeypatch.setattr(fit_module, "_write_epoch", write_epoch)
    assert [r["epoch"] for r in read_rows(split)] == ["1"]
    # What a SIGKILL mid-write leaves behind (see tinct.io.images.atomic_open); resume removes it.
    leftovers = [split / ".metrics.csv.0123456789ab.tmp", split / "checkpoints" / ".last.safetensors.ba9876543210.tmp"]
    for leftover in leftovers:
        leftover.write_bytes(b"partial")
    fit(TrainConfig(**common, epochs=3, out=str(split), resume=True))
    assert not any(p.exists() for p in leftovers)
    a, _ = load_model(straight / "checkpoints/last.safetensors")
    b, _ = load_model(split / "checkpoints/last.safetensors")
    for (name, ta), tb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(ta, tb), name  # bit-identical, as RELIABILITY.md promises
    assert [r["epoch"] for r in read_rows(split)] == ["1", "2", "3"]


def test_refuses_to_clobber_a_run_and_resume_needs_one(tmp_path):
    data = tmp_path / "data"
    write_photos(data, 2, size=(64, 64))
    cfg = dict(
        data=str(data), model="unet", model_args=TINY_UNET, size=64, epochs=1, batch_size=2, out=str(tmp_path / "r")
    )
    fit(TrainConfig(**cfg, resume=True))  # no checkpoint yet: a fresh start (tests/test_cli_inputs.py)
    with pytest.raises(ValueError, match="already holds a run"):
        fit(TrainConfig(**cfg))


def test_cli_train_with_config_and_overrides(tmp_path, capsys):
    data = tmp_path / "data"
    write_photos(data, 2, size=(64, 64))
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(
        f'data = "{data}"\nmodel = "unet"\nmodel_args = {{ decoder_channels = [8, 8, 8, 8] }}\nsize = 64\nepochs = 5\n'
    )
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--config",
                str(recipe),
                "--epochs",
                "1",
                "--batch-size",
                "2",
                "--head",
                "regression",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    saved = json.loads((out / "config.json").read_text())
    assert saved["epochs"] == 1 and saved["model_args"]["head"] == "regression"
    assert main(["train", str(data), "--model", "seed", "--size", "100", "--out", str(tmp_path / "bad")]) == 2
    assert "only runs at width 128" in capsys.readouterr().err


def test_config_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("epochz = 3\n")
    with pytest.raises(ValueError, match="bad.toml: unknown field"):
        load_config(bad)
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="linear")


def test_init_from_keeps_new_layers_fresh(tmp_path):
    from tinct.models.loading import save_model

    data = tmp_path / "data"
    write_photos(data, 2, size=(64, 64))
    base = create_model("unet", decoder_channels=[8, 8, 8, 8], head="regression", hints=True)
    save_model(tmp_path / "base.safetensors", base)
    args = {**TINY_UNET, "head": "regression", "output_stride": 2, "hint_injection": "multiscale"}
    cfg = TrainConfig(
        data=str(data),
        model="unet",
        model_args=args,
        size=64,
        epochs=1,
        batch_size=2,
        lr=1e-9,
        init_from=str(tmp_path / "base.safetensors"),
        out=str(tmp_path / "run"),
    )
    model = fit(cfg).model
    assert torch.allclose(model.hint_stem.weight, base.hint_stem.weight, atol=1e-6)
    # The same recipe without the multiscale hint adapters: the base's head no longer fits.
    bad = dataclasses.replace(cfg, model_args=TINY_UNET, out=str(tmp_path / "bad"))
    with pytest.raises(ValueError, match="shape mismatches"):
        fit(bad)


def test_gradient_accumulation_matches_the_full_batch(tmp_path):
    """Two accumulated half-batches make the same SGD step as one full batch (no batch norm in seed)."""
    data = tmp_path / "data"
    write_photos(data, 4, size=(96, 96))
    common = dict(data=str(data), model="seed", size=128, epochs=1, batch_size=4, lr=1e-2, optimizer="sgd", seed=5)
    whole = fit(TrainConfig(**common, out=str(tmp_path / "whole"))).model.state_dict()
    accumulated = fit(TrainConfig(**common, grad_accum=2, out=str(tmp_path / "accum"))).model.state_dict()
    for name, value in whole.items():
        assert torch.allclose(accumulated[name], value, atol=1e-6), name


def test_ema_weights_are_validated_and_saved(tmp_path):
    data = tmp_path / "data"
    write_photos(data, 4, size=(64, 64))
    args = {**TINY_UNET, "head": "regression", "output_stride": 2}
    common = dict(data=str(data), model="unet", model_args=args, size=64, epochs=2, batch_size=2, lr=1e-2, seed=2)
    plain = fit(TrainConfig(**common, out=str(tmp_path / "plain"))).model
    result = fit(TrainConfig(**common, ema=0.5, out=str(tmp_path / "ema")))
    saved, _ = load_model(result.out / "checkpoints/last.safetensors")
    # The saved weights are the EMA ones, which differ from the raw weights of an identical run without EMA.
    assert torch.equal(saved.head[2].weight, result.model.head[2].weight)
    assert not torch.allclose(result.model.head[2].weight, plain.head[2].weight)
    assert "ema" in load_resume_state(result.out / "checkpoints/last.resume.pt")
    with pytest.raises(ValueError, match="ema"):
        TrainConfig(ema=1.5)


def test_extra_data_folders_join_the_training_set(tmp_path):
    write_photos(tmp_path / "main", 2, size=(64, 64))
    write_photos(tmp_path / "extra", 3, size=(64, 64))
    cfg = TrainConfig(data=str(tmp_path / "main"), extra_data=[str(tmp_path / "extra")], val=str(tmp_path / "main"))
    train, val = fit_module._datasets(cfg, 64, hints=False)
    assert sorted(p.parent.name for p in train.paths) == ["extra"] * 3 + ["main"] * 2
    assert len(val) == 2
