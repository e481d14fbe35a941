"""Shared fixtures: small synthetic photo folders made on the fly (no committed binaries)."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _shared_photos() -> Path:
    """The team's photo set (train/ and val/): $TINCT_SHARED_PHOTOS, else ../shared/data/photos
    beside the checkout, else /work/shared/data/photos (where CI's clone may live elsewhere)."""
    if os.environ.get("TINCT_SHARED_PHOTOS"):
        return Path(os.environ["TINCT_SHARED_PHOTOS"])
    beside = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"
    return beside if beside.is_dir() else Path("/work/shared/data/photos")


SHARED_PHOTOS = _shared_photos()
VAL_PHOTOS = SHARED_PHOTOS / "val"

#: Tests of the shipped models on the team's real photos. Without the photo set they are skipped,
#: and the end of the run says so in a line of its own (not one "s" among hundreds of dots); with
#: TINCT_REQUIRE_PHOTOS=1 (CI, where the set must be there) they fail instead.
needs_photos = pytest.mark.skipif(
    not VAL_PHOTOS.is_dir() and not os.environ.get("TINCT_REQUIRE_PHOTOS"),
    reason=f"no photo set at {VAL_PHOTOS} (set TINCT_SHARED_PHOTOS)",
)


def pytest_terminal_summary(terminalreporter) -> None:
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if "no photo set at" in str(r.longrepr)]
    if skipped:
        terminalreporter.write_line(
            f"WARNING: {len(skipped)} tests of the shipped models on real photos did not run: no photo set at "
            f"{VAL_PHOTOS} (set TINCT_SHARED_PHOTOS; TINCT_REQUIRE_PHOTOS=1 makes this a failure)",
            yellow=True,
            bold=True,
        )


def synthetic_photo(seed: int, width: int = 96, height: int = 80) -> np.ndarray:
    """A colorful (H, W, 3) uint8 image: smooth color ramps plus a few blocks of flat color."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    phase = rng.uniform(0, 2 * np.pi, 3)
    rgb = np.stack([0.5 + 0.4 * np.sin(4 * x + 3 * y * (c + 1) + phase[c]) for c in range(3)], axis=-1)
    for _ in range(3):
        x0, y0 = rng.integers(0, width // 2), rng.integers(0, height // 2)
        rgb[y0 : y0 + height // 4, x0 : x0 + width // 4] = rng.uniform(0.1, 0.9, 3)
    return (rgb * 255).round().astype(np.uint8)


def write_photos(folder: Path, count: int, size=(96, 80), suffix=".png") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"photo_{i}{suffix}"
        Image.fromarray(synthetic_photo(i, *size)).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def photo_folder(tmp_path) -> Path:
    """Four synthetic color photos in tmp_path/photos, one of them in a subfolder."""
    folder = tmp_path / "photos"
    write_photos(folder, 3)
    write_photos(folder / "sub", 1)
    return folder


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tests with one torch thread. On shared or oversubscribed cores, OpenMP
    thread barriers make multi-threaded inference of tiny models 10-100x slower than one thread."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """A tiny untrained unet (classification head, no hints) saved as tinct weights."""
    import torch

    from tinct.models import create_model
    from tinct.models.loading import save_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_model(path, create_model("unet", decoder_channels=(8, 8, 8, 8)))
    return path


@pytest.fixture(autouse=True, scope="session")
def _onnx_cache_in_tmp(tmp_path_factory):
    """`tinct colorize` exports models to ONNX on first use (--backend auto): keep those files out
    of the user's ~/.cache."""
    old = os.environ.get("TINCT_CACHE_DIR")
    os.environ["TINCT_CACHE_DIR"] = str(tmp_path_factory.mktemp("tinct-cache"))
    yield
    if old is None:
        os.environ.pop("TINCT_CACHE_DIR", None)
    else:
        os.environ["TINCT_CACHE_DIR"] = old
