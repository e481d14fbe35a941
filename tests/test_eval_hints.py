"""Evaluation with simulated user hints: `sample_hints`, `evaluate_models(hint_counts=...)`, and
`tinct eval --hints 0,1,2,...` (table rows per N, CSV hints column, psnr_vs_hints.png)."""

from __future__ import annotations

import csv
import math
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from tinct.cli import main
from tinct.metrics import PSNR_MAX_DB
from tinct.metrics.evaluate import evaluate_models, sample_hints, write_results
from tinct.models import create_model
from tinct.models.loading import save_model

from .conftest import synthetic_photo

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------------------------------------
# sample_hints


def test_sample_hints_is_deterministic_nested_and_in_bounds():
    photo = synthetic_photo(0, 37, 23)
    many = sample_hints(photo, 50, seed=(7, 123))
    assert many == sample_hints(photo, 50, seed=(7, 123))
    for n in (0, 1, 2, 5, 10, 20):
        assert sample_hints(photo, n, seed=(7, 123)) == many[:n]  # N hints ⊂ the hints of larger N
    assert many != sample_hints(photo, 50, seed=(8, 123))
    positions = [(x, y) for x, y, _ in many]
    assert len(set(positions)) == 50  # no pixel twice
    assert all(0 <= x < 37 and 0 <= y < 23 and x == int(x) and y == int(y) for x, y in positions)


def test_sample_hints_positions_are_uniform():
    photo = np.zeros((40, 60, 3), dtype=np.uint8)
    xs, ys = zip(*[(x, y) for x, y, _ in sample_hints(photo, 1200, seed=1)], strict=True)
    # Each half of the image gets about half the hints (binomial, 1200 draws: sd ≈ 17).
    assert abs(sum(x < 30 for x in xs) - 600) < 80 and abs(sum(y < 20 for y in ys) - 600) < 80


def test_sample_hints_color_is_the_3x3_mean_of_the_truth():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    for x, y, color in sample_hints(photo, 99, seed=3):  # every pixel, corners included
        x, y = int(x), int(y)
        patch = photo[max(0, y - 1) : y + 2, max(0, x - 1) : x + 2].reshape(-1, 3).astype(float)
        assert np.abs(np.array(color) - patch.mean(axis=0)).max() <= 0.5
    assert len(sample_hints(photo, 500, seed=3)) == 99  # capped at the number of pixels
    flat = np.full((5, 5, 3), (200, 30, 90), dtype=np.uint8)
    assert sample_hints(flat, 1, patch=1)[0][2] == (200, 30, 90)


def test_sample_hints_rejects_bad_arguments():
    photo = np.zeros((4, 4, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="non-negative"):
        sample_hints(photo, -1)
    with pytest.raises(ValueError, match="odd"):
        sample_hints(photo, 1, patch=2)
    with pytest.raises(ValueError, match="uint8"):
        sample_hints(photo.astype(float), 1)


# ---------------------------------------------------------------------------------------------
# evaluate_models(hint_counts=...)


class FirstHintFill:
    """Stand-in hint model: paints the whole image with its first hint's color; records its hints."""

    accepts_hints = True

    def __init__(self):
        self.calls = []

    def colorize(self, image, hints=None, vividness=None):
        self.calls.append(list(hints or []))
        return np.broadcast_to(np.array(hints[0][2], np.uint8), image.shape).copy() if hints else image


class NoHints:
    def colorize(self, image, vividness=None):  # no `hints` argument at all, as before
        return image


def test_evaluate_with_hint_counts(tmp_path):
    flat = np.full((12, 16, 3), (200, 60, 30), dtype=np.uint8)  # one color: a single hint is exact
    photos = [flat, synthetic_photo(1, 20, 14)]
    fill = FirstHintFill()

    results = evaluate_models(
        photos, {"fill": fill, "plain": NoHints()}, names=["flat", "b"], hint_counts=[5, 0, 1, 5], progress=False
    )
    assert results.hint_counts == [0, 1, 5]
    assert results.entries == [("gray", None), ("fill", 0), ("fill", 1), ("fill", 5), ("plain", 0)]
    assert results.notes == ["plain takes no hints: evaluated at 0 hints only"]
    table = results.format_table().splitlines()
    assert [line.split("  ")[0].strip() for line in table[1:]] == [
        "gray", "fill @0 hints", "fill @1 hints", "fill @5 hints", "plain @0 hints",
    ]  # fmt: skip
    # Per photo: no hints, then the first 1, then the first 5 of the same sample, from that photo.
    assert [len(c) for c in fill.calls] == [0, 1, 5, 0, 1, 5]
    assert fill.calls[1] == fill.calls[2][:1] and fill.calls[4] == fill.calls[5][:1]
    assert fill.calls[2] == sample_hints(flat, 5, seed=(0, zlib.crc32(b"flat")))
    assert all(color == (200, 60, 30) for _, _, color in fill.calls[2])
    summary = {(e["model"], e["hints"]): e for e in results.summary()}
    assert summary[("gray", None)]["psnr"] == summary[("fill", 0)]["psnr"] == summary[("plain", 0)]["psnr"]
    flat_rows = {(r["model"], r["hints"]): r for r in results.rows if r["image"] == "flat"}
    assert flat_rows[("fill", 1)]["psnr"] == PSNR_MAX_DB  # the hint carried the true color

    again = FirstHintFill()
    evaluate_models(photos, {"fill": again}, names=["flat", "b"], hint_counts=[5], progress=False)
    assert again.calls == [fill.calls[2], fill.calls[5]]  # same photo name, same hints

    written = write_results(results, tmp_path)
    assert sorted(written) == ["grid.jpg", "per_image.csv", "psnr_vs_hints.png", "summary.csv", "summary.md"]
    rows = read_csv(tmp_path / "summary.csv")
    assert list(rows[0])[:3] == ["model", "hints", "images"]
    assert [(r["model"], r["hints"]) for r in rows] == [
        ("gray", ""), ("fill", "0"), ("fill", "1"), ("fill", "5"), ("plain", "0"),
    ]  # fmt: skip
    assert len(read_csv(tmp_path / "per_image.csv")) == 2 * 5
    assert Image.open(tmp_path / "psnr_vs_hints.png").size[0] > 100


def test_without_hint_counts_nothing_changes(tmp_path):
    results = evaluate_models([synthetic_photo(0, 16, 12)], {"fill": FirstHintFill()}, progress=False)
    assert results.hint_counts is None and results.notes == []
    assert [e["model"] for e in results.summary()] == ["gray", "fill"]
    assert "hints" not in results.rows[0] and "hints" not in results.summary()[0]
    written = write_results(results, tmp_path)
    assert "psnr_vs_hints.png" not in written
    assert list(read_csv(tmp_path / "summary.csv")[0])[:2] == ["model", "images"]


def test_bad_hint_counts():
    with pytest.raises(ValueError, match="non-negative integers"):
        evaluate_models([], {"x": NoHints()}, hint_counts=[1, -2])
    with pytest.raises(ValueError, match="non-negative integers"):
        evaluate_models([], {"x": NoHints()}, hint_counts=[])


# ---------------------------------------------------------------------------------------------
# tinct eval --hints


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    Image.fromarray(synthetic_photo(0, 40, 30)).save(folder / "p0.png")
    Image.fromarray(synthetic_photo(1, 24, 32)).save(folder / "p1.png")
    return folder


def test_eval_cli_with_hints(tmp_path, data, capsys):
    torch.manual_seed(0)
    hinted = create_model("unet", decoder_channels=(8, 8, 8, 8), hints=True, head="regression")
    with torch.no_grad():
        hinted.hint_stem.weight.normal_(0, 2.0)
    save_model(tmp_path / "hinted.safetensors", hinted)
    save_model(tmp_path / "plain.safetensors", create_model("unet", decoder_channels=(8, 8, 8, 8)))
    out = tmp_path / "eval"

    code = main(
        ["eval", str(data), "--out", str(out), "--size", "32", "--device", "cpu", "--hints", "0,1,5",
         "--model", str(tmp_path / "hinted.safetensors"), "--model", str(tmp_path / "plain.safetensors")]
    )  # fmt: skip

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "note: plain takes no hints: evaluated at 0 hints only" in captured.err
    labels = [line.split("  ")[0].strip() for line in captured.out.splitlines()[1:6]]
    assert labels == ["gray", "hinted @0 hints", "hinted @1 hints", "hinted @5 hints", "plain @0 hints"]
    summary = read_csv(out / "summary.csv")
    assert [(r["model"], r["hints"]) for r in summary][1:4] == [("hinted", "0"), ("hinted", "1"), ("hinted", "5")]
    assert all(r["images"] == "2" for r in summary)
    psnr = {r["hints"]: float(r["psnr"]) for r in summary if r["model"] == "hinted"}
    assert psnr["0"] != psnr["5"] and all(math.isfinite(v) for v in psnr.values())
    assert (out / "psnr_vs_hints.png").is_file() and (out / "grid.jpg").is_file()


def test_eval_cli_weights_for_an_architecture(tmp_path, data, capsys):
    torch.manual_seed(0)
    torch.save(create_model("unet", head="regression").state_dict(), tmp_path / "u.pth")
    args = ["eval", str(data), "--out", str(tmp_path / "o"), "--size", "32", "--device", "cpu", "--limit", "1"]

    # The architecture's default config (classification) does not fit a regression file: one line.
    assert main([*args, "--model", "unet", "--weights", str(tmp_path / "u.pth")]) == 2
    assert "u.pth: weights do not match" in capsys.readouterr().err
    assert main([*args, "--model", "unet", "--weights", "a.pth", "--weights", "b.pth"]) == 2
    assert "--weights: got 2 file(s) for 1 --model" in capsys.readouterr().err
    assert main([*args, "--model", "unet", "--hints", "0,x"]) == 2
    assert "--hints: expected hint counts" in capsys.readouterr().err

    torch.save(create_model("unet").state_dict(), tmp_path / "u.pth")
    assert main([*args, "--model", "unet", "--weights", str(tmp_path / "u.pth"), "--hints", "0,2"]) == 0
    assert "unet @0 hints" in capsys.readouterr().out
