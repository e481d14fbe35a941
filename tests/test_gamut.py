import pytest
import torch

from tinct.color.ab_bins import ab_bins, annealed_mean, nearest_bin, rebalancing_weights, soft_encode
from tinct.color.lab import lab_to_rgb, rgb_to_lab


def test_bins_cover_the_srgb_gamut():
    bins = ab_bins()
    assert bins.shape == (261, 2)
    assert torch.all(bins % 10 == 0)
    # Every sRGB color's nearest bin is within half a cell diagonal.
    rgb = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0))
    ab = rgb_to_lab(rgb)[1:].reshape(2, -1).T
    assert torch.cdist(ab, bins).min(dim=1).values.max() <= 5 * 2**0.5 + 1e-4
    # And a bin centre far outside sRGB (pure a* = +110, b* = -110) is not one of them.
    assert not ((bins[:, 0] == 110) & (bins[:, 1] == -110)).any()


def test_soft_encoding_is_a_distribution_on_five_nearest():
    bins = ab_bins()
    ab = torch.tensor([[12.0, -33.0], [0.0, 0.0]]).T.reshape(1, 2, 1, 2)
    enc = soft_encode(ab, bins)
    assert enc.shape == (1, 261, 1, 2)
    assert torch.allclose(enc.sum(dim=1), torch.ones(1, 1, 2))
    assert ((enc > 0).sum(dim=1) == 5).all()
    assert enc[0, :, 0, 0].argmax() == nearest_bin(ab, bins)[0, 0, 0]


def test_rebalancing_favours_rare_colors():
    bins = ab_bins()
    counts = torch.ones(len(bins))
    gray = nearest_bin(torch.zeros(1, 2, 1, 1), bins).item()
    counts[gray] = 10_000
    w = rebalancing_weights(counts, bins, lam=0.5)
    assert w[gray] < w.median()
    p = counts / counts.sum()
    assert w.shape == (261,) and (w > 0).all()
    # Uniform data gets (near) uniform weights.
    flat = rebalancing_weights(torch.ones(len(bins)), bins)
    assert flat.std() / flat.mean() < 0.5
    assert torch.isfinite(w).all() and p.sum() == pytest.approx(1)


def test_annealed_mean_interpolates_mean_and_mode():
    bins = ab_bins()
    logits = torch.full((1, len(bins), 1, 1), -10.0)
    red, gray = (
        nearest_bin(torch.tensor([60.0, 50.0]).view(1, 2, 1, 1), bins).item(),
        nearest_bin(torch.zeros(1, 2, 1, 1), bins).item(),
    )
    logits[0, gray], logits[0, red] = 1.0, 0.5
    mean = annealed_mean(logits, bins, 1.0)[0, :, 0, 0]
    mode = annealed_mean(logits, bins, 0.01)[0, :, 0, 0]
    assert torch.allclose(mode, bins[gray], atol=1e-3)
    assert 0 < mean.norm() < bins[red].norm()
    with pytest.raises(ValueError):
        annealed_mean(logits, bins, 0.0)


def test_bin_colors_round_trip_in_gamut_at_some_lightness():
    bins = ab_bins()
    L = torch.linspace(5, 95, 19)
    lab = torch.stack(
        (L[:, None].expand(-1, len(bins)), bins[None, :, 0].expand(len(L), -1), bins[None, :, 1].expand(len(L), -1))
    )
    err = (rgb_to_lab(lab_to_rgb(lab)) - lab).abs().amax(dim=0).min(dim=0).values
    # Each cell holds some sRGB color; its centre is within one cell of one.
    assert err.max() < 15
