"""ONNX export (decoding inside the graph, dynamic sizes) verified with onnxruntime, the onnxruntime
backend of the Colorizer, and the `tinct export` / `tinct colorize --backend` command lines.

Exports are the slow part (a few seconds each), so two module-scoped files serve every test: a
classification unet with multiscale hints exported through the CLI, and a regression unet with
stem hints and a baked vividness.
"""

from __future__ import annotations

import contextlib
import io
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from tinct.cli import main  # noqa: E402
from tinct.export import onnx as onnx_module  # noqa: E402
from tinct.export.onnx import export_onnx, read_onnx_metadata, verify_onnx  # noqa: E402
from tinct.inference import Colorizer, backends  # noqa: E402
from tinct.models import create_model  # noqa: E402
from tinct.models.loading import load_model, save_model  # noqa: E402

TINY = {"decoder_channels": (8, 8, 8, 8)}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def hint_model(tmp_path_factory):
    """(weights path, ONNX path exported by `tinct export`, what it printed) for a classification
    unet with hints entering at every decoder stage (the size-dependent pooling the export has to
    trace)."""
    folder = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)
    model = create_model("unet", head="classification", hints=True, hint_injection="multiscale", **TINY)
    with torch.no_grad():  # non-trivial outputs: the zero-initialised hint branch gets weights too
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    weights = folder / "hint.safetensors"
    save_model(weights, model)
    onnx_path = folder / "hint.onnx"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # capsys cannot reach a module-scoped fixture
        assert main(["export", str(weights), "-o", str(onnx_path), "--opset", "17"]) == 0
    return weights, onnx_path, printed.getvalue()


@pytest.fixture(scope="module")
def regression_model(tmp_path_factory):
    torch.manual_seed(1)
    model = create_model("unet", head="regression", hints=True, output_stride=4, **TINY)
    path = export_onnx(model, tmp_path_factory.mktemp("onnx") / "reg.onnx", vividness=0.8, verify=False)
    return model, path


def test_cli_export_writes_verified_dynamic_graph(hint_model):
    _, onnx_path, printed = hint_model
    assert f"wrote {onnx_path}" in printed and "verified against torch" in printed
    assert [p.name for p in onnx_path.parent.iterdir() if p.suffix != ".safetensors"] == [onnx_path.name]
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    inputs = {i.name: i.shape for i in session.get_inputs()}
    assert inputs == {"L": ["batch", 1, "height", "width"], "hints": ["batch", 3, "height", "width"], "vividness": []}
    meta = read_onnx_metadata(onnx_path)
    assert meta["model"] == "unet" and meta["config"]["head"] == "classification" and meta["vividness"] is None


def test_classification_hints_onnx_matches_torch_at_two_sizes(hint_model):
    weights, onnx_path, _ = hint_model
    model, _ = load_model(weights)
    diff = verify_onnx(onnx_path, model, sizes=[(64, 96), (128, 32)], batch=2)
    assert diff <= 1e-3


def test_regression_baked_vividness_matches_torch_at_two_sizes(regression_model):
    model, path = regression_model
    names = [i.name for i in ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()]
    assert names == ["L", "hints"]  # vividness baked in
    assert verify_onnx(path, model, vividness=0.8, sizes=[(32, 64), (96, 64)]) <= 1e-3
    # The baked value is checked when the file is used with another vividness.
    colorizer = Colorizer(model, backend="onnxruntime", onnx_path=path)
    image = np.zeros((40, 50, 3), np.uint8) + 120
    colorizer.colorize(image, vividness=0.8)
    with pytest.raises(ValueError, match="vividness 0.8 built in"):
        colorizer.colorize(image, vividness=0.3)


def test_onnxruntime_backend_colorizes_like_torch(hint_model):
    weights, onnx_path, _ = hint_model
    by_torch = Colorizer.load(weights, backend="torch", device="cpu", size=64)
    by_ort = Colorizer.load(weights, device="cpu", size=64, backend="onnxruntime", onnx=onnx_path)
    assert by_ort.backend.name == "onnxruntime" and "onnxruntime" in repr(by_ort)
    y, x = np.mgrid[0:70, 0:90]
    image = np.repeat(((x * 3 + y) % 256).astype(np.uint8)[..., None], 3, axis=2)
    hints = [(10, 10, (255, 0, 0))]
    for kwargs in ({}, {"hints": hints, "vividness": 0.9}):
        a, b = by_torch.colorize(image, **kwargs), by_ort.colorize(image, **kwargs)
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_backend_exports_once_into_the_cache(hint_model, tmp_path, monkeypatch):
    weights, onnx_path, _ = hint_model
    model, _ = load_model(weights)
    monkeypatch.setenv("TINCT_CACHE_DIR", str(tmp_path))
    exported = []

    def export_by_copy(model, path, **kwargs):  # the real export is tested above; this counts calls
        exported.append(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(onnx_path, path)
        return path

    monkeypatch.setattr(onnx_module, "export_onnx", export_by_copy)
    first = backends.create_backend("onnxruntime", model)
    again = backends.create_backend("onnxruntime", model)
    assert exported == [first.path] and again.path == first.path
    assert first.path == backends.cache_dir() / f"unet-{backends._model_key(model, 17)}.onnx"
    # The same config with other weights is another cache entry, hence one more export.
    other = create_model("unet", head="classification", hints=True, hint_injection="multiscale", **TINY)
    backends.create_backend("onnxruntime", other)
    assert len(exported) == 2 and exported[1] != first.path
    with pytest.raises(ValueError, match="not from this"):
        backends.OnnxRuntimeBackend.for_model(create_model("unet", head="regression", **TINY), onnx_path)


def test_backend_loads_an_existing_export_into_one_session(hint_model, monkeypatch):
    """The metadata check and the runs share one ONNX Runtime session: the file is parsed once."""
    weights, onnx_path, _ = hint_model
    model, _ = load_model(weights)
    opened = []
    session_class = ort.InferenceSession

    def counting_session(path, *args, **kwargs):
        opened.append(path)
        return session_class(path, *args, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", counting_session)
    backend = backends.OnnxRuntimeBackend.for_model(model, onnx_path)
    assert opened == [str(onnx_path)] and backend.input_names


def test_failed_verification_writes_nothing(hint_model, tmp_path, monkeypatch):
    weights, _, _ = hint_model
    monkeypatch.setattr(onnx_module, "verify_onnx", lambda *args, **kwargs: 0.5)
    target = tmp_path / "out" / "model.onnx"
    with pytest.raises(RuntimeError, match="not written"):
        main(["export", str(weights), "-o", str(target)])
    assert not target.parent.exists() or list(target.parent.iterdir()) == []
    # An earlier file under the target name is left as it was.
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(b"an earlier export")
    with pytest.raises(RuntimeError, match="not written"):
        export_onnx(create_model("unet", **TINY), target)
    assert list(target.parent.iterdir()) == [target] and target.read_bytes() == b"an earlier export"


def test_auto_backend_falls_back_to_torch(monkeypatch):
    model = create_model("unet", **TINY)
    monkeypatch.setattr(backends, "onnxruntime_available", lambda: False)
    assert backends.create_backend("auto", model).name == "torch"
    with pytest.raises(ValueError, match="unknown backend"):
        backends.create_backend("tensorrt", model)


def test_cli_colorize_with_onnxruntime_backend(hint_model, tmp_path):
    weights, onnx_path, _ = hint_model
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 40), dtype=np.uint8)).save(src / "a.png")
    out = tmp_path / "out"
    argv = ["colorize", str(src), "-o", str(out), "--model", str(weights), "--size", "64"]
    assert main([*argv, "--backend", "onnxruntime", "--onnx", str(onnx_path)]) == 0
    assert Image.open(out / "a.png").size == (40, 30)


def test_cli_export_rejects_bad_vividness(hint_model, tmp_path, capsys):
    weights, _, _ = hint_model
    assert main(["export", str(weights), "-o", str(tmp_path / "x.onnx"), "--vividness", "2"]) == 2
    assert "vividness" in capsys.readouterr().err


def test_export_patches_nothing(monkeypatch, tmp_path):
    """While the graph is traced, every module-level function and every module's forward is the
    model's own: nothing is swapped (a swap would be seen by other threads running the model)."""
    import tinct.models.unet as unet
    from tinct.ops.hints import pool_hints

    traced = []
    real_export = torch.onnx.export

    def checking_export(wrapper, *args, **kwargs):
        assert unet.pool_hints is pool_hints
        rebound = [name for name, m in wrapper.named_modules() if "forward" in vars(m)]
        assert not rebound, f"forwards rebound on {rebound[:3]}"
        traced.append(wrapper)
        return real_export(wrapper, *args, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", checking_export)
    torch.manual_seed(2)
    model = create_model("unet", head="regression", hints=True, hint_injection="multiscale", **TINY)
    export_onnx(model, tmp_path / "m.onnx")  # verified at two sizes: the unpatched graph is dynamic
    assert traced


def test_one_rule_matches_an_export_to_its_model(hint_model):
    """A model in memory and a weights file are matched to an export by the same rule: how training
    began (``pretrained``, which weights files leave out) is not part of the model."""
    import dataclasses

    _, onnx_path, _ = hint_model
    own = backends.OnnxRuntimeBackend(onnx_path).spec
    flipped = {**own.config, "pretrained": not own.config.get("pretrained", False)}
    backends.OnnxRuntimeBackend(onnx_path, dataclasses.replace(own, config=flipped))
    with pytest.raises(ValueError, match="exported from"):
        backends.OnnxRuntimeBackend(onnx_path, dataclasses.replace(own, config={**own.config, "head": "regression"}))
