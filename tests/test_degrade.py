"""Old-print degradation: seeded, in range, each effect does what it says, and training applies it
to L* only."""

import numpy as np
import pytest
import torch

from tinct.data.dataset import ColorDataset
from tinct.data.degrade import EVAL_PRINT, OldPrint, apply_old_print, old_print_photo, random_old_print


def _scene(h=64, w=80):
    yy, xx = np.mgrid[0:h, 0:w]
    return (20 + 60 * (xx / w) + 10 * np.sin(yy / 3)).astype(np.float32)


def test_same_seed_same_print_and_range():
    L = _scene()
    a = apply_old_print(L, EVAL_PRINT, np.random.default_rng(3))
    b = apply_old_print(L, EVAL_PRINT, np.random.default_rng(3))
    c = apply_old_print(L, EVAL_PRINT, np.random.default_rng(4))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.shape == L.shape and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 100


def test_each_effect():
    L, rng = _scene(), np.random.default_rng(0)
    assert np.array_equal(apply_old_print(L, OldPrint(), rng), L)
    faded = apply_old_print(L, OldPrint(contrast=0.5, mid=50), rng)
    assert np.allclose(faded - 50, (L - 50) * 0.5, atol=1e-4)
    stripes = np.where(np.arange(64)[:, None] % 4 < 2, 30.0, 70.0).repeat(80, axis=1).astype(np.float32)
    blurred = apply_old_print(stripes, OldPrint(blur=2.0), rng)
    assert np.abs(np.diff(blurred, axis=0)).mean() < 0.2 * np.abs(np.diff(stripes, axis=0)).mean()
    assert abs(blurred.mean() - stripes.mean()) < 0.5  # a blur keeps the mean lightness
    grainy = apply_old_print(L, OldPrint(grain=5.0), rng)
    assert 4 < (grainy - L).std() < 6
    blocky = apply_old_print(L, OldPrint(jpeg_quality=10), rng)
    assert 0 < np.abs(blocky - L).mean() < 5


def test_random_prints_vary_and_stay_valid():
    rng = np.random.default_rng(0)
    prints = [random_old_print(rng) for _ in range(50)]
    assert len({p.contrast for p in prints}) > 10
    assert any(p.contrast == 1.0 for p in prints) and any(p.jpeg_quality for p in prints)
    for damage in prints[:5]:
        out = apply_old_print(_scene(), damage, rng)
        assert 0 <= out.min() and out.max() <= 100


def test_old_print_photo_keeps_chroma_and_changes_lightness():
    from tinct.color.lab import rgb_to_lab

    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 180, 120, 60  # an orange-brown print
    out = old_print_photo(rgb, EVAL_PRINT, seed=1)
    lab_in = rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)
    lab_out = rgb_to_lab(torch.from_numpy(out).permute(2, 0, 1).float() / 255)
    assert (lab_out[0] - lab_in[0]).abs().mean() > 2
    assert (lab_out[1:].mean(dim=(1, 2)) - lab_in[1:].mean(dim=(1, 2))).abs().max() < 2.5


@pytest.mark.parametrize("degrade", [0.0, 1.0])
def test_dataset_degrades_input_only(photo_folder, degrade):
    clean = ColorDataset(photo_folder, 32, train=True, seed=0)
    ds = ColorDataset(photo_folder, 32, train=True, seed=0, degrade=degrade)
    L0, ab0 = clean[0]
    L, ab = ds[0]
    assert torch.equal(ab, ab0)
    assert torch.equal(L, L0) == (degrade == 0.0)
    assert torch.equal(ds[0][0], L)  # seeded per (seed, epoch, index)
    with pytest.raises(ValueError, match="degrade"):
        ColorDataset(photo_folder, 32, degrade=1.5)
