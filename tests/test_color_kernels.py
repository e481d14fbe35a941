"""tinct.color.fast (numba kernels in tinct.color._kernels) against the reference tinct.color.lab,
run in float64."""

from __future__ import annotations

import multiprocessing
import sys

import numpy as np
import pytest
import torch

from tinct.color import lab as reference
from tinct.color.fast import lab_to_rgb, rgb_to_lab, rgb_to_lightness
from tinct.color.gamut_mapping import max_chroma_table
from tinct.color.rgb8 import lab_to_rgb_uint8


def torch_path(fn, x: torch.Tensor) -> torch.Tensor:
    """The reference conversion of the same name as ``fn`` (tinct.color.lab), in float64."""
    return getattr(reference, fn.__name__)(x.double())


def rgb_with_edges(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Random sRGB plus, in the last row, the cube's corners, values either side of the sRGB
    threshold, dark colors near the CIE threshold, and colors outside [0, 1]."""
    rgb = torch.rand(shape, generator=torch.Generator().manual_seed(seed))
    edges = torch.tensor(
        [[0.0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1],
         [0.04045, 0.04045, 0.04045], [0.04, 0.0405, 0.0404], [1e-6, 0, 0], [0.5, 0.5, 0.5],
         [0.0993, 0.0993, 0.0993], [0.07, 0.1, 0.06], [-0.05, 0.5, 1.1], [2.0, -1.0, 0.5]]
    ).T  # fmt: skip
    rgb.view(-1, *shape[-3:])[0, :, -1, : edges.shape[1]] = edges
    return rgb


def lab_with_edges(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """L*a*b* over the whole nominal range (mostly out of gamut) and beyond it."""
    g = torch.Generator().manual_seed(seed)
    scale, offset = torch.tensor([100.0, 255.0, 255.0]), torch.tensor([0.0, -128.0, -128.0])
    lab = torch.rand(shape, generator=g) * scale.view(3, 1, 1) + offset.view(3, 1, 1)
    edges = torch.tensor(
        [[0.0, 0, 0], [100, 0, 0], [50, 0, 0], [8, 0, 0], [7.9996, 0, 0], [-5, 0, 0], [120, 0, 0],
         [50, 120, -120], [0, -128, 127], [100, -128, -128], [95, 0, -127], [30, 300, 300], [2, 0, 50]]
    ).T  # fmt: skip
    lab.view(-1, *shape[-3:])[0, :, -1, : edges.shape[1]] = edges
    return lab


@pytest.mark.parametrize("shape", [(3, 71, 61), (2, 2, 3, 40, 33)], ids=["odd-width", "batch"])
def test_kernels_match_torch_path(shape):
    """Every float kernel against the float64 torch path (odd widths: the vector loops' remainders)."""
    rgb = rgb_with_edges(shape, seed=0)
    lab64 = torch_path(rgb_to_lab, rgb)
    torch.testing.assert_close(rgb_to_lab(rgb).double(), lab64, atol=1e-4, rtol=0)
    torch.testing.assert_close(rgb_to_lightness(rgb).double(), lab64[..., 0, :, :], atol=1e-4, rtol=0)
    # The reference in float32, whose own rounding is ~1e-4 too.
    torch.testing.assert_close(rgb_to_lab(rgb), reference.rgb_to_lab(rgb), atol=3e-4, rtol=0)

    lab = lab_with_edges(shape, seed=1)
    torch.testing.assert_close(lab_to_rgb(lab).double(), torch_path(lab_to_rgb, lab), atol=1e-4, rtol=0)
    torch.testing.assert_close(lab_to_rgb(lab64.float()).double(), rgb.double().clamp(0, 1), atol=1e-4, rtol=0)


def test_kernels_on_every_layout():
    hwc = rgb_with_edges((3, 60, 80), seed=2).permute(1, 2, 0).contiguous()
    expected = rgb_to_lab(hwc.permute(2, 0, 1).contiguous())
    wide = torch.zeros(60, 160, 3)
    wide[:, ::2] = hwc
    views = {
        "hwc": hwc.permute(2, 0, 1),  # an (H, W, 3) image seen as (3, H, W): its own kernel
        "strided": wide[:, ::2].permute(2, 0, 1),  # any other layout: a copy
        "channels-last batch": hwc.permute(2, 0, 1)[None].contiguous(memory_format=torch.channels_last),
    }
    for name, view in views.items():
        torch.testing.assert_close(rgb_to_lab(view).reshape(3, 60, 80), expected, atol=1e-5, rtol=0, msg=name)
        torch.testing.assert_close(rgb_to_lightness(view).reshape(60, 80), expected[0], atol=1e-5, rtol=0, msg=name)
    planar = (hwc * 255).round().to(torch.uint8).permute(2, 0, 1)
    L = reference.rgb_to_lightness(planar)  # (H, W, 3) uint8, the decoded-image case: rgb8's tables
    torch.testing.assert_close(reference.rgb_to_lightness(planar.contiguous()), L, atol=0, rtol=0)  # planar: a copy
    torch.testing.assert_close(L.double(), torch_path(rgb_to_lightness, planar.double() / 255), atol=1e-4, rtol=0)


def test_uint8_lightness_gray_and_color_rows():
    rng = np.random.default_rng(3)
    image = np.repeat(rng.integers(0, 256, (40, 90, 1), dtype=np.uint8), 3, axis=2)
    image[5, 7] = (10, 200, 30)  # one colored pixel: row 5 takes the general path
    chw = torch.from_numpy(image).permute(2, 0, 1)
    torch.testing.assert_close(
        reference.rgb_to_lightness(chw).double(), torch_path(rgb_to_lightness, chw / 255.0), atol=1e-4, rtol=0
    )


def test_nan_propagates_like_the_torch_path():
    rgb = rgb_with_edges((3, 64, 64), seed=4)
    rgb[0, 3, 5] = rgb[1, 10, 10] = rgb[2, 60, 63] = float("nan")
    ours, ref = rgb_to_lab(rgb), torch_path(rgb_to_lab, rgb)
    assert torch.equal(ours.isnan(), ref.isnan()) and ours.isnan().any()
    assert torch.equal(rgb_to_lightness(rgb).isnan(), ref[0].isnan())
    lab = lab_with_edges((3, 64, 64), seed=5)
    lab[0, 1, 2] = lab[1, 20, 3] = lab[2, 40, 40] = float("nan")
    ours, ref = lab_to_rgb(lab), torch_path(lab_to_rgb, lab)
    assert torch.equal(ours.isnan(), ref.isnan()) and ours.isnan().any()
    rgb[0, 0, 0] = float("inf")
    assert not torch.isfinite(rgb_to_lab(rgb)[:, 0, 0]).all()


def test_uint8_output_threads_out_views_and_late_gamut_table():
    lab = lab_with_edges((3, 700, 400), seed=6)  # 280k pixels: several threads, many out of gamut
    lab[1:] *= 0.5
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = lab_to_rgb_uint8(lab)
        torch.set_num_threads(2)
        assert np.array_equal(lab_to_rgb_uint8(lab), single)
    finally:
        torch.set_num_threads(threads)
    # The gamut table is built only once some color needs it; rows clipped before are redone.
    max_chroma_table.cache_clear()
    assert np.array_equal(lab_to_rgb_uint8(lab), single)
    # A non-contiguous out= (a window of a bigger image) gets the same pixels.
    canvas = np.zeros((700, 500, 3), np.uint8)
    lab_to_rgb_uint8(lab, out=canvas[:, 50:450])
    assert np.array_equal(canvas[:, 50:450], single) and not canvas[:, :50].any()
    clipped = lab_to_rgb_uint8(lab, keep_lightness=False)
    expected = (reference.lab_to_rgb(lab).permute(1, 2, 0).numpy() * 255).round()
    assert np.abs(clipped - expected).max() <= 1


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_kernels_work_in_a_forked_child():
    """numba's parallel=True (its GNU OpenMP layer) would kill a child forked after a kernel ran, as
    DataLoader workers are; tinct's kernels are serial, on tinct's own (fork-aware) threads."""
    rgb = rgb_with_edges((3, 600, 500), seed=10)  # big enough for the thread pool
    expected = rgb_to_lab(rgb).numpy()

    def child() -> None:
        # numpy, not torch, compares: torch's own OpenMP may hang in a forked child.
        sys.exit(0 if np.array_equal(rgb_to_lab(rgb).numpy(), expected) else 3)

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(timeout=120)
    if process.exitcode is None:
        process.kill()
    assert process.exitcode == 0


def test_numpy_srgb_curve_matches_the_reference():
    """rgb8's per-level tables and hint colors decode sRGB in numpy; the reference is lab.srgb_to_linear."""
    from tinct.color.rgb8 import _srgb8_to_linear

    levels = np.arange(256)
    expected = reference.srgb_to_linear(torch.from_numpy(levels).double() / 255).numpy()
    np.testing.assert_allclose(_srgb8_to_linear(levels), expected, atol=1e-12, rtol=0)
