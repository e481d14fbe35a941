"""The page's reference photo in headless Chromium: choose a photo, then a reference; the result
takes the reference's colors where the two match, the info line says how much, and the toggle
overlays the server's map of where."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'tinct[serve]')")

from tinct.inference import Colorizer  # noqa: E402
from tinct.models import create_model  # noqa: E402
from tinct.serve import ServeSettings, create_app  # noqa: E402

from .test_reference import CROP, WIDTH, textured_scene  # noqa: E402
from .test_serve_browser import TIMEOUT_MS, ServerThread, browser, expect  # noqa: E402, F401  (browser: a fixture)

#: Mean of G − R (0..255) over the part of the result both photos show, read back from the page.
SHARED_GREENNESS = """([x0, x1]) => {
  const img = document.getElementById("after");
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const y0 = 10, y1 = img.naturalHeight - 10;
  const data = ctx.getImageData(x0, y0, x1 - x0, y1 - y0).data;
  let sum = 0;
  for (let i = 0; i < data.length; i += 4) sum += data[i + 1] - data[i];
  return sum / (data.length / 4);
}"""
SHARED_COLUMNS = [WIDTH - CROP + 15, CROP - 5]


@pytest.fixture(scope="module")
def server():
    torch.manual_seed(0)
    colorizer = Colorizer(create_model("unet", decoder_channels=(8, 8, 8, 8), hints=True), size=128)
    with ServerThread(create_app(colorizer, ServeSettings(workers=1, queue=8, timeout=120))) as running:
        yield running


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("reference-page")
    rgb = textured_scene()
    paths = {"gray": folder / "street-1920.png", "reference": folder / "street-today.png"}
    Image.fromarray(rgb[:, :CROP]).convert("L").save(paths["gray"])
    Image.fromarray(np.ascontiguousarray(rgb[:, WIDTH - CROP :])).save(paths["reference"])
    return paths


def test_a_reference_chosen_on_the_page_colors_the_shared_part_and_shows_where(browser, server, scene):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(server.url + "/")
    expect(page.locator("#model-status")).to_contain_text("Model:")
    page.set_input_files("#file", str(scene["gray"]))
    expect(page.locator("body")).to_have_attribute("data-state", "done")
    expect(page.locator("#reference-overlay")).to_be_disabled()  # nothing to show without a reference
    automatic = page.evaluate(SHARED_GREENNESS, SHARED_COLUMNS)

    page.set_input_files("#reference-file", str(scene["reference"]))
    expect(page.locator("#reference-name")).to_have_text("street-today.png")
    expect(page.locator("#info")).to_contain_text("colored from the reference")
    expect(page.locator("body")).to_have_attribute("data-state", "done")
    with_reference = page.evaluate(SHARED_GREENNESS, SHARED_COLUMNS)
    assert with_reference > automatic + 20, (automatic, with_reference)
    coverage = int(page.locator("#info").inner_text().split("% colored")[0].rsplit("·", 1)[1])
    assert 20 <= coverage <= 80, coverage

    map_ = page.locator("#reference-map")
    expect(map_).to_be_hidden()
    page.check("#reference-overlay")
    expect(map_).to_be_visible()
    assert page.evaluate("() => document.getElementById('reference-map').naturalWidth") > 0
    page.uncheck("#reference-overlay")
    expect(map_).to_be_hidden()

    page.click("#reference-remove")  # back to the automatic colors
    expect(page.locator("#info")).not_to_contain_text("from the reference")
    expect(page.locator("#reference-overlay")).to_be_disabled()
    context.close()
