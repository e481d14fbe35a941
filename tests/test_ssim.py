"""tinct.ops.ssim against scikit-image's structural_similarity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from tinct.ops import gaussian_window, ssim


def _sk_ssim(a: np.ndarray, b: np.ndarray, data_range: float, sigma: float = 1.5, win_size=None) -> float:
    """Reference on (C, H, W) arrays, with the settings that reproduce Wang et al. 2004."""
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=sigma, win_size=win_size, use_sample_covariance=False,
        data_range=data_range, channel_axis=0,
    )  # fmt: skip


def _structured(rng: np.random.Generator, c: int, h: int, w: int) -> np.ndarray:
    """Ramps, a checkerboard and a blob: large smooth regions and sharp edges, unlike noise."""
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = [
        x,
        ((np.arange(h)[:, None] // 3 + np.arange(w)[None, :] // 3) % 2).astype(float),
        np.exp(-((x - 0.5) ** 2 + (y - 0.4) ** 2) * 20),
    ]
    return np.stack([base[i % 3] for i in range(c)]) * 0.8 + 0.1 * rng.random((c, h, w))


def _pair(kind: str, c: int, h: int, w: int, seed: int):
    rng = np.random.default_rng(seed)
    a = rng.random((c, h, w)) if kind == "random" else _structured(rng, c, h, w)
    b = np.clip(a + 0.15 * rng.standard_normal(a.shape) + 0.05, 0, 1)
    return a, b


@pytest.mark.parametrize("kind", ["random", "structured"])
@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("hw", [(11, 11), (16, 16), (24, 40), (37, 19)])
def test_matches_skimage(kind, c, hw):
    a, b = _pair(kind, c, *hw, seed=1000 * c + 37 * hw[0] + hw[1] + (kind == "random"))
    ref = _sk_ssim(a, b, data_range=1.0)
    for dtype in (torch.float64, torch.float32):
        x, y = torch.from_numpy(a)[None].to(dtype), torch.from_numpy(b)[None].to(dtype)
        assert ssim(x, y, data_range=1.0).item() == pytest.approx(ref, abs=1e-3)


def test_other_window_and_data_range_match_skimage():
    a, b = _pair("structured", 3, 20, 26, seed=1)
    a255, b255 = a * 255, b * 255
    ref = _sk_ssim(a255, b255, data_range=255.0, sigma=0.8, win_size=7)  # 2*int(3.5*0.8+0.5)+1 = 7 taps
    out = ssim(torch.from_numpy(a255)[None], torch.from_numpy(b255)[None], data_range=255.0, window_size=7, sigma=0.8)
    assert out.item() == pytest.approx(ref, abs=1e-3)


def test_reduction_none_is_per_image():
    pairs = [_pair("random", 3, 16, 20, seed=s) for s in range(3)]
    x = torch.from_numpy(np.stack([p[0] for p in pairs]))
    y = torch.from_numpy(np.stack([p[1] for p in pairs]))
    per_image = ssim(x, y, data_range=1.0, reduction="none")
    assert per_image.shape == (3,) and per_image.dtype == torch.float64
    for value, (a, b) in zip(per_image.tolist(), pairs, strict=True):
        assert value == pytest.approx(_sk_ssim(a, b, 1.0), abs=1e-3)
    assert ssim(x, y, data_range=1.0).item() == pytest.approx(per_image.mean().item(), abs=1e-12)


@pytest.mark.parametrize("image", ["random", "constant"])
def test_identical_images_give_one(image):
    x = torch.rand(2, 3, 13, 17) if image == "random" else torch.full((2, 3, 13, 17), 0.3)
    torch.testing.assert_close(ssim(x, x.clone(), data_range=1.0, reduction="none"), torch.ones(2))


def test_gradient_flows():
    y = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    x = (y + 0.1 * torch.randn_like(y)).requires_grad_(True)
    loss = 1 - ssim(x, y, data_range=1.0)
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_gradcheck():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 2, 7, 8, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.rand(1, 2, 7, 8, generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a: ssim(a, y, data_range=1.0, window_size=5, sigma=1.0), (x,))


def test_dtype_follows_input():
    x = torch.rand(1, 1, 12, 12, dtype=torch.float64)
    assert ssim(x, x, data_range=1.0).dtype == torch.float64
    assert ssim(x.float(), x.float(), data_range=1.0).dtype == torch.float32


def test_bad_inputs_raise():
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(ValueError):
        ssim(x[0], x[0], data_range=1.0)  # no batch dim
    with pytest.raises(ValueError):
        ssim(x, x[:, :2], data_range=1.0)
    with pytest.raises(ValueError):
        ssim(x[..., :10], x[..., :10], data_range=1.0)  # narrower than the window
    with pytest.raises(ValueError):
        ssim(x, x, data_range=1.0, reduction="sum")


def test_gaussian_window():
    w = gaussian_window(11, 1.5, dtype=torch.float64)
    assert w.shape == (11,)
    assert w.sum().item() == pytest.approx(1.0, abs=1e-12)
    torch.testing.assert_close(w, w.flip(0))
    assert (w[5] / w[4]).item() == pytest.approx(np.exp(0.5 / 1.5**2))
    assert gaussian_window(5, 1.0, dtype=torch.float32).dtype == torch.float32
    with pytest.raises(ValueError):
        gaussian_window(10, 1.5)
