"""What a single color hint does with the bundled default model: the uniform region it is placed
in takes the hint's color, and a region far away is left alone."""

import numpy as np
import pytest
import torch

from tinct.color.lab import lab_to_rgb, rgb_to_lab
from tinct.inference import Colorizer
from tinct.inference.lookup import resolve_weights
from tinct.metrics.ciede2000 import ciede2000

HINT_AB = (55.0, 40.0)  # a saturated red-orange


@pytest.fixture(scope="module")
def colorizer():
    try:
        resolve_weights("default")
    except FileNotFoundError:
        pytest.skip("no bundled default weights")
    torch.set_num_threads(1)
    c = Colorizer.load("default", backend="torch", device="cpu")
    if not c.accepts_hints:
        pytest.skip("the bundled default model takes no hints")
    return c


def _lab(rgb: np.ndarray) -> torch.Tensor:
    return rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)


def test_one_hint_colors_its_uniform_region_and_nothing_far_away(colorizer):
    height, width = 384, 512
    y, x = np.mgrid[0:height, 0:width]
    gray = (110 + 40 * np.sin(x / 9.0) * np.sin(y / 7.0)).astype(np.uint8)  # textured surroundings
    gray[60:220, 40:200] = 119  # a uniform patch, L* ≈ 50
    rgb = np.stack([gray] * 3, axis=-1)
    hint_rgb = lab_to_rgb(torch.tensor([50.0, *HINT_AB]).view(3, 1, 1)).view(3).mul(255).round().int().tolist()
    hint = {"x": 120, "y": 140, "color": "#{:02x}{:02x}{:02x}".format(*hint_rgb)}

    base = _lab(colorizer.colorize(rgb))
    hinted = _lab(colorizer.colorize(rgb, hints=[hint]))

    region = (slice(None), slice(80, 200), slice(60, 180))
    target = torch.stack((hinted[0], torch.full_like(hinted[0], HINT_AB[0]), torch.full_like(hinted[0], HINT_AB[1])))
    assert ciede2000(hinted[region], target[region]).mean() < 10
    far = (slice(None), slice(260, 384), slice(330, 512))
    assert ciede2000(hinted[far], base[far]).mean() < 3
