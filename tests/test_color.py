"""tinct.color.lab against scikit-image, plus round trips, gradients, shapes, dtypes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from skimage.color import lab2rgb, rgb2lab

from tinct.color import lab_to_rgb, rgb_to_lab

from .conftest import VAL_PHOTOS

PHOTOS = VAL_PHOTOS


def _to_chw(image: np.ndarray, dtype=torch.float32) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).to(dtype)


def _to_hwc(tensor: torch.Tensor) -> np.ndarray:
    return tensor.permute(1, 2, 0).double().numpy()


def _random_lab(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Lab values over the whole nominal range, so many are outside the sRGB gamut."""
    return np.stack([rng.uniform(0, 100, shape), rng.uniform(-128, 127, shape), rng.uniform(-128, 127, shape)], axis=-1)


def _sk_lab2rgb(lab: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():  # skimage warns about the negative Z it clips, as we do
        warnings.simplefilter("ignore")
        return lab2rgb(lab)


def _photos(n: int = 3) -> list[np.ndarray]:
    if not PHOTOS.is_dir():
        pytest.skip(f"{PHOTOS} not available")
    from PIL import Image

    files = sorted(p for p in PHOTOS.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})[:n]
    if len(files) < n:
        pytest.skip(f"fewer than {n} photos in {PHOTOS}")
    images = []
    for path in files:
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((256, 256))  # keep the test fast
            images.append(np.asarray(im, dtype=np.float64) / 255.0)
    return images


def test_rgb_to_lab_matches_skimage_random():
    rgb = np.random.default_rng(0).random((24, 31, 3))
    # Include the exact corners and values either side of the sRGB linear-segment threshold.
    rgb[0, :8] = [[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0.04, 0.04, 0.04],
                  [0.0405, 0.0405, 0.0405], [0.5, 0.5, 0.5]]  # fmt: skip
    ours = rgb_to_lab(_to_chw(rgb))
    assert ours.dtype == torch.float32
    np.testing.assert_allclose(_to_hwc(ours), rgb2lab(rgb), rtol=0, atol=1e-3)


def test_lab_to_rgb_matches_skimage_random_including_out_of_gamut():
    lab = _random_lab(np.random.default_rng(1), (20, 25))
    ours = lab_to_rgb(_to_chw(lab))
    np.testing.assert_allclose(_to_hwc(ours), _sk_lab2rgb(lab), rtol=0, atol=1e-3)


def test_matches_skimage_on_real_photos():
    for rgb in _photos():
        lab = rgb_to_lab(_to_chw(rgb))
        ref_lab = rgb2lab(rgb)
        np.testing.assert_allclose(_to_hwc(lab), ref_lab, rtol=0, atol=1e-3)
        np.testing.assert_allclose(_to_hwc(lab_to_rgb(_to_chw(ref_lab))), _sk_lab2rgb(ref_lab), rtol=0, atol=1e-3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_round_trip(dtype):
    rgb = torch.rand(2, 3, 17, 19, generator=torch.Generator().manual_seed(2), dtype=dtype)
    rgb[0, :, 0, :4] = torch.tensor([0.0, 1.0, 0.04045, 0.5], dtype=dtype)
    back = lab_to_rgb(rgb_to_lab(rgb))
    assert (back - rgb).abs().max().item() <= 1e-4


def test_gray_has_neutral_chroma():
    gray = torch.linspace(0, 1, 11, dtype=torch.float64).view(1, 1, 11).expand(3, 4, 11)
    lab = rgb_to_lab(gray)
    assert lab[1:].abs().max().item() < 1e-2  # skimage's matrix rows and D65 white differ at 1e-5
    assert lab[0, 0, 0].item() == pytest.approx(0.0, abs=1e-9)
    assert lab[0, 0, -1].item() == pytest.approx(100.0, abs=1e-3)


def test_gradcheck_rgb_to_lab():
    # Values in [0.2, 0.9] stay clear of the sRGB (0.04045) and cube-root (0.008856) kinks.
    rgb = 0.2 + 0.7 * torch.rand(1, 3, 2, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert torch.autograd.gradcheck(rgb_to_lab, (rgb.requires_grad_(),))


def test_gradcheck_lab_to_rgb():
    # Lab of in-gamut colors away from 0 and 1, so neither the clipping nor the kinks are hit.
    rgb = 0.2 + 0.6 * torch.rand(1, 3, 2, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    lab = rgb_to_lab(rgb).detach()
    assert torch.autograd.gradcheck(lab_to_rgb, (lab.requires_grad_(),))


def test_gradient_finite_at_black_and_white():
    rgb = torch.tensor([0.0, 1.0, 0.5], dtype=torch.float64).view(1, 3, 1, 1).expand(1, 3, 2, 2).clone()
    rgb.requires_grad_(True)
    lab_to_rgb(rgb_to_lab(rgb)).sum().backward()
    assert torch.isfinite(rgb.grad).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_and_device_follow_input(dtype):
    rgb = torch.rand(3, 4, 5, dtype=dtype)
    lab = rgb_to_lab(rgb)
    assert lab.dtype == dtype and lab.device == rgb.device
    back = lab_to_rgb(lab)
    assert back.dtype == dtype and back.device == rgb.device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    rgb = torch.rand(2, 3, 8, 8)
    lab = rgb_to_lab(rgb.cuda())
    assert lab.is_cuda
    torch.testing.assert_close(lab.cpu(), rgb_to_lab(rgb), atol=1e-4, rtol=0)
    assert lab_to_rgb(lab).is_cuda


def test_batch_dims():
    g = torch.Generator().manual_seed(5)
    single = torch.rand(3, 6, 7, generator=g)
    batch = torch.rand(2, 2, 3, 6, 7, generator=g)
    assert rgb_to_lab(single).shape == (3, 6, 7)
    assert rgb_to_lab(batch).shape == (2, 2, 3, 6, 7)
    assert lab_to_rgb(rgb_to_lab(batch)).shape == (2, 2, 3, 6, 7)
    # Every image of a batch is converted as if it were alone (up to float32 summation order).
    alone = rgb_to_lab(batch[1, 0])
    torch.testing.assert_close(rgb_to_lab(batch)[1, 0], alone, atol=1e-4, rtol=0)
    torch.testing.assert_close(rgb_to_lab(batch.flatten(0, 1))[2], alone, atol=1e-4, rtol=0)


def test_out_of_gamut_lab_is_clipped():
    lab = torch.tensor(
        [[50.0, 120.0, -120.0], [100.0, 100.0, 100.0], [0.0, -128.0, 127.0], [100.0, -128.0, -128.0],
         [5.0, 127.0, 127.0], [95.0, 0.0, -127.0], [0.0, 0.0, 0.0], [100.0, 0.0, 0.0]]
    ).T.reshape(3, 2, 4)  # fmt: skip
    rgb = lab_to_rgb(lab)
    assert torch.isfinite(rgb).all()
    assert rgb.min().item() >= 0.0 and rgb.max().item() <= 1.0
    np.testing.assert_allclose(_to_hwc(rgb), _sk_lab2rgb(_to_hwc(lab)), rtol=0, atol=1e-3)


@pytest.mark.parametrize("shape", [(4, 5, 5), (5, 5), (3,), (2, 4, 5, 5), (3, 5)])
def test_bad_shape_raises(shape):
    with pytest.raises(ValueError):
        rgb_to_lab(torch.rand(shape))
    with pytest.raises(ValueError):
        lab_to_rgb(torch.rand(shape))
