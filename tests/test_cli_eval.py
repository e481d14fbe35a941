"""`tinct eval` and tinct.metrics.evaluate: tables, CSVs, grid, the gray baseline, failures."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch
from PIL import Image

from tinct.cli import main
from tinct.inference import image_lightness
from tinct.metrics.evaluate import evaluate_models, gray_version, write_results
from tinct.models import create_model
from tinct.models.loading import save_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def color_photo(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    phase = rng.uniform(0, 2 * np.pi, 3)
    rgb = np.stack([0.5 + 0.4 * np.sin(5 * x + 3 * y * (c + 1) + phase[c]) for c in range(3)], axis=-1)
    return (rgb * 255).round().astype(np.uint8)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_eval_two_weights_files(tmp_path, capsys):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    Image.fromarray(color_photo(48, 36, 0)).save(data / "p0.png")
    Image.fromarray(color_photo(30, 40, 1)).save(data / "sub" / "p1.jpg", quality=95)
    torch.manual_seed(0)
    # Same file name in two folders: the table must still tell them apart.
    save_model(tmp_path / "a" / "model.safetensors", create_model("unet", decoder_channels=(8, 8, 8, 8)))
    regression = create_model("unet", decoder_channels=(8, 8, 8, 8), head="regression")
    save_model(tmp_path / "b" / "model.safetensors", regression)
    out = tmp_path / "eval"

    code = main(
        [
            "eval", str(data), "--out", str(out), "--size", "32",
            "--model", str(tmp_path / "a" / "model.safetensors"),
            "--model", str(tmp_path / "b" / "model.safetensors"),
        ]
    )  # fmt: skip

    captured = capsys.readouterr()
    assert code == 0, captured.err
    table = captured.out.splitlines()
    assert table[0].split()[:3] == ["model", "images", "PSNR"]
    assert [line.split()[0] for line in table[1:4]] == ["gray", "a/model", "b/model"]
    assert table[1].split()[1] == "2"
    rows = read_csv(out / "per_image.csv")
    assert len(rows) == 2 * 3
    assert {r["image"] for r in rows} == {"p0.png", "sub/p1.jpg"}
    assert list(rows[0]) == [
        "image",
        "model",
        "psnr",
        "ssim",
        "colorfulness",
        "colorfulness_truth",
        "ciede2000",
        "cast_a",
        "cast_b",
    ]
    gray_rows = [r for r in rows if r["model"] == "gray"]
    assert all(float(r["colorfulness"]) < 1.0 < float(r["colorfulness_truth"]) for r in gray_rows)
    summary = read_csv(out / "summary.csv")
    assert [r["model"] for r in summary] == ["gray", "a/model", "b/model"]
    assert math.isclose(float(summary[0]["psnr"]), np.mean([float(r["psnr"]) for r in gray_rows]), rel_tol=1e-4)
    assert (out / "summary.md").read_text().startswith("| model | images | PSNR (dB) ↑")
    grid = Image.open(out / "grid.jpg")
    assert grid.height == 22 + 2 * 192 and grid.width % 4 == 0  # 2 photos; truth, gray, 2 models


class _Identity:
    """A stand-in colorizer: returns its (gray) input unchanged."""

    def colorize(self, image, vividness=None):
        return image


def test_evaluate_models_api_skips_unreadable_and_small(tmp_path):
    big, tiny = color_photo(40, 30, 3), color_photo(8, 6, 4)  # tiny: below the SSIM window
    errors = []

    results = evaluate_models(
        [big, tmp_path / "missing.png", tiny],
        {"same": _Identity()},
        names=["big", "missing", "tiny"],
        grid_rows=1,
        thumb_height=16,
        on_error=errors.append,
    )

    assert errors == results.failed and len(errors) == 1 and "missing.png: no such file" in errors[0]
    assert results.num_images == 2 and results.models == ["gray", "same"]
    gray, same = results.summary()
    assert gray["images"] == 2 and not math.isnan(gray["ssim"])  # NaN SSIM of the tiny image left out
    assert gray["psnr"] == same["psnr"] and gray["colorfulness"] < 1.0
    assert results.grid.shape[0] == 22 + 16
    written = write_results(results, tmp_path / "out")
    assert sorted(written) == ["grid.jpg", "per_image.csv", "summary.csv", "summary.md"]
    assert "gray" in results.format_table()


def test_gray_version_keeps_lightness():
    rgb = color_photo(20, 10, 5)
    gray = gray_version(rgb)
    assert np.array_equal(gray[..., 0], gray[..., 2])
    assert np.abs(image_lightness(gray) - image_lightness(rgb)).max() <= 1.0


def test_eval_reports_unreadable_photo(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    Image.fromarray(color_photo(16, 16, 0)).save(tmp_path / "data" / "ok.png")
    (tmp_path / "data" / "bad.jpg").write_bytes(b"not an image")
    torch.manual_seed(0)
    save_model(tmp_path / "m.safetensors", create_model("unet", decoder_channels=(8, 8, 8, 8), head="regression"))

    code = main(
        [
            "eval",
            str(tmp_path / "data"),
            "--model",
            str(tmp_path / "m.safetensors"),
            "--out",
            str(tmp_path / "o"),
        ]
    )

    captured = capsys.readouterr()
    assert code == 1
    assert sum("bad.jpg" in line for line in captured.err.splitlines()) == 1
    assert (tmp_path / "o" / "per_image.csv").exists()
