"""The per-photo scene-chroma gain: its fit is the ridge it claims, it needs an ImageNet encoder,
it scales each photo's a*b* at inference only."""

import copy

import numpy as np
import pytest
import torch

from tinct.models import create_model
from tinct.models._efficientnet import INPUT_MEAN, INPUT_STD, EfficientNetLite0, pretrained_state_dict
from tinct.models.loading import load_model, save_model
from tinct.models.scene import SceneChroma, fit_scene_chroma

SMALL = {"head": "regression", "hints": True, "decoder_channels": (8, 8, 8, 8)}


@pytest.fixture(scope="module")
def imagenet_unet():
    torch.manual_seed(0)
    return create_model("unet", pretrained=True, **SMALL).eval()


def _photos(n=12, size=64):
    g = torch.Generator().manual_seed(1)
    Ls = [torch.rand(1, 1, size, size, generator=g) * 100 for _ in range(n)]
    return [(L, float(5 + 30 * L.std() / 30)) for L in Ls]  # any deterministic target will do


def test_fit_is_a_ridge_on_standardised_imagenet_logits(imagenet_unet):
    photos = _photos()
    scene = fit_scene_chroma(imagenet_unet, photos, ridge=10.0)
    # Independently: the published classifier's logits on the same gray input, then the ridge.
    classifier = EfficientNetLite0()
    classifier.load_state_dict(pretrained_state_dict())
    classifier.eval()
    with torch.no_grad():
        logits = torch.cat([classifier(((L / 100 - INPUT_MEAN) / INPUT_STD).expand(-1, 3, -1, -1)) for L, _ in photos])
    X = logits.double().numpy()
    X = (X - X.mean(0)) / (X.std(0, ddof=1) + 1e-6)
    X = np.c_[X, np.ones(len(X))]
    y = np.log1p([c for _, c in photos])
    penalty = 10.0 * np.eye(X.shape[1])
    penalty[-1, -1] = 0
    expected = np.expm1(X @ np.linalg.solve(X.T @ X + penalty, X.T @ y))
    with torch.no_grad():
        got = torch.cat([scene.estimate(imagenet_unet.deepest_features(L)) for L, _ in photos]).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-3)
    assert float(scene.reference) == pytest.approx(np.median(expected), rel=1e-3)


def test_fit_refuses_a_fine_tuned_encoder(imagenet_unet):
    tuned = create_model("unet", **SMALL)
    tuned.load_state_dict(imagenet_unet.state_dict())
    with torch.no_grad():
        tuned.encoder._conv_stem.weight.add_(0.01)
    with pytest.raises(ValueError, match="freeze_encoder_epochs"):
        fit_scene_chroma(tuned.eval(), _photos(3))


def _with_gain(imagenet_unet):
    """A copy of `imagenet_unet` with a gain fitted on `_photos()`, and that gain."""
    scene = fit_scene_chroma(imagenet_unet, _photos(), ridge=10.0)
    model = copy.deepcopy(imagenet_unet)
    model.attach_scene_chroma(scene)
    return model.eval(), scene


def test_gain_scales_each_photo_at_inference_only(imagenet_unet, tmp_path):
    model, scene = _with_gain(imagenet_unet)
    L = torch.cat([L for L, _ in _photos(2)])
    hints = torch.zeros(2, 3, 64, 64)
    with torch.no_grad():
        plain = imagenet_unet(L, hints)
        gain = scene(imagenet_unet.deepest_features(L))
        assert not torch.allclose(gain[0], gain[1])  # per photo, not one factor
        torch.testing.assert_close(model.eval()(L, hints), plain * gain)
        # Training is untouched (copies: a train-mode forward moves BN statistics).
        training = [copy.deepcopy(m).train()(L, hints) for m in (model, imagenet_unet)]
        torch.testing.assert_close(*training)
    save_model(tmp_path / "w.safetensors", model.eval())
    loaded, _ = load_model(tmp_path / "w.safetensors")
    assert loaded.config.scene_chroma and isinstance(loaded.scene_chroma, SceneChroma)
    with torch.no_grad():
        torch.testing.assert_close(loaded(L, hints), model(L, hints))


def test_scene_chroma_is_for_regression_only():
    with pytest.raises(ValueError, match="regression"):
        create_model("unet", head="classification", scene_chroma=True)
    with pytest.raises(ValueError, match="regression"):
        create_model("unet", head="classification").attach_scene_chroma(SceneChroma())


def test_a_scene_chroma_model_exports_to_onnx_and_matches_torch(imagenet_unet, tmp_path):
    """The default runs on ONNX Runtime under `--backend auto`: the gain must export, not make
    auto fall back to torch."""
    pytest.importorskip("onnxruntime")
    from tinct.export.onnx import export_onnx

    model, _ = _with_gain(imagenet_unet)
    export_onnx(model, tmp_path / "scene.onnx", verify=True)  # verify compares with torch
