"""The Python API a new user finds: `from tinct import Colorizer`, PIL in → PIL out, the README's block."""

from __future__ import annotations

import pydoc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tinct

pytestmark = pytest.mark.usefixtures("one_torch_thread")

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def colorizer(weights):
    return tinct.Colorizer.load(weights, backend="torch")


def gray(width: int = 40, height: int = 30) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (height, width), dtype=np.uint8)


def test_the_package_exports_the_colorizer_and_help_lists_it():
    from tinct import Colorizer, colorize_paths  # noqa: F401

    assert {"Colorizer", "colorize_paths", "__version__"} <= set(tinct.__all__)
    text = pydoc.render_doc(tinct, renderer=pydoc.plaintext)
    classes = text.split("CLASSES", 1)[1].split("FUNCTIONS", 1)[0]
    assert "class Colorizer" in classes
    assert "from tinct import Colorizer" in text


def test_a_pil_image_comes_back_as_a_pil_image_of_its_size(colorizer):
    photo = Image.fromarray(gray())

    out = colorizer.colorize(photo)

    assert isinstance(out, Image.Image) and out.mode == "RGB" and out.size == (40, 30)
    assert np.array_equal(np.asarray(out), colorizer.colorize(gray()))


def test_a_pil_image_with_alpha_keeps_its_alpha(colorizer):
    rgba = Image.fromarray(np.stack([gray()] * 3 + [np.full((30, 40), 200, np.uint8)], axis=-1), "RGBA")

    out = colorizer.colorize(rgba)

    assert out.mode == "RGBA" and np.array_equal(np.asarray(out)[..., 3], np.full((30, 40), 200))


def test_a_sixteen_bit_pil_image_reads_as_its_file_does(colorizer, tmp_path):
    deep = Image.fromarray(gray().astype(np.uint16) * 257)
    assert deep.mode.startswith("I;16")
    deep.save(tmp_path / "deep.png")

    assert np.array_equal(np.asarray(colorizer.colorize(deep)), colorizer.colorize(tmp_path / "deep.png"))


def test_an_array_comes_back_as_an_array(colorizer):
    out = colorizer.colorize(gray())

    assert isinstance(out, np.ndarray) and out.shape == (30, 40, 3) and out.dtype == np.uint8


def test_the_readme_python_block_runs(tmp_path, monkeypatch):
    text = README.read_text()
    block = text.split("## Python", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    Image.fromarray(gray(200, 120)).save(tmp_path / "old.jpg")
    namespace: dict = {}

    exec(compile(block, "README.md", "exec"), namespace)

    assert "from tinct import Colorizer" in block
    assert (tmp_path / "colored.jpg").is_file()
    with Image.open(tmp_path / "colored.jpg") as img:
        assert img.size == (200, 120)
