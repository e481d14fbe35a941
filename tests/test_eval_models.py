"""What `tinct eval` makes of its --model, --weights and --hints values (tinct.metrics.evaluate)."""

from __future__ import annotations

import pytest

from tinct.metrics.evaluate import model_labels, pair_weights, parse_hint_counts


def test_labels_are_short_and_unique():
    specs = ["runs/a/checkpoints/best.safetensors", "runs/b/checkpoints/best.safetensors", "default", "x/seed.pth"]
    assert model_labels(specs) == ["a/checkpoints/best", "b/checkpoints/best", "default", "seed"]
    assert model_labels(["/abs/m.pt"]) == ["m"]


def test_the_same_file_twice_or_one_named_gray_is_numbered():
    assert model_labels(["m.safetensors", "m.safetensors"]) == ["m", "m (2)"]
    assert model_labels(["w/gray.safetensors", "default"]) == ["gray (1)", "default"]  # gray: the baseline


def test_each_weights_file_goes_with_an_architecture_in_order():
    models = ["default", "eccv16", "my.safetensors", "siggraph17"]
    assert pair_weights(models, ["e.pth", "s.pth"]) == [None, "e.pth", None, "s.pth"]
    assert pair_weights(models, []) == [None] * 4
    with pytest.raises(ValueError, match="got 1 file\\(s\\) for 2 --model value\\(s\\) naming an architecture"):
        pair_weights(models, ["e.pth"])
    with pytest.raises(ValueError, match="--weights: got 1 file"):
        pair_weights(["default"], ["e.pth"])


@pytest.mark.parametrize(("text", "counts"), [("0,1,2,5", [0, 1, 2, 5]), ("3", [3]), (" 4, 8", [4, 8])])
def test_hint_counts(text, counts):
    assert parse_hint_counts(text) == counts


@pytest.mark.parametrize("text", ["", "1,,2", "a", "1,-2", "1.5"])
def test_bad_hint_counts_are_one_line(text):
    with pytest.raises(ValueError, match="^--hints: expected hint counts >= 0 separated by commas"):
        parse_hint_counts(text)
