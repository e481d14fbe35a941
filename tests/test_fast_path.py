"""The fast full-resolution path: tinct.color.fast (numba kernels) and the Colorizer's output
stage, checked against scikit-image float64 (≤ 1 level of 8 bits) and against the torch path."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from skimage.color import lab2rgb, rgb2lab

from tinct.color import constants
from tinct.color import fast as fast_module
from tinct.color.lab import lab_to_rgb, rgb_to_lab, rgb_to_lightness
from tinct.color.rgb8 import lab_to_rgb_uint8
from tinct.inference import Colorizer, combine_lab, image_lightness
from tinct.models import create_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def sk_lab2rgb(lab: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():  # negative Z clipped: expected for out-of-gamut colors
        warnings.simplefilter("ignore")
        return lab2rgb(lab)


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    return (rgb * 255).round().astype(np.uint8)


def linear_rgb64(lab: np.ndarray) -> np.ndarray:
    """Unclipped linear sRGB of (..., 3) L*a*b* in float64 (to tell in-gamut colors apart)."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f > 0.2068966, f**3, (f - 16 / 116) / 7.787) * np.array(constants.WHITE_D65)
    return xyz @ np.linalg.inv(np.array(constants.XYZ_FROM_RGB)).T


def random_photo_lab(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Float64 L*a*b* of random 8-bit sRGB colors, including the cube's corners and edges."""
    rgb = rng.integers(0, 256, (*shape, 3)).astype(np.float64) / 255
    rgb[0, :8] = [[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1]]
    return rgb2lab(rgb)


def test_in_gamut_output_within_one_level_of_skimage_float64():
    lab64 = random_photo_lab(np.random.default_rng(0), (96, 128))
    lab32 = torch.from_numpy(lab64).permute(2, 0, 1).float()
    expected = to_uint8(sk_lab2rgb(lab32.permute(1, 2, 0).double().numpy()))  # the same L*a*b* values
    # a*b* at full resolution: the upsampling is the identity, so this is the colour math alone.
    out = combine_lab(lab32[0].numpy(), lab32[1:])
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1
    assert np.mean(out == expected) > 0.99  # off by one only at rounding ties
    np.testing.assert_array_equal(lab_to_rgb_uint8(lab32), out)


def test_upsampled_chroma_within_one_level_and_out_of_gamut_keeps_lightness():
    rng = np.random.default_rng(1)
    height, width = 203, 301
    y, x = np.mgrid[0:height, 0:width]
    L = (50 + 45 * np.sin(x / 37.0) * np.cos(y / 23.0)).astype(np.float32)  # 5..95
    ab = torch.from_numpy(rng.normal(0, 40, (2, 13, 19)).astype(np.float32))  # many colors out of gamut
    out = combine_lab(L, ab)
    full = F.interpolate(ab[None].double(), size=(height, width), mode="bilinear", align_corners=False)[0]
    lab64 = np.concatenate((L[..., None].astype(np.float64), full.permute(1, 2, 0).numpy()), axis=2)
    lin = linear_rgb64(lab64)
    inside = (lin.min(axis=2) >= 0) & (lin.max(axis=2) <= 1)
    assert 0.2 < inside.mean() < 0.9  # both cases are exercised
    expected = to_uint8(sk_lab2rgb(lab64))
    assert np.abs(out[inside].astype(int) - expected[inside].astype(int)).max() <= 1
    # Out of gamut: lightness kept (scikit-image's per-channel clipping would move it by up to ~40)...
    got = rgb2lab(out / 255.0)
    assert np.abs(got[..., 0] - L).max() <= 1.0
    # ... and hue kept: the chroma keeps its direction.
    outside = ~inside & (np.hypot(*full.numpy()) > 10)
    cos = (got[..., 1:] * lab64[..., 1:]).sum(-1) / (np.hypot(*got[..., 1:].transpose(2, 0, 1)) + 1e-9)
    cos /= np.hypot(*lab64[..., 1:].transpose(2, 0, 1))
    assert np.median(cos[outside]) > 0.98


def test_out_of_gamut_chroma_is_as_large_as_fits():
    L = np.linspace(1, 99, 50, dtype=np.float32)[None].repeat(3, axis=0)  # (3, 50)
    ab = np.broadcast_to(np.array([60.0, 70.0], np.float32)[:, None, None], (2, 3, 50))
    lab = torch.from_numpy(np.concatenate((L[None], ab))).float()
    out = lab_to_rgb_uint8(lab)
    got = rgb2lab(out / 255.0)
    scale = np.hypot(got[..., 1], got[..., 2]) / np.hypot(60, 70)
    # A bit more chroma (2/256 of the original, plus 8-bit rounding) would leave the gamut.
    more = np.concatenate((L[..., None], (np.minimum(scale, 1) + 0.03)[..., None] * [60.0, 70.0]), axis=-1)
    lin = linear_rgb64(more)
    fits = (lin.min(axis=-1) >= -1e-3) & (lin.max(axis=-1) <= 1 + 1e-3)
    assert not fits[scale < 0.95].any()
    assert np.abs(got[..., 0] - L).max() <= 1.0


def test_clip_mode_matches_lab_to_rgb():
    rng = np.random.default_rng(2)
    lab = torch.from_numpy(np.stack([rng.uniform(0, 100, (40, 50)), *rng.uniform(-110, 110, (2, 40, 50))])).float()
    out = lab_to_rgb_uint8(lab, keep_lightness=False)
    expected = to_uint8(sk_lab2rgb(lab.permute(1, 2, 0).double().numpy()))
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1


def test_a_conversion_does_not_depend_on_size_or_requires_grad():
    """tinct.color.lab is one path: a crop converted alone, or inside a bigger tensor, or with a
    gradient attached, gives the same numbers bit for bit. (The kernels of tinct.color.fast are
    held to it in tests/test_color_kernels.py.)"""
    g = torch.Generator().manual_seed(3)
    big = torch.rand(3, 80, 120, generator=g)
    crop = big[:, :8, :8].contiguous()
    whole = rgb_to_lab(big)
    assert torch.equal(rgb_to_lab(crop), whole[:, :8, :8])
    assert torch.equal(rgb_to_lab(big.clone().requires_grad_()).detach(), whole)
    assert torch.equal(rgb_to_lightness(crop), rgb_to_lightness(big)[:8, :8])
    assert torch.equal(lab_to_rgb(whole)[:, :8, :8], lab_to_rgb(whole[:, :8, :8].contiguous()))


def test_fast_path_strided_input_and_threads():
    rng = np.random.default_rng(4)
    hwc = rng.random((600, 500, 3), dtype=np.float32)  # 300k pixels: the thread pool is used
    chw = torch.from_numpy(hwc).permute(2, 0, 1)  # a strided view, as from an (H, W, 3) image
    torch.set_num_threads(2)
    try:
        threaded = fast_module.rgb_to_lab(chw)
    finally:
        torch.set_num_threads(1)
    single = fast_module.rgb_to_lab(chw.contiguous())
    torch.testing.assert_close(threaded, single, atol=0, rtol=0)
    np.testing.assert_allclose(threaded.permute(1, 2, 0).numpy(), rgb2lab(hwc.astype(np.float64)), atol=1e-3)


def test_gradients_still_flow():
    rgb = torch.rand(3, 70, 70, requires_grad=True)
    rgb_to_lab(rgb).sum().backward()
    assert rgb.grad is not None and torch.isfinite(rgb.grad).all()
    L = rgb_to_lightness(rgb)
    assert L.requires_grad


def test_lightness_of_uint8_images():
    rng = np.random.default_rng(5)
    color = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    gray = np.repeat(np.arange(256, dtype=np.uint8).reshape(16, 16)[..., None], 3, axis=2)
    for image in (color, gray):
        expected = rgb2lab(image / 255.0)[..., 0]
        np.testing.assert_allclose(image_lightness(image), expected, atol=1e-3)
        np.testing.assert_allclose(rgb_to_lightness(torch.from_numpy(image).permute(2, 0, 1)), expected, atol=1e-3)
    batch = torch.from_numpy(np.stack([color[:16, :16], gray])).permute(0, 3, 1, 2)
    assert rgb_to_lightness(batch).shape == (2, 16, 16)


def test_colorizer_output_matches_skimage_reconstruction_of_its_lab():
    torch.manual_seed(0)
    colorizer = Colorizer(create_model("unet", decoder_channels=(8, 8, 8, 8)), size=64)
    used = {}
    predict = colorizer.backend.run

    def spy(L_small, hints, vividness):
        used["ab"] = predict(L_small, hints, vividness) * 3  # vivid enough for some out-of-gamut colors
        return used["ab"]

    colorizer.backend.run = spy
    y, x = np.mgrid[0:150, 0:210]
    gray = np.clip(128 + 120 * np.sin(x / 17.0 + y / 29.0), 0, 255).astype(np.uint8)
    out = colorizer.colorize(np.repeat(gray[..., None], 3, axis=2))
    L = rgb2lab(np.repeat(gray[..., None], 3, axis=2) / 255.0)[..., 0]
    ab = torch.from_numpy(used["ab"])[None].double()
    full = F.interpolate(ab, size=gray.shape, mode="bilinear", align_corners=False)[0]
    lab64 = np.concatenate((L[..., None], full.permute(1, 2, 0).numpy()), axis=2)
    lin = linear_rgb64(lab64)
    inside = (lin.min(axis=2) >= 0) & (lin.max(axis=2) <= 1)
    assert inside.mean() > 0.1
    expected = to_uint8(sk_lab2rgb(lab64))
    assert np.abs(out[inside].astype(int) - expected[inside].astype(int)).max() <= 1
    assert np.abs(rgb2lab(out / 255.0)[..., 0] - L).max() <= 1.0


def test_colorize_jpeg_path_and_gray_fast_lightness(tmp_path):
    torch.manual_seed(0)
    colorizer = Colorizer(create_model("unet", decoder_channels=(8, 8, 8, 8)), size=64)
    y, x = np.mgrid[0:90, 0:120]
    gray = ((x * 2 + y) % 256).astype(np.uint8)
    path = tmp_path / "gray.jpg"
    Image.fromarray(gray).save(path, quality=95)
    out = colorizer.colorize(path)
    decoded = np.asarray(Image.open(path).convert("L"))
    assert out.shape == (90, 120, 3)
    L_in = rgb2lab(np.repeat(decoded[..., None], 3, axis=2) / 255.0)[..., 0]
    assert np.abs(rgb2lab(out / 255.0)[..., 0] - L_in).max() <= 1.0
