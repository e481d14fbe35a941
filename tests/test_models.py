"""Every registered architecture: output shapes, gradients to every parameter, config handling."""

import dataclasses

import pytest
import torch

from tinct.models import create_model, list_models
from tinct.models.loading import load_model, save_model


def small(name: str, **overrides):
    if name == "unet":
        overrides.setdefault("decoder_channels", (8, 8, 8, 8))
    return create_model(name, **overrides)


#: The unet's layouts, then every other registered architecture (iterated from the registry, so a
#: new one is tested without being listed) with its defaults or the smallest overrides below.
VARIANTS = [
    ("unet", dict(head=head, hints=hints, output_stride=stride))
    for head in ("regression", "classification")
    for hints in (False, True)
    for stride in (2, 4)
]
# The people default's layout: a Lite2 encoder, hints entering the decoder only.
VARIANTS += [("unet", dict(head="regression", hints=True, encoder="lite2", hint_injection="decoder"))]
#: The smallest settings of architectures whose defaults are too big for a quick test (DDColor's
#: large ConvNeXt has ~230M parameters).
SMALLEST = {"ddcolor": dict(encoder="convnext-t", num_queries=4, dec_layers=3)}
VARIANTS += [(name, SMALLEST.get(name, {})) for name in list_models() if name != "unet"]
#: Zhang et al.'s networks run at 256x256 in use (fixed_size) but are fully convolutional; ~32M
#: parameters each, so they are tested at 64x64.
RUN_AT_64 = {"eccv16", "siggraph17"}


def test_registry_lists_models():
    assert {"seed", "unet", "eccv16", "siggraph17", "ddcolor"} <= set(list_models())
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        create_model("nope")


@pytest.mark.parametrize("name,overrides", VARIANTS)
def test_forward_shape_and_every_parameter_gets_a_gradient(name, overrides):
    torch.manual_seed(0)
    model = small(name, **overrides)
    size = 64 if name in RUN_AT_64 else model.fixed_size or 64
    L = torch.rand(2, 1, size, size) * 100
    hints = torch.zeros(2, 3, size, size) if model.config.hints else None
    if hints is not None:
        hints[:, :, 10:12, 10:12] = torch.tensor([40.0, -20.0, 1.0]).view(1, 3, 1, 1)
    raw = model(L, hints)
    side = size // model.output_stride
    channels = len(model.bins) if model.config.head == "classification" else 2
    assert raw.shape == (2, channels, side, side)
    if model.config.head == "regression":
        assert raw.abs().max() <= 1
    raw.float().square().mean().backward()
    # Frozen tensors (eccv16's bin centres, siggraph17's unused classifier) are constants, not trained.
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    # The hint layers start at zero but still get gradients: the hint map above is not zero.
    missing = [n for n, p in trained if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"parameters without gradient: {missing}"
    ab = model.decode(raw, vividness=0.5)
    assert ab.shape == (2, 2, side, side)


def test_hint_branch_starts_neutral():
    torch.manual_seed(0)
    model = small("unet", hints=True, head="regression").eval()
    L = torch.rand(1, 1, 64, 64) * 100
    hints = torch.zeros(1, 3, 64, 64)
    hints[0, :, 5:9, 5:9] = torch.tensor([60.0, 30.0, 1.0]).view(3, 1, 1)
    assert torch.equal(model(L, hints), model(L, None))


def test_the_shipped_default_without_hints_is_what_it_was_trained_on():
    """Training feeds hint models all-zero hints for "no hints"; the shipped default's hint
    adapters have learnt non-zero biases, so skipping them for hints=None would be an input it
    never saw. The model, not each caller, decides it (ColorizationModel.hint_input)."""
    from tinct.inference.lookup import BUNDLED_WEIGHTS_DIR

    model, _ = load_model(BUNDLED_WEIGHTS_DIR / "default.safetensors")
    assert model.config.hints
    adapters = getattr(model, "hint_adapters", [])
    assert any(a.bias.abs().max() > 0 for a in adapters), "the case this test is about: trained biases"
    torch.manual_seed(0)
    L = torch.rand(1, 1, 64, 96) * 100
    with torch.inference_mode():
        assert torch.equal(model(L), model(L, torch.zeros(1, 3, 64, 96)))
        # The scene-gain features follow the same rule.
        assert torch.equal(model.deepest_features(L), model.deepest_features(L, torch.zeros(1, 3, 64, 96)))


@pytest.mark.parametrize("name,overrides", [("seed", {}), ("unet", dict(hints=False))])
def test_models_without_a_hint_input_ignore_none(name, overrides):
    model = small(name, **overrides)
    assert model.hint_input(torch.zeros(1, 1, 8, 8), None) is None


def test_seed_only_runs_at_width_128():
    model = create_model("seed")
    with pytest.raises(ValueError, match="only runs at width 128"):
        model(torch.zeros(1, 1, 128, 64))
    assert model(torch.zeros(1, 1, 8, 128)).shape == (1, 2, 8, 128)


def test_unet_needs_multiple_of_32():
    with pytest.raises(ValueError, match="multiples of 32"):
        small("unet")(torch.zeros(1, 1, 48, 64))


def test_unet_accepts_non_square_multiples_of_32():
    raw = small("unet", head="regression").eval()(torch.zeros(1, 1, 96, 160))
    assert raw.shape == (1, 2, 48, 80)


def test_config_is_validated_and_frozen():
    with pytest.raises(ValueError, match="head must be"):
        create_model("unet", head="softmax")
    with pytest.raises(ValueError, match="output_stride"):
        create_model("unet", output_stride=8)
    with pytest.raises(ValueError, match="vividness"):
        create_model("unet", default_vividness=3.0)
    config = small("unet").config
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.head = "regression"
    assert dataclasses.replace(config, head="regression").head == "regression"


def test_vividness_controls_saturation():
    torch.manual_seed(0)
    for head in ("classification", "regression"):
        model = small("unet", head=head).eval()
        raw = model(torch.rand(1, 1, 64, 64) * 100)
        dull = model.decode(raw, 0.0).norm(dim=1).mean()
        vivid = model.decode(raw, 1.0).norm(dim=1).mean()
        assert vivid > dull, head


@pytest.mark.parametrize("name,overrides", [("seed", {}), ("unet", dict(head="classification", hints=True))])
def test_save_load_round_trip(tmp_path, name, overrides):
    torch.manual_seed(0)
    model = small(name, **overrides).eval()
    path = tmp_path / "m.safetensors"
    save_model(path, model, epoch=3)
    loaded, meta = load_model(path)
    assert meta["model"] == name and meta["epoch"] == 3
    assert loaded.config == model.config
    size = model.fixed_size or 64
    L = torch.rand(1, 1, size, size) * 100
    assert torch.allclose(loaded(L), model(L))


def test_load_refuses_bad_metadata(tmp_path):
    from tinct.io.weights import WeightsError, save_weights

    path = tmp_path / "x.safetensors"
    save_weights(path, {"w": torch.zeros(2)}, {"format": "tinct-weights/1", "model": "unet", "config": {"head": "x"}})
    with pytest.raises(WeightsError, match="invalid model config"):
        load_model(path)
    save_weights(path, {"w": torch.zeros(2)}, {"format": "tinct-weights/1", "model": "evil", "config": {}})
    with pytest.raises(WeightsError, match="unknown architecture 'evil'"):
        load_model(path)


def test_multiscale_hints_start_neutral_and_reach_every_scale():
    torch.manual_seed(0)
    model = small("unet", hints=True, head="regression", hint_injection="multiscale").eval()
    L = torch.rand(1, 1, 64, 64) * 100
    hints = torch.zeros(1, 3, 64, 64)
    hints[0, :, 30, 30] = torch.tensor([60.0, 30.0, 1.0])
    assert torch.equal(model(L, hints), model(L, None))
    for adapter in model.hint_adapters:
        torch.nn.init.normal_(adapter.weight)
    assert not torch.equal(model(L, hints), model(L, None))


def test_decoder_hints_leave_the_encoder_hint_free_and_reach_every_scale():
    torch.manual_seed(0)
    model = small("unet", hints=True, head="regression", hint_injection="decoder").eval()
    assert not hasattr(model, "hint_stem") and len(model.hint_adapters) == 4
    L = torch.rand(1, 1, 64, 64) * 100
    hints = torch.zeros(1, 3, 64, 64)
    hints[0, :, 30, 30] = torch.tensor([60.0, 30.0, 1.0])
    for adapter in model.hint_adapters:
        torch.nn.init.normal_(adapter.weight)
    # The encoder (and so the scene gain) sees L* only; the output still follows the hint.
    assert torch.equal(model.deepest_features(L, hints), model.deepest_features(L, None))
    assert not torch.equal(model(L, hints), model(L, None))


def test_bad_encoder_name_is_refused():
    with pytest.raises(ValueError, match="encoder must be one of lite0, lite1, lite2"):
        create_model("unet", encoder="b7")


def test_pool_hints_keeps_a_one_pixel_hint():
    from tinct.ops import pool_hints

    ab_mask = torch.zeros(1, 3, 32, 32)
    ab_mask[0, :, 5, 7] = torch.tensor([0.5, -0.25, 1.0])
    pooled = pool_hints(ab_mask, (4, 4))
    assert pooled[0, 2].sum() == 1 and pooled[0, 2, 0, 0] == 1
    assert torch.allclose(pooled[0, :2, 0, 0], torch.tensor([0.5, -0.25]))


def test_working_size_from_config_is_validated_and_used():
    from tinct.inference import Colorizer

    with pytest.raises(ValueError, match="working_size"):
        create_model("unet", working_size=10**6)
    model = small("unet", working_size=352)
    assert model.preferred_size == 352
    assert Colorizer(model, device="cpu").working_shape(600, 800) == (256, 352)
    assert Colorizer(model, size=256, device="cpu").working_shape(600, 800) == (192, 256)
