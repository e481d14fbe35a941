import warnings

import numpy as np
import pytest
import torch

from tinct.color.ab_bins import ab_bins, annealed_mean, nearest_bin, rebalancing_weights, soft_encode
from tinct.color.lab import rgb_to_lab


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
    assert w.shape == (261,) and w.dtype == torch.float32 and torch.isfinite(w).all() and (w > 0).all()
    assert w.argmin() == gray and w[gray] < 0.2 * w.median()
    # λ = 1 ignores the data: every class weighs the same, and the expected weight is 1.
    assert torch.allclose(rebalancing_weights(counts, bins, lam=1.0), torch.ones(len(bins)))


def test_rebalancing_matches_zhang_et_al_without_smoothing():
    """With σ → 0 the smoothed distribution is the empirical one, so the weights must be Zhang et
    al.'s w ∝ ((1 − λ)·p + λ/Q)⁻¹, scaled so that the expected weight Σ p·w is 1."""
    bins = ab_bins()
    counts = torch.randint(0, 50, (len(bins),), generator=torch.Generator().manual_seed(0)).double()
    p = counts / counts.sum()
    expected = 1 / (0.7 * p + 0.3 / len(bins))
    expected = expected / (p * expected).sum()
    got = rebalancing_weights(counts, bins, lam=0.3, sigma=1e-3)
    assert torch.allclose(got.double(), expected, rtol=1e-5)
    assert (p * got.double()).sum() == pytest.approx(1)


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


def test_every_bin_holds_some_srgb_color():
    """The 261 classes are exactly the 10-unit cells that sRGB reaches: a dense sample of the RGB
    cube (an independent construction from the cube-surface one in the module) lands in every bin
    and in no cell outside them."""
    bins = ab_bins()
    levels = torch.linspace(0, 1, 48)
    rgb = torch.stack(torch.meshgrid(levels, levels, levels, indexing="ij")).reshape(3, 1, -1)
    ab = rgb_to_lab(rgb)[1:].reshape(2, -1).T
    cells = {tuple(c) for c in (torch.round(ab / 10) * 10).long().tolist()}
    assert cells <= {tuple(b) for b in bins.long().tolist()}
    # Every bin centre is within a cell's half diagonal of a sampled color (a cell no sRGB color
    # reaches would be a class no training pixel can have).
    assert torch.cdist(bins, ab).min(dim=1).values.max() <= 5 * 2**0.5


def test_max_chroma_table_is_the_gamut_boundary():
    """The compiled table against scikit-image's float64 L*a*b* -> XYZ -> linear sRGB (not clipped,
    and none of tinct's own formulas): each sampled cell's chroma is inside the gamut and 0.01
    more is outside."""
    from skimage.color import lab2xyz
    from skimage.color.colorconv import rgb_from_xyz

    from tinct.color.gamut_mapping import TABLE_SHAPE, max_chroma_table

    table = max_chroma_table()
    assert table.shape == TABLE_SHAPE and table.dtype == np.float32
    rng = np.random.default_rng(0)
    i = rng.integers(1, TABLE_SHAPE[0] - 1, 400)  # L* = 0 and 100: the gray axis' ends, chroma 0
    j = rng.integers(0, TABLE_SHAPE[1], 400)
    L, hue = i * 100 / (TABLE_SHAPE[0] - 1), np.linspace(-np.pi, np.pi, TABLE_SHAPE[1])[j]

    def linear(chroma):  # (3, n) linear sRGB
        lab = np.stack([L, chroma * np.cos(hue), chroma * np.sin(hue)], axis=-1)
        with warnings.catch_warnings():  # skimage warns about (and clips) negative Z, as tinct does
            warnings.simplefilter("ignore")
            return (lab2xyz(lab[None])[0] @ rgb_from_xyz.T).T

    chroma = table[i, j].astype(np.float64)
    inside, beyond = linear(chroma), linear(chroma + 0.01)
    assert (inside.min(0) >= -1e-6).all() and (inside.max(0) <= 1 + 1e-6).all()
    assert ((beyond.min(0) < 0) | (beyond.max(0) > 1)).all()
    assert 0 < chroma.min() and chroma.max() < 140
