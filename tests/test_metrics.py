"""tinct.metrics against scikit-image and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from tinct.color import rgb_to_lab
from tinct.metrics import (
    PSNR_MAX_DB,
    ciede2000,
    colorfulness,
    evaluate_pair,
    mean_chroma,
    mean_ciede2000,
    neutral_cast,
    psnr,
    ssim_rgb,
    to_rgb_tensor,
)

# Sharma, Wu & Dalal (2005), Table 1: L1 a1 b1, L2 a2 b2, published ΔE00 (4 decimals). The rows
# cover the blue region (1-6), an achromatic color (7-8), the ±180° hue-difference and
# hue-mean wrap-around discontinuities (9-16), large differences (17-20) and near-neutrals (31-34).
SHARMA = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
    (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),
    (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),
    (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
    (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),
    (61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731),
    (35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146),
    (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),
    (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
    (6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


def _lab_columns(values: np.ndarray, dtype=torch.float64) -> torch.Tensor:
    """(P, 3) Lab rows -> (3, 1, P) tensor, i.e. a 1×P image."""
    return torch.from_numpy(np.ascontiguousarray(values.T)).reshape(3, 1, -1).to(dtype)


def _random_lab(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.stack([rng.uniform(0, 100, n), rng.uniform(-128, 127, n), rng.uniform(-128, 127, n)], axis=-1)


# ---------------------------------------------------------------- CIEDE2000


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_ciede2000_sharma_table(dtype):
    table = np.array(SHARMA)
    if dtype == torch.float32:
        # Rows 10 and 14 sit exactly on |h1' - h2'| = 180°, where ΔE00 jumps (the mean hue flips by
        # 180°); float32 rounding of the hue angles may land on either side.
        table = np.delete(table, [9, 13], axis=0)
    out = ciede2000(_lab_columns(table[:, :3], dtype), _lab_columns(table[:, 3:6], dtype))
    assert out.shape == (1, len(table)) and out.dtype == dtype
    # The published values are rounded to 4 decimals.
    atol = 1e-4 if dtype == torch.float64 else 5e-4
    np.testing.assert_allclose(out[0].double().numpy(), table[:, 6], rtol=0, atol=atol)


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-3), (torch.float32, 1e-2)])
def test_ciede2000_matches_skimage_random(dtype, tol):
    rng = np.random.default_rng(0)
    lab1, lab2 = _random_lab(rng, 2000), _random_lab(rng, 2000)
    # Also near colors (the regime colorization errors live in) and achromatic ones.
    lab2[:500] = lab1[:500] + rng.normal(0, 2, (500, 3))
    lab1[500:520, 1:] = 0
    ref = deltaE_ciede2000(lab1, lab2)
    out = ciede2000(_lab_columns(lab1, dtype), _lab_columns(lab2, dtype))[0]
    np.testing.assert_allclose(out.double().numpy(), ref, rtol=0, atol=tol)


def test_ciede2000_properties():
    rng = np.random.default_rng(1)
    lab1 = _lab_columns(_random_lab(rng, 50)).reshape(3, 5, 10)
    lab2 = _lab_columns(_random_lab(rng, 50)).reshape(3, 5, 10)
    torch.testing.assert_close(ciede2000(lab1, lab2), ciede2000(lab2, lab1))
    assert ciede2000(lab1, lab1).abs().max().item() == 0.0
    assert (ciede2000(lab1, lab2) > 0).all()
    batch = torch.stack([torch.stack([lab1, lab2])] * 2)  # (2, 2, 3, 5, 10)
    assert ciede2000(batch, batch.flip(1)).shape == (2, 2, 5, 10)
    with pytest.raises(ValueError):
        ciede2000(lab1[:2], lab2[:2])


def test_mean_ciede2000_matches_skimage():
    rng = np.random.default_rng(2)
    a = rng.random((2, 12, 9, 3))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    out = mean_ciede2000(a, b)  # numpy channel-last float path
    assert out.shape == (2,)
    for i in range(2):
        assert out[i].item() == pytest.approx(deltaE_ciede2000(rgb2lab(a[i]), rgb2lab(b[i])).mean(), abs=1e-3)
    a_t, b_t = (torch.from_numpy(x).permute(0, 3, 1, 2).float() for x in (a, b))
    torch.testing.assert_close(mean_ciede2000(a_t, b_t), out.float(), atol=1e-3, rtol=0)


# ---------------------------------------------------------------- PSNR / SSIM


def test_psnr_matches_skimage():
    g = torch.Generator().manual_seed(3)
    target = torch.rand(3, 3, 10, 14, generator=g, dtype=torch.float64)
    pred = (target + 0.05 * torch.randn(target.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    out = psnr(pred, target)
    assert out.shape == (3,)
    for i in range(3):
        ref = peak_signal_noise_ratio(target[i].numpy(), pred[i].numpy(), data_range=1.0)
        assert out[i].item() == pytest.approx(ref, abs=1e-6)
    # Single image -> 0-dim; float32 is accurate enough for a metric.
    assert psnr(pred[0].float(), target[0].float()).item() == pytest.approx(out[0].item(), abs=1e-3)


def test_psnr_uint8_numpy():
    rng = np.random.default_rng(4)
    a = rng.integers(0, 256, (8, 9, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    out = psnr(b, a)
    assert out.dim() == 0
    assert out.item() == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-3)


def test_psnr_identical_is_capped():
    x = torch.rand(2, 3, 5, 5)
    out = psnr(x, x.clone())
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, torch.full((2,), PSNR_MAX_DB))


def test_ssim_rgb_matches_skimage():
    rng = np.random.default_rng(5)
    a = rng.integers(0, 256, (14, 17, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, a.shape), 0, 255).astype(np.uint8)
    ref = structural_similarity(
        a / 255.0, b / 255.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0,
        channel_axis=-1,
    )  # fmt: skip
    assert ssim_rgb(b, a).item() == pytest.approx(ref, abs=1e-3)
    batch = torch.from_numpy(np.stack([a, b])).permute(0, 3, 1, 2)  # uint8 torch path
    assert ssim_rgb(batch, batch.flip(0)).shape == (2,)


# ---------------------------------------------------------------- colorfulness


def test_colorfulness_two_pixels_by_hand():
    # Pure red and pure blue (0-255): rg = (255, 0), yb = (127.5, -255).
    # σ_rg = 127.5, σ_yb = 191.25 = 1.5·127.5;  μ_rg = 127.5, μ_yb = -63.75 = -0.5·127.5.
    expected = 127.5 * math.sqrt(1 + 1.5**2) + 0.3 * 127.5 * math.sqrt(1 + 0.5**2)
    image = np.array([[[255, 0, 0], [0, 0, 255]]], dtype=np.uint8)  # (1, 2, 3): H=1, W=2
    assert colorfulness(image).item() == pytest.approx(expected, rel=1e-6)
    as_float = torch.tensor([[[1.0, 0.0]], [[0.0, 0.0]], [[0.0, 1.0]]], dtype=torch.float64)
    assert colorfulness(as_float).item() == pytest.approx(expected, rel=1e-12)


def test_colorfulness_gray_is_zero_and_batched():
    gray = torch.rand(1, 1, 6, 7).expand(2, 3, 6, 7)
    torch.testing.assert_close(colorfulness(gray), torch.zeros(2))
    colored = torch.rand(4, 3, 6, 7)
    out = colorfulness(colored)
    assert out.shape == (4,) and (out > 0).all()
    assert out[2].item() == pytest.approx(colorfulness(colored[2]).item(), rel=1e-6)


def test_mean_chroma_against_scikit_image():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(2, 6, 7, 3), dtype=np.uint8)  # numpy, channel-last, batched
    lab = rgb2lab(images.astype(np.float64) / 255)
    expected = np.hypot(lab[..., 1], lab[..., 2]).mean(axis=(1, 2))
    np.testing.assert_allclose(mean_chroma(images).numpy(), expected, rtol=1e-4)
    gray = np.repeat(images[0, ..., :1], 3, axis=-1)
    assert mean_chroma(gray).item() < 0.01  # float32 white point: gray is within 0.01 of zero chroma


# ---------------------------------------------------------------- evaluate_pair and inputs


def test_evaluate_pair():
    rng = np.random.default_rng(6)
    truth = rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)
    same = evaluate_pair(truth, truth.copy())
    assert set(same) == {"psnr", "ssim", "colorfulness", "colorfulness_truth", "ciede2000", "cast_a", "cast_b"}
    assert all(type(v) is float for v in same.values())
    assert same["psnr"] == PSNR_MAX_DB and same["ssim"] == pytest.approx(1.0) and same["ciede2000"] == 0.0
    assert same["colorfulness"] == same["colorfulness_truth"] > 0

    gray = np.repeat(truth.mean(-1, keepdims=True).astype(np.uint8), 3, axis=-1)
    result = evaluate_pair(torch.from_numpy(gray).permute(2, 0, 1)[None].float() / 255, truth)
    assert result["colorfulness"] == pytest.approx(0.0, abs=1e-3)
    assert result["psnr"] < 40 and result["ssim"] < 1 and result["ciede2000"] > 1


def test_evaluate_pair_edge_cases():
    tiny = np.zeros((5, 6, 3), dtype=np.uint8)
    assert math.isnan(evaluate_pair(tiny, tiny)["ssim"])  # smaller than the SSIM window
    with pytest.raises(ValueError):
        evaluate_pair(torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError):
        evaluate_pair(torch.rand(3, 16, 16), torch.rand(3, 16, 17))


def test_to_rgb_tensor():
    hwc = np.zeros((4, 5, 3), dtype=np.uint8)
    hwc[..., 0] = 255
    t = to_rgb_tensor(hwc)
    assert t.shape == (3, 4, 5) and t.dtype == torch.float32 and t[0].min() == 1 and t[1:].max() == 0
    assert to_rgb_tensor(hwc.astype(np.uint16) * 257)[0].min() == 1
    assert to_rgb_tensor(np.zeros((2, 4, 5, 3))).dtype == torch.float64
    with pytest.raises(ValueError, match="channel-last"):
        to_rgb_tensor(np.zeros((3, 4, 5), dtype=np.uint8))
    with pytest.raises(ValueError):
        to_rgb_tensor(torch.rand(4, 4, 5))
    with pytest.raises(TypeError):
        to_rgb_tensor(torch.zeros(3, 4, 5, dtype=torch.int64))
    with pytest.raises(TypeError):
        to_rgb_tensor([[0, 0, 0]])


def test_neutral_cast_is_the_color_put_on_truly_gray_pixels():
    """A gray wall (left) beside a blue coat (right): a brown wash over the whole picture shows up as
    +a*, +b* on the wall only; coloring the coat does not count; no neutral pixel gives NaN."""
    truth = np.zeros((8, 16, 3), np.uint8)
    truth[:, :8] = 128
    truth[:, 8:] = (30, 60, 170)
    brown = truth.copy()
    brown[:, :8] = (150, 120, 95)
    cast_a, cast_b = neutral_cast(brown, truth)
    expected = rgb_to_lab(torch.tensor([150.0, 120, 95]).view(3, 1, 1) / 255)[1:, 0, 0]
    assert cast_a.item() == pytest.approx(expected[0].item(), abs=0.05) and cast_a > 5 and cast_b > 10
    cast_a, cast_b = neutral_cast(truth, truth)  # exact colors, coat included: no cast
    assert abs(cast_a.item()) < 0.05 and abs(cast_b.item()) < 0.05
    assert np.isnan(neutral_cast(truth[:, 8:], truth[:, 8:])[0].item())
