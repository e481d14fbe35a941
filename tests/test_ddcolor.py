"""DDColor: the published key layout, loading files as the authors publish them, every front end.

No download: checkpoints are made here with the published key layout and random weights
(``tests/data/ddcolor_keys.json`` pins that layout, read from the authors' own model). The tiny
(ConvNeXt-T) model runs at a 64-pixel working size; the large one is checked key for key (on the
meta device, no memory) and runs only under ``-m slow``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tinct.cli import main
from tinct.color.lab import rgb_to_lab
from tinct.inference import Colorizer
from tinct.io.weights import WeightsError, load_weights
from tinct.models import create_model
from tinct.models.ddcolor import SpectralConv2d, config_from_state_dict
from tinct.models.loading import load_model

from .conftest import synthetic_photo, write_photos

KEYS = json.loads((Path(__file__).parent / "data" / "ddcolor_keys.json").read_text())
ENCODERS = {"tiny": "convnext-t", "large": "convnext-l"}


def _colorful(model):
    """Spread the fresh model's near-zero a*b* to a visible range (a*b* is linear in this layer)."""
    with torch.no_grad():
        last = model.decoder.color_decoder.color_embed.layers[-1]
        last.weight.mul_(300.0)
        last.bias.normal_(0, 3.0)
    return model


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return _colorful(create_model("ddcolor", encoder="convnext-t")).eval()


@pytest.fixture(scope="module")
def checkpoint(tiny, tmp_path_factory) -> Path:
    """The tiny model saved as the authors publish: ``{'params': state_dict}`` in a .pth."""
    path = tmp_path_factory.mktemp("ddcolor") / "ddcolor_paper_tiny.pth"
    torch.save({"params": tiny.state_dict()}, path)
    return path


@pytest.mark.parametrize("size", ["tiny", "large"])
def test_keys_and_shapes_are_the_published_ones(size):
    with torch.device("meta"):
        model = create_model("ddcolor", encoder=ENCODERS[size])
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert ours == KEYS[size]
    assert config_from_state_dict(model.state_dict()) == {
        "encoder": ENCODERS[size],
        "num_queries": 100,
        "dec_layers": 9,
    }


def test_spectral_conv_is_torch_spectral_norm_in_eval_mode():
    torch.manual_seed(0)
    reference = torch.nn.utils.spectral_norm(torch.nn.Conv2d(6, 5, 3, padding=1))
    reference.train()
    for _ in range(3):  # moves u and v away from their initial values
        reference(torch.randn(1, 6, 8, 8))
    reference.eval()
    ours = SpectralConv2d(6, 5, 3, bias=True)
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(2, 6, 9, 7)
    with torch.no_grad():
        assert torch.allclose(ours(x), reference(x), atol=1e-6)


def test_forward_shape_and_gradients():
    model = create_model("ddcolor", encoder="convnext-t", dec_layers=3)
    L = torch.rand(1, 1, 32, 64) * 100  # the smallest non-square input (multiples of 32)
    raw = model(L)
    assert raw.shape == (1, 2, 32, 64)
    raw.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    # The classifier's final norm is in every published file and on no path (kept for the keys).
    assert missing == ["encoder.arch.norm.weight", "encoder.arch.norm.bias"]
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.zeros(1, 1, 48, 64))


def test_vividness_is_a_chroma_factor(tiny):
    raw = tiny(torch.rand(1, 1, 64, 64) * 100)
    assert torch.allclose(tiny.decode(raw, 0.5), raw * 128)
    assert torch.allclose(tiny.decode(raw, 1.0), 1.5 * tiny.decode(raw, 0.5))


@pytest.mark.parametrize("wrap,suffix", [(True, ".pth"), (False, ".pt")])
def test_published_file_loads_as_downloaded(tiny, tmp_path, wrap, suffix):
    path = tmp_path / f"w{suffix}"
    state = tiny.state_dict()
    del state["mean"], state["std"]  # the authors load non-strictly: files may lack constants
    torch.save({"params": state} if wrap else state, path)
    model, meta = load_model(path)
    assert meta["model"] == "ddcolor" and meta["config"]["encoder"] == "convnext-t" and meta["source"] == path.name
    L = torch.rand(1, 1, 64, 64) * 100
    with torch.inference_mode():
        assert torch.equal(model(L), tiny(L))


def test_colorize_cli_with_the_published_file(checkpoint, tmp_path, capsys):
    photo = write_photos(tmp_path / "in", 1, size=(100, 70))[0]
    code = main(
        [
            "colorize",
            str(photo),
            "-o",
            str(tmp_path / "out"),
            "--model",
            str(checkpoint),
            "--size",
            "64",
            "--backend",
            "torch",
        ]
    )
    assert code == 0, capsys.readouterr().err
    rgb = np.asarray(Image.open(tmp_path / "out" / photo.name).convert("RGB"))
    source = np.asarray(Image.open(photo).convert("RGB"))
    assert rgb.shape == source.shape
    # Full-resolution L* is the photo's own (up to 8-bit rounding; clipped out-of-gamut colors aside).
    lab = lambda a: rgb_to_lab(torch.from_numpy(a.copy()).permute(2, 0, 1).float() / 255)  # noqa: E731
    out, src = lab(rgb), lab(source)
    assert float((out[0] - src[0]).abs().median()) < 0.3
    assert float(out[1:].abs().mean()) > 3  # and it has color


def test_default_working_size_is_512(checkpoint):
    colorizer = Colorizer.load(checkpoint, backend="torch", device="cpu")
    assert colorizer.working_shape(3000, 4000) == (384, 512)


def test_bad_files_get_one_line(tiny, tmp_path, capsys):
    photo = write_photos(tmp_path / "in", 1)[0]
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"PK\x03\x04" + bytes(100))
    foreign = tmp_path / "foreign.pth"
    torch.save({"params": {"conv.weight": torch.zeros(3, 3)}}, foreign)
    broken = tmp_path / "broken.pth"
    state = tiny.state_dict()
    state["decoder.last_shuf.conv.0.bias"] = torch.zeros(7)
    del state["refine_net.0.0.weight_orig"]
    torch.save({"params": state}, broken)
    for path, reason in (
        (corrupt, "cannot load checkpoint"),
        (foreign, "not those of a published checkpoint"),
        (broken, "weights do not match DDColor: 1 missing key: refine_net.0.0.weight_orig; 1 shape mismatch"),
    ):
        code = main(["colorize", str(photo), "-o", str(tmp_path / "out"), "--model", str(path)])
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert code == 2 and len(err) == 1 and str(path) in err[0] and reason in err[0], err


def test_convert_writes_a_self_describing_safetensors(checkpoint, tiny, tmp_path, capsys):
    target = tmp_path / "tiny.safetensors"
    assert main(["convert", str(checkpoint), "-o", str(target), "--half"]) == 0
    assert "ddcolor (convnext-t) from ddcolor_paper_tiny.pth" in capsys.readouterr().out
    state, meta = load_weights(target)  # safetensors only: no pickle anywhere
    assert meta["model"] == "ddcolor" and meta["config"]["encoder"] == "convnext-t"
    assert meta["source"] == "ddcolor_paper_tiny.pth"
    model, _ = load_model(target)
    L = torch.rand(1, 1, 64, 64) * 100
    with torch.inference_mode():
        assert (model.decode(model(L)) - tiny.decode(tiny(L))).abs().max() < 1.0  # float16 weights
    assert main(["convert", str(checkpoint), "-o", str(tmp_path / "x.pth")]) == 2


def test_weights_option_recognises_the_encoder(checkpoint):
    colorizer = Colorizer.load("ddcolor", weights=checkpoint, backend="torch", device="cpu", size=64)
    assert colorizer.model.config.encoder == "convnext-t"


def test_hints_move_the_color_where_asked(tiny):
    colorizer = Colorizer(tiny, size=64)
    photo = synthetic_photo(3, width=96, height=64)
    plain = colorizer.colorize(photo)
    hinted = colorizer.colorize(photo, hints=[(20, 20, (0, 160, 0))])
    lab = lambda a: rgb_to_lab(torch.from_numpy(a).permute(2, 0, 1).float() / 255)  # noqa: E731
    target = lab(np.array([[[0, 160, 0]]], np.uint8))[1:, 0, 0]
    before = (lab(plain)[1:, 20, 20] - target).norm()
    after = (lab(hinted)[1:, 20, 20] - target).norm()
    assert after < 0.5 * before


def test_eval_and_models_commands(checkpoint, tmp_path, capsys):
    write_photos(tmp_path / "photos", 2)
    code = main(
        ["eval", str(tmp_path / "photos"), "--model", str(checkpoint), "--size", "64", "--out", str(tmp_path / "eval")]
    )
    assert code == 0, capsys.readouterr().err
    assert "ddcolor_paper_tiny" in (tmp_path / "eval" / "summary.csv").read_text()
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "ddcolor" in out and "huggingface.co/piddnad/ddcolor_paper_tiny" in out


def test_serve_with_the_published_file(checkpoint):
    pytest.importorskip("fastapi")
    pytest.importorskip("multipart")
    import io

    from fastapi.testclient import TestClient

    from tinct.serve import ServeSettings, create_app

    settings = ServeSettings(model=str(checkpoint), size=64, backend="torch", workers=1)
    buf = io.BytesIO()
    Image.fromarray(synthetic_photo(1)).save(buf, format="PNG")
    with TestClient(base_url="http://127.0.0.1:8000", app=create_app(None, settings)) as client:
        assert client.get("/api/health").json()["hints"] is True
        r = client.post(
            "/api/colorize",
            files={"file": ("p.png", buf.getvalue(), "application/octet-stream")},
            data={"hints": '[{"x": 5, "y": 5, "color": "#ff0000"}]', "vividness": "0.7"},
        )
        assert r.status_code == 200
        assert Image.open(io.BytesIO(r.content)).size == (96, 80)


def test_onnx_export_equals_torch(tmp_path):
    pytest.importorskip("onnxruntime")
    from tinct.export.onnx import export_onnx

    torch.manual_seed(0)
    model = _colorful(create_model("ddcolor", encoder="convnext-t", dec_layers=3)).eval()
    path = export_onnx(model, tmp_path / "d.onnx")  # verified inside: max |a*b*| difference ≤ 1e-3
    colorizer = Colorizer(model, size=64, backend="onnxruntime", onnx_path=path)
    reference = Colorizer(model, size=64)
    photo = synthetic_photo(2)
    assert np.abs(colorizer.colorize(photo).astype(int) - reference.colorize(photo)).max() <= 1


def test_published_file_through_the_onnx_cache(tmp_path):
    """`--model FILE.pth` with the default backend: exported once into the cache, then opened
    without the torch model; DDColor's per-channel clipping and hint propagation survive the export."""
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = _colorful(create_model("ddcolor", encoder="convnext-t", dec_layers=3)).eval()
    path = tmp_path / "small.pth"
    torch.save({"params": model.state_dict()}, path)
    photo = synthetic_photo(2)
    first = Colorizer.load(path, backend="onnxruntime", device="cpu", size=64)
    again = Colorizer.load(path, backend="onnxruntime", device="cpu", size=64)
    assert again._model is None  # the cached export, found by the file's bytes
    assert again.spec.name == "ddcolor" and again.spec.propagates_hints and not again.spec.keep_lightness
    reference = Colorizer.load(path, backend="torch", device="cpu", size=64)
    for colorizer in (first, again):
        assert np.abs(colorizer.colorize(photo).astype(int) - reference.colorize(photo)).max() <= 1
    hints = [(20, 20, (0, 160, 0))]
    hinted = again.colorize(photo, hints=hints).astype(int)
    assert np.abs(hinted - reference.colorize(photo, hints=hints)).max() <= 1
    assert np.abs(hinted - again.colorize(photo)).max() > 10  # the hint moved the color


@pytest.mark.slow
def test_large_loads_and_runs(tmp_path):
    torch.manual_seed(0)
    model = create_model("ddcolor", encoder="convnext-l").eval()
    path = tmp_path / "ddcolor_modelscope.pth"
    torch.save({"params": model.state_dict()}, path)
    loaded, meta = load_model(path)
    assert meta["config"]["encoder"] == "convnext-l"
    with torch.inference_mode():
        assert loaded(torch.rand(1, 1, 64, 64) * 100).shape == (1, 2, 64, 64)


@pytest.mark.slow
def test_tiny_onnx_in_full(checkpoint, tmp_path):
    pytest.importorskip("onnxruntime")
    assert main(["export", str(checkpoint), "-o", str(tmp_path / "t.onnx")]) == 0


def test_unknown_layout_error_names_the_file(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"a": torch.zeros(1)}, path)
    with pytest.raises(WeightsError, match="x.pt: not a tinct weights file"):
        load_model(path)
