"""`tinct colorize --hint X,Y,#RRGGBB` and `--hints FILE.json`: hints reach the model, apply to
every input, and malformed values or hints outside an image fail with one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tinct import colorize_paths
from tinct.cli import main
from tinct.inference import Colorizer
from tinct.models import create_model
from tinct.models.loading import load_model, save_model

from .conftest import synthetic_photo

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """A tiny hint model whose hint branch is not zero (a fresh one ignores hints)."""
    torch.manual_seed(0)
    model = create_model("unet", decoder_channels=(8, 8, 8, 8), hints=True, head="regression")
    with torch.no_grad():
        model.hint_stem.weight.normal_(0, 2.0)
    path = tmp_path_factory.mktemp("weights") / "hinted.safetensors"
    save_model(path, model)
    return path


@pytest.fixture(scope="module")
def plain_weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "plain.safetensors"
    save_model(path, create_model("unet", decoder_channels=(8, 8, 8, 8), head="regression"))
    return path


def run(weights: Path, *args: str) -> int:
    # --backend torch: the results are compared with the torch Colorizer's below.
    return main(["colorize", *args, "--model", str(weights), "--size", "64", "--device", "cpu", "--backend", "torch"])


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


HINTS = [(3, 4, (255, 0, 0)), (30.5, 20, (0, 80, 255))]


def test_hint_flags_and_json_reach_the_model(tmp_path, weights, capsys):
    Image.fromarray(synthetic_photo(0, 48, 36)).save(tmp_path / "a.png")
    (tmp_path / "hints.json").write_text(json.dumps([{"x": 30.5, "y": 20, "color": "#0050ff"}]))
    src = str(tmp_path / "a.png")
    flags = ["--hint", "3,4,#ff0000", "--hint", "30.5,20,#0050FF"]
    mixed = ["--hint", "3, 4, #f00", "--hints", str(tmp_path / "hints.json")]

    assert run(weights, src, "-o", str(tmp_path / "flags"), *flags) == 0
    assert run(weights, src, "-o", str(tmp_path / "mixed"), *mixed) == 0
    assert run(weights, src, "-o", str(tmp_path / "none")) == 0

    capsys.readouterr()
    colorizer = Colorizer(load_model(weights)[0], size=64)
    photo = np.asarray(Image.open(tmp_path / "a.png"))
    hinted = np.asarray(Image.open(tmp_path / "flags" / "a.png"))
    assert np.array_equal(hinted, colorizer.colorize(photo, hints=HINTS))
    # --hints entries come first, then --hint: same set, later hints win only where they overlap.
    assert np.array_equal(np.asarray(Image.open(tmp_path / "mixed" / "a.png")), hinted)
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "none" / "a.png")), hinted)


def test_hints_apply_to_every_input_and_outside_fails_that_file(tmp_path, weights, capsys):
    Image.fromarray(synthetic_photo(1, 48, 36)).save(tmp_path / "big.png")
    Image.fromarray(synthetic_photo(2, 24, 16)).save(tmp_path / "small.png")
    Image.fromarray(synthetic_photo(3, 40, 40)).save(tmp_path / "square.png")

    code = run(weights, str(tmp_path / "big.png"), str(tmp_path / "small.png"), str(tmp_path / "square.png"),
               "-o", str(tmp_path / "out"), "--hint", "30.5,20,#0050ff")  # fmt: skip

    captured = capsys.readouterr()
    assert code == 1
    errors = lines(captured.err)
    assert len(errors) == 1, errors
    assert "small.png" in errors[0] and "outside the 24x16 image" in errors[0]
    assert (tmp_path / "out" / "big.png").exists() and (tmp_path / "out" / "square.png").exists()
    assert not (tmp_path / "out" / "small.png").exists()
    assert "colorized 2" in captured.out and "failed 1" in captured.out


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--hint", "10,20"], "--hint '10,20': expected X,Y,#RRGGBB"),
        (["--hint", "a,2,#ffffff"], "--hint 'a,2,#ffffff': x and y must be numbers"),
        (["--hint", "1,2,#zz0000"], "--hint '1,2,#zz0000': hint color must look like '#rrggbb'"),
        (["--hint", "1,nan,#ffffff"], "x and y must be pixel positions >= 0"),
        (["--hint=-1,2,#ffffff"], "x and y must be pixel positions >= 0"),
        (["--hints", "missing.json"], "--hints missing.json: cannot read it"),
        (["--hints", "{tmp}/broken.json"], "broken.json: not valid JSON"),
        (["--hints", "{tmp}/dict.json"], "dict.json: expected a JSON list"),
        (["--hints", "{tmp}/entries.json"], "entries.json: hint 1: missing key(s) color"),
        (["--hints", "{tmp}/types.json"], "types.json: hint 0: x and y must be numbers"),
    ],
)
def test_malformed_hints_fail_with_one_line(tmp_path, weights, capsys, extra, message):
    (tmp_path / "broken.json").write_text("[{")
    (tmp_path / "dict.json").write_text('{"x": 1, "y": 2, "color": "#fff"}')
    (tmp_path / "entries.json").write_text('[{"x": 1, "y": 2, "color": "#fff"}, {"x": 1, "y": 2}]')
    (tmp_path / "types.json").write_text('[{"x": true, "y": 2, "color": "#fff"}]')
    Image.fromarray(synthetic_photo(0, 16, 16)).save(tmp_path / "a.png")
    extra = [arg.replace("{tmp}", str(tmp_path)) for arg in extra]

    code = run(weights, str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), *extra)

    err = lines(capsys.readouterr().err)
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not (tmp_path / "out").exists()


def test_gather_hints_takes_the_file_first_then_each_spec(tmp_path):
    from tinct.inference.hint_specs import gather_hints

    (tmp_path / "h.json").write_text('[{"x": 1, "y": 2, "color": "#102030"}]')
    hints = gather_hints(tmp_path / "h.json", ["3,4,#ffffff"])
    assert hints == [(1.0, 2.0, (16, 32, 48)), (3.0, 4.0, (255, 255, 255))]
    assert gather_hints() == []
    with pytest.raises(ValueError, match="^--hint '3,4': expected X,Y,#RRGGBB"):
        gather_hints(None, ["1,1,#000000", "3,4"])
    with pytest.raises(ValueError, match="^--hints .*nope.json: cannot read it"):
        gather_hints(tmp_path / "nope.json", ["3,4"])


def test_hints_need_a_model_that_takes_them(tmp_path, plain_weights, capsys):
    Image.fromarray(synthetic_photo(0, 16, 16)).save(tmp_path / "a.png")

    code = run(plain_weights, str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--hint", "1,2,#ffffff")

    err = lines(capsys.readouterr().err)
    assert code == 2 and len(err) == 1 and "does not accept hints" in err[0]


def test_colorize_paths_gives_every_image_the_hints_and_vividness(tmp_path, weights, plain_weights):
    Image.fromarray(synthetic_photo(0, 48, 36)).save(tmp_path / "a.png")
    colorizer = Colorizer(load_model(weights)[0], size=64)
    photo = np.asarray(Image.open(tmp_path / "a.png"))

    report = colorize_paths([tmp_path / "a.png"], tmp_path / "out", colorizer, hints=HINTS, vividness=0.9)

    result = np.asarray(Image.open(tmp_path / "out" / "a.png"))
    assert report.done == 1
    assert np.array_equal(result, colorizer.colorize(photo, hints=HINTS, vividness=0.9))
    assert not np.array_equal(result, colorizer.colorize(photo, hints=HINTS))  # the vividness was used
    plain = Colorizer(load_model(plain_weights)[0], size=64)
    with pytest.raises(ValueError, match="does not accept hints"):
        colorize_paths([tmp_path / "a.png"], tmp_path / "plain", plain, hints=HINTS)
    assert not (tmp_path / "plain").exists()
