"""Zhang et al.'s eccv16 / siggraph17: the authors' state-dict layout, their pre/post-processing,
loading a published-style .pth through `tinct colorize --weights`, and training with `tinct train`.

The networks have ~32M parameters, so every test runs them at 64x64 or less, single-threaded, and
builds each model once per module."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from tinct.cli import main
from tinct.inference import Colorizer
from tinct.models import create_model
from tinct.models.zhang import ECCV16, SIGGRAPH17, pts_in_hull
from tinct.train import TrainConfig, fit
from tinct.train import loop as fit_module

from .conftest import synthetic_photo, write_photos

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def models(one_torch_thread):
    torch.manual_seed(0)
    return {"eccv16": create_model("eccv16").eval(), "siggraph17": create_model("siggraph17").eval()}


# ---------------------------------------------------------------------------------------------
# The expected state dicts, transcribed from richzhang/colorization colorizers/eccv16.py and
# colorizers/siggraph17.py (nn.Sequential indices count the ReLUs; BatchNorm2d has 5 entries).


def conv(key, c_out, c_in, k, bias=True):
    return [(f"{key}.weight", (c_out, c_in, k, k))] + ([(f"{key}.bias", (c_out,))] if bias else [])


def deconv(key, c_in, c_out):  # ConvTranspose2d stores (in, out, k, k)
    return [(f"{key}.weight", (c_in, c_out, 4, 4)), (f"{key}.bias", (c_out,))]


def bn(key, c):
    return [(f"{key}.{n}", (c,)) for n in ("weight", "bias", "running_mean", "running_var")] + [
        (f"{key}.num_batches_tracked", ())
    ]


def block(name, c_in, c_out, convs, first=0):
    """convs × (3x3 conv, ReLU) from index `first` (1 after a leading ReLU), then BatchNorm."""
    entries = []
    for i in range(convs):
        entries += conv(f"{name}.{first + 2 * i}", c_out, c_in if i == 0 else c_out, 3)
    return entries + bn(f"{name}.{first + 2 * convs}", c_out)


ECCV16_TABLE = (
    block("model1", 1, 64, 2)
    + block("model2", 64, 128, 2)
    + block("model3", 128, 256, 3)
    + block("model4", 256, 512, 3)
    + block("model5", 512, 512, 3)
    + block("model6", 512, 512, 3)
    + block("model7", 512, 512, 3)
    + deconv("model8.0", 512, 256)
    + conv("model8.2", 256, 256, 3)
    + conv("model8.4", 256, 256, 3)
    + conv("model8.6", 313, 256, 1)
    + conv("model_out", 2, 313, 1, bias=False)
)

SIGGRAPH17_TABLE = (
    block("model1", 4, 64, 2)
    + block("model2", 64, 128, 2)
    + block("model3", 128, 256, 3)
    + block("model4", 256, 512, 3)
    + block("model5", 512, 512, 3)
    + block("model6", 512, 512, 3)
    + block("model7", 512, 512, 3)
    + deconv("model8up.0", 512, 256)
    + block("model8", 256, 256, 2, first=1)
    + deconv("model9up.0", 256, 128)
    + block("model9", 128, 128, 1, first=1)
    + deconv("model10up.0", 128, 128)
    + conv("model10.1", 128, 128, 3)
    + conv("model3short8.0", 256, 256, 3)
    + conv("model2short9.0", 128, 128, 3)
    + conv("model1short10.0", 128, 64, 3)
    + conv("model_class.0", 529, 256, 1)
    + conv("model_out.0", 2, 128, 1)
)


@pytest.mark.parametrize(
    "name,table,params",
    [("eccv16", ECCV16_TABLE, 32_236_011), ("siggraph17", SIGGRAPH17_TABLE, 34_187_027)],
)
def test_state_dict_matches_the_release(models, name, table, params):
    state = models[name].state_dict()
    assert [(k, tuple(v.shape)) for k, v in state.items()] == table
    assert sum(p.numel() for p in models[name].parameters()) == params


def test_bin_centres_are_pts_in_hull(models):
    centres = pts_in_hull()
    assert centres.shape == (313, 2) and len({tuple(p) for p in centres.tolist()}) == 313
    assert centres[:5].tolist() == [[-90, 50], [-90, 60], [-90, 70], [-90, 80], [-90, 90]]
    assert centres[-2:].tolist() == [[100, -10], [100, 0]]
    assert torch.equal(centres, torch.tensor(sorted(centres.tolist())))  # sorted by a*, then b*
    assert (centres % 10 == 0).all() and centres.abs().max() == 110
    model = models["eccv16"]
    # Stored as the release does: model_out's 1x1 conv weights = centres / 110.
    assert torch.allclose(model.model_out.weight[:, :, 0, 0].T * 110, centres)
    assert torch.allclose(model.bins, centres)
    assert not model.model_out.weight.requires_grad


def test_sizes_and_forward_shapes(models):
    eccv, sig = models["eccv16"], models["siggraph17"]
    assert (eccv.fixed_size, sig.fixed_size) == (256, 256)
    assert (eccv.output_stride, sig.output_stride) == (4, 1)
    assert Colorizer(eccv).working_shape(300, 500) == (256, 256)  # squashed, as their demo does
    L = torch.rand(1, 1, 64, 48) * 100  # fully convolutional: any multiple of 8
    with torch.no_grad():
        assert eccv(L).shape == (1, 313, 16, 12)
        raw = sig(L)
    assert raw.shape == (1, 2, 64, 48) and raw.abs().max() <= 110 / 128
    with pytest.raises(ValueError, match="multiples of 8"):
        eccv(torch.zeros(1, 1, 60, 64))


def test_eccv16_default_decoding_is_the_published_one(models):
    model = models["eccv16"]
    L = torch.rand(1, 1, 32, 32) * 100
    with torch.no_grad():
        logits = model(L)
        assert model.config.default_vividness == 0.0
        ab = model.decode(logits)  # temperature 1: the mean over the 313 centres
        # Their forward: softmax -> model_out (centres / 110) -> upsample4 -> x 110.
        reference = F.interpolate(
            F.conv2d(torch.softmax(logits, 1), model.model_out.weight), scale_factor=4, mode="bilinear"
        )
        assert torch.allclose(model.published_forward(L), reference * 110, atol=1e-4)
        assert torch.allclose(model.upsample4(ab), reference * 110, atol=1e-4)
        vivid = model.decode(logits, vividness=1.0)
    assert vivid.norm(dim=1).mean() >= ab.norm(dim=1).mean()


def test_siggraph17_inputs_and_output_scaling(models):
    model = models["siggraph17"]
    L = torch.rand(1, 1, 32, 32) * 100
    hints = torch.zeros(1, 3, 32, 32)
    with torch.no_grad():
        plain = model(L)
        assert torch.equal(plain, model(L, hints))  # no hints = all-zero a*b* and mask, as released
        hints[0, :, 8, 8] = torch.tensor([60.0, -40.0, 1.0])
        hinted = model(L, hints)
        # The release's first layer sees ((L - 50) / 100, a*b* / 110, mask as given).
        seen = []
        handle = model.model1[0].register_forward_hook(lambda m, args, out: seen.append(args[0]))
        model(L, hints)
        handle.remove()
        # decode at the default vividness = their output: tanh x 110.
        tanh = model.model_out(model.model10(torch.zeros(1, 128, 4, 4)))
    assert not torch.equal(plain, hinted)
    expected = torch.cat(((L - 50) / 100, hints[:, :2] / 110, hints[:, 2:]), dim=1)
    assert torch.allclose(seen[0], expected)
    assert torch.allclose(model.decode(plain), plain * 128) and model.config.default_vividness == 0.5
    assert torch.allclose(model.decode(tanh * 110 / 128), tanh * 110, atol=1e-5)


def test_config_round_trips_and_is_validated(models):
    for model in models.values():
        # What a weights file's metadata stores (head and hints included), and how load_model
        # rebuilds the config from it.
        stored = {k: v for k, v in model.config.to_dict().items() if k != "name"}
        assert {"head", "hints"} <= set(stored)
        assert type(model.config).create(**stored) == model.config
    # Their layouts are constants of the architectures, not config fields that reject other values.
    assert models["eccv16"].config.head == "classification" and not models["eccv16"].config.hints
    assert models["siggraph17"].config.head == "regression" and models["siggraph17"].config.hints
    for name, model in models.items():
        assert not {"head", "hints"} & {f.name for f in dataclasses.fields(model.config)}, name
    with pytest.raises(ValueError, match="eccv16 has a classification head and no hint input"):
        create_model("eccv16", head="regression")
    with pytest.raises(ValueError, match="siggraph17 has a regression head and a hint input"):
        create_model("siggraph17", hints=False)


# ---------------------------------------------------------------------------------------------
# `tinct colorize --model ARCH --weights FILE.pth`


def _shrink(monkeypatch, size=32):
    # Colorizer runs these at their fixed 256x256; 32x32 keeps the CLI tests fast.
    monkeypatch.setattr(ECCV16, "fixed_size", size)
    monkeypatch.setattr(SIGGRAPH17, "fixed_size", size)


def _perturb(model):
    """Random weights: the file must differ from a fresh model for the test to mean anything."""
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.01)
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)


def test_colorize_with_published_style_pth(tmp_path, monkeypatch, capsys, models):
    _shrink(monkeypatch)
    model = models["eccv16"]
    torch.manual_seed(1)
    _perturb(model)
    # The release's files are plain state dicts; older ones lack BatchNorm's num_batches_tracked.
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "eccv16.pth")
    photo = synthetic_photo(0, 40, 30)
    Image.fromarray(photo).save(tmp_path / "in.png")

    code = main(
        ["colorize", str(tmp_path / "in.png"), "-o", str(tmp_path / "out"), "--model", "eccv16",
         "--weights", str(tmp_path / "eccv16.pth"), "--device", "cpu", "--backend", "torch"]
    )  # fmt: skip

    assert code == 0, capsys.readouterr().err
    result = np.asarray(Image.open(tmp_path / "out" / "in.png"))
    assert result.shape == photo.shape
    assert np.array_equal(result, Colorizer(model).colorize(photo))  # the file's weights were used


def test_colorize_siggraph17_pth_with_hints(tmp_path, monkeypatch, capsys, models):
    _shrink(monkeypatch)
    model = models["siggraph17"]
    torch.manual_seed(2)
    _perturb(model)
    torch.save(model.state_dict(), tmp_path / "sig.pth")
    photo = synthetic_photo(1, 40, 30)
    Image.fromarray(photo).save(tmp_path / "in.png")

    code = main(
        ["colorize", str(tmp_path / "in.png"), "-o", str(tmp_path / "out"), "--model", "siggraph17",
         "--weights", str(tmp_path / "sig.pth"), "--device", "cpu", "--hint", "5,6,#ff0000",
         "--backend", "torch"]
    )  # fmt: skip

    assert code == 0, capsys.readouterr().err
    result = np.asarray(Image.open(tmp_path / "out" / "in.png"))
    assert np.array_equal(result, Colorizer(model).colorize(photo, hints=[(5, 6, (255, 0, 0))]))


def test_weights_errors_are_one_line(tmp_path, capsys):
    torch.save({"model1.0.weight": torch.zeros(3, 3)}, tmp_path / "bad.pth")
    torch.save({"model": 1, "note": "x"}, tmp_path / "odd.pth")
    # A photo that needs colorizing: the model is loaded only then (a rerun with nothing to do loads none).
    Image.fromarray(synthetic_photo(0, 40, 32)).save(tmp_path / "in.png")
    args = ["colorize", str(tmp_path / "in.png"), "-o", str(tmp_path / "o"), "--device", "cpu"]
    cases = [
        (["--model", "eccv16", "--weights", str(tmp_path / "bad.pth")], "shape mismatch"),
        (["--model", "eccv16", "--weights", str(tmp_path / "odd.pth")], "not a state dict"),
        (["--model", "eccv16", "--weights", str(tmp_path / "none.pth")], "no such file"),
        (["--weights", str(tmp_path / "bad.pth")], "needs the model to name an architecture"),
    ]
    for extra, message in cases:
        assert main(args + extra) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err


# ---------------------------------------------------------------------------------------------
# `tinct train`: one optimizer step each (classification over the model's own 313 centres for
# eccv16, regression on a*b*/128 for siggraph17).


@pytest.mark.parametrize("name", ["eccv16", "siggraph17"])
def test_trains_one_step(tmp_path, monkeypatch, name):
    write_photos(tmp_path / "data", 2, size=(40, 36))
    rows = []
    # Skip writing ~0.5 GB of checkpoints per run; saving is model-agnostic and tested elsewhere.
    monkeypatch.setattr(
        fit_module, "_write_epoch", lambda run, row, samples: rows.append(row)
    )
    losses = []
    build_loss = fit_module.build_loss

    def spy(spec, head, bins=None, class_weights=None):
        loss = build_loss(spec, head, bins, class_weights)
        losses.append((head, None if bins is None else bins.clone()))
        return loss

    monkeypatch.setattr(fit_module, "build_loss", spy)
    torch.manual_seed(0)
    before = create_model(name).state_dict()
    cfg = TrainConfig(data=str(tmp_path / "data"), model=name, size=32, batch_size=2, epochs=1, lr=1e-4)

    result = fit(dataclasses.replace(cfg, out=str(tmp_path / "run")))

    assert len(rows) == 1 and rows[0]["step"] == 1 and np.isfinite(rows[0]["train_loss"])
    after = result.model.state_dict()
    changed = [k for k in before if k.endswith("weight") and not torch.equal(before[k], after[k])]
    assert "model1.0.weight" in changed
    if name == "eccv16":
        head, bins = losses[0]
        assert head == "classification" and torch.allclose(bins, pts_in_hull())  # its own centres
        assert torch.equal(after["model_out.weight"], before["model_out.weight"])  # the centres stay
    else:
        assert losses[0][0] == "regression"
        assert torch.equal(after["model_class.0.weight"], before["model_class.0.weight"])  # unused branch
