"""The training loop: learning happens, the run folder is complete, and resume is exact."""

import csv
import dataclasses
import json

import pytest
import torch

from tinct.cli import main
from tinct.color.lab import rgb_to_lab
from tinct.data.splits import in_val_split
from tinct.io.weights import load_weights
from tinct.losses import build_loss
from tinct.models import create_model
from tinct.models.loading import load_model
from tinct.train import TrainConfig, dist, fit, load_config
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
    fit(TrainConfig(**cfg))
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


def test_resolve_config_puts_given_options_over_the_recipe(tmp_path):
    from tinct.train import resolve_config

    recipe = tmp_path / "r.toml"
    recipe.write_text('data = "photos"\nepochs = 7\nlr = 0.5\n[model_args]\nhints = true\n')
    cfg = resolve_config(recipe, head="classification", lr=0.25, epochs=None)
    assert (cfg.data, cfg.epochs, cfg.lr) == ("photos", 7, 0.25)  # None means "not given"
    assert cfg.model_args == {"hints": True, "head": "classification"}
    assert resolve_config(data="x", batch_size=2).batch_size == 2  # no recipe: TrainConfig's defaults
    assert resolve_config(file_list="list.txt").model_args == {}
    with pytest.raises(ValueError, match="give a DATA folder"):
        resolve_config(tmp_path / "r.toml", data="")
    with pytest.raises(ValueError, match="give a DATA folder"):
        resolve_config()


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
    train, val, _ = fit_module._datasets(cfg, 64, hints=False, info=dist.DistInfo())
    assert sorted(p.parent.name for p in train.paths) == ["extra"] * 3 + ["main"] * 2
    assert len(val) == 2


def test_val_fraction_carves_every_folder_by_file_name(tmp_path):
    """4% of each training folder goes to val (the photos whose names hash into it), beside --val."""
    write_photos(tmp_path / "main", 40, size=(32, 32))
    write_photos(tmp_path / "extra", 40, size=(32, 32))
    for i in range(40):  # distinct names per folder, so each folder's split is its own
        (tmp_path / "extra" / f"photo_{i}.png").rename(tmp_path / "extra" / f"extra_{i}.png")
    write_photos(tmp_path / "val", 1, size=(32, 32))
    cfg = TrainConfig(
        data=str(tmp_path / "main"), extra_data=[str(tmp_path / "extra")], val=str(tmp_path / "val"), val_fraction=0.1
    )
    train, val, _ = fit_module._datasets(cfg, 32, hints=False, info=dist.DistInfo())
    carved = [p for p in val.paths if p.parent.name != "val"]
    assert {p.parent.name for p in carved} == {"main", "extra"} and len(val) == len(carved) + 1
    assert not set(train.paths) & set(val.paths) and len(train) + len(carved) == 80
    assert all(in_val_split(p.name, 0.1) for p in carved)


def test_samples_zero_trains_on_without_sample_grids(tmp_path):
    """Issue 27: `--samples 0` used to end every run with exit status 2 after the first epoch."""
    data = tmp_path / "data"
    write_photos(data, 4, size=(64, 64))
    out = tmp_path / "run"
    argv = ["train", str(data), "--val", str(data), "--model", "seed", "--size", "128", "--epochs", "2"]
    assert main([*argv, "--batch-size", "2", "--samples", "0", "--out", str(out)]) == 0
    assert [r["epoch"] for r in read_rows(out)] == ["1", "2"]
    assert [p.name for p in out.rglob("*.png")] == ["loss.png"] and not (out / "samples").exists()


def test_the_model_owns_its_parameter_groups():
    """The unet names its pretrained trunk and hint layers; the loop only maps groups to lr scales,
    and a group at scale 1 joins the rest (one optimizer layout for resume files)."""
    model = create_model("unet", **TINY_UNET)
    groups = {name: model.parameter_group(name) for name, _ in model.named_parameters()}
    assert {n for n, g in groups.items() if g == "hints"} == {
        n for n in groups if n.startswith(("hint_stem.", "hint_adapters."))
    } != set()
    assert all(g == "encoder" for n, g in groups.items() if n.startswith("encoder."))
    assert all(g == "rest" for n, g in groups.items() if n.startswith(("decoder.", "head.")))
    scaled = fit_module._param_groups(model, TrainConfig(lr=1.0, encoder_lr_scale=0.1, hint_lr_scale=3.0))
    by_lr = {g["lr"]: {id(p) for p in g["params"]} for g in scaled}
    named = dict(model.named_parameters())
    assert by_lr[0.1] == {id(named[n]) for n, g in groups.items() if g == "encoder"}
    assert by_lr[3.0] == {id(named[n]) for n, g in groups.items() if g == "hints"}
    plain = fit_module._param_groups(model, TrainConfig(lr=1.0))
    assert len(plain) == 1 and plain[0]["params"] == list(model.parameters())  # the model's order
    assert create_model("seed").parameter_group("conv1.weight") == "rest"
    model.freeze_encoder(True)
    assert not any(p.requires_grad for p in model.encoder.parameters()) and not model.encoder.training
    model.freeze_encoder(False)
    assert all(p.requires_grad for p in model.encoder.parameters())


def test_resume_file_without_a_schedule_continues_the_lr_from_its_epoch(tmp_path):
    """Resume files written before the schedule was saved: the lr picks up where the epoch says."""
    data = tmp_path / "data"
    write_photos(data, 4, size=(64, 64))
    cfg = dict(data=str(data), model="seed", size=128, batch_size=2, lr=1e-3, schedule="cosine", samples=0)
    straight = fit(TrainConfig(**cfg, epochs=2, out=str(tmp_path / "straight"))).out
    fit(TrainConfig(**cfg, epochs=1, out=str(tmp_path / "old")))
    state = load_resume_state(tmp_path / "old/checkpoints/last.resume.pt")
    del state["scheduler"]
    torch.save(state, tmp_path / "old/checkpoints/last.resume.pt")
    fit(TrainConfig(**cfg, epochs=2, out=str(tmp_path / "old"), resume=True))
    # The one-epoch run's cosine ended at lr 0, so the legacy branch must recompute the lr for a
    # two-epoch schedule from the epoch; the rows then match the uninterrupted run.
    assert [r["lr"] for r in read_rows(tmp_path / "old")][1] == read_rows(straight)[1]["lr"]


def test_mixed_precision_is_cuda_only_and_picks_bf16_where_supported(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert fit_module._mixed_precision(TrainConfig(amp="auto"), cpu) == (None, None)
    with pytest.raises(ValueError, match="--amp bf16 needs a CUDA device"):
        fit_module._mixed_precision(TrainConfig(amp="bf16"), cpu)
    assert fit_module._mixed_precision(TrainConfig(amp="off"), cuda) == (None, None)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert fit_module._mixed_precision(TrainConfig(amp="auto"), cuda) == (torch.bfloat16, None)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    with pytest.warns(UserWarning):  # a CPU-only build warns that the scaler is disabled
        dtype, scaler = fit_module._mixed_precision(TrainConfig(amp="auto"), cuda)
    assert dtype == torch.float16 and isinstance(scaler, torch.amp.GradScaler)


def test_resume_before_the_first_checkpoint_starts_the_run(tmp_path, capsys):
    """`--resume` on a folder with no checkpoint yet means 'start it', not an error."""
    data = tmp_path / "data"
    write_photos(data, 2, size=(64, 64))
    cfg = TrainConfig(data=str(data), model="seed", size=128, epochs=1, batch_size=2, out=str(tmp_path / "r"))
    fit(dataclasses.replace(cfg, resume=True))
    assert "has no checkpoint yet" in capsys.readouterr().out
    assert [r["epoch"] for r in read_rows(tmp_path / "r")] == ["1"]


@pytest.mark.slow
def test_compiled_training_matches_eager(tmp_path):
    """--compile trains the same model (torch.compile on CPU needs a C compiler, as building tinct does)."""
    data = tmp_path / "data"
    write_photos(data, 2, size=(64, 64))
    cfg = dict(data=str(data), model="seed", size=128, epochs=1, batch_size=2, samples=0, threads=1)
    eager = fit(TrainConfig(**cfg, out=str(tmp_path / "eager"))).model.state_dict()
    compiled = fit(TrainConfig(**cfg, out=str(tmp_path / "compiled"), compile=True)).model.state_dict()
    for name, value in eager.items():
        torch.testing.assert_close(compiled[name], value, rtol=1e-4, atol=1e-5, msg=name)


def test_source_weights_set_each_folders_share_of_an_epoch(tmp_path):
    """--source-weights 1,3: a quarter of the epoch's draws from DATA and three quarters from the
    extra folder, whatever the folder sizes; a weight list of the wrong length is refused."""
    write_photos(tmp_path / "main", 6, size=(32, 32))
    write_photos(tmp_path / "extra", 2, size=(32, 32))
    for i in range(2):
        (tmp_path / "extra" / f"photo_{i}.png").rename(tmp_path / "extra" / f"extra_{i}.png")
    cfg = TrainConfig(data=str(tmp_path / "main"), extra_data=[str(tmp_path / "extra")], source_weights=[1, 3])
    train, _, sources = fit_module._datasets(cfg, 32, hints=False, info=dist.DistInfo())
    assert sorted(sources) == [0] * 6 + [1] * 2
    drawn = list(fit_module._sampler(cfg, train, sources, dist.DistInfo()))
    assert len(drawn) == len(train) == 8
    folders = [train.paths[i % len(train)].parent.name for i in drawn]
    assert folders.count("extra") == 6 and folders.count("main") == 2
    with pytest.raises(ValueError, match="2 training source"):
        fit_module._datasets(
            dataclasses.replace(cfg, source_weights=[1, 1, 1]), 32, hints=False, info=dist.DistInfo()
        )
