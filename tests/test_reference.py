"""Color from a reference photo (tinct.inference.reference): a reference of the same scene moves
the colors toward its own where the two overlap and leaves far, unmatched regions alone; an
unrelated reference changes nothing; a gray or corrupt reference is one line naming it; the ONNX
Runtime path stays torch-free."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tinct.cli import main
from tinct.color.rgb8 import lightness_chroma_to_rgb_uint8, srgb8_to_lab
from tinct.inference import Colorizer
from tinct.inference.colorizer import image_lightness
from tinct.inference.reference import ReferenceError, load_reference, match_reference
from tinct.models import create_model

from .test_startup import _run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WIDTH, HEIGHT, CROP = 240, 140, 160  # target = columns [0, 160), reference = [80, 240)
#: The one color of the scene: a strong green no untrained model predicts by chance.
SCENE_AB = (-45.0, 35.0)


def textured_scene(seed: int = 0, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """(H, W, 3) uint8: random blobs at two scales (texture to match on), all of one hue."""
    rng = np.random.default_rng(seed)
    L = np.zeros((height, width), np.float32)
    for scale in (6, 18):
        noise = rng.uniform(0, 1, (height // scale + 2, width // scale + 2)).astype(np.float32)
        L += np.asarray(Image.fromarray(noise).resize((width + 2 * scale, height + 2 * scale), Image.BICUBIC))[
            scale : scale + height, scale : scale + width
        ]
    L = 25 + 50 * (L - L.min()) / (L.max() - L.min())
    ab = np.broadcast_to(np.array(SCENE_AB, np.float32)[:, None, None], (2, height, width))
    return lightness_chroma_to_rgb_uint8(L, ab)


@pytest.fixture(scope="module")
def colorizer() -> Colorizer:
    torch.manual_seed(0)
    return Colorizer(create_model("unet", hints=True, decoder_channels=(8, 8, 8, 8)), size=128)


def ab_of(rgb: np.ndarray) -> np.ndarray:
    return srgb8_to_lab(rgb)[..., 1:]


def test_a_matching_reference_moves_colors_toward_it_where_the_scenes_agree(colorizer):
    scene = textured_scene()
    target, reference = scene[:, :CROP], scene[:, WIDTH - CROP :]
    auto = colorizer.colorize(target)
    with_ref = colorizer.colorize(target, reference=reference)
    truth = np.array(SCENE_AB)
    # Deep inside the part both show (columns 80..160 of the target), away from its border.
    shared = (slice(10, -10), slice(WIDTH - CROP + 15, CROP - 5))
    err_auto = np.linalg.norm(ab_of(auto[shared]) - truth, axis=-1).mean()
    err_ref = np.linalg.norm(ab_of(with_ref[shared]) - truth, axis=-1).mean()
    assert err_ref < 0.4 * err_auto, (err_ref, err_auto)
    # Far from it (the first 40 columns: only the target shows them) nothing changes.
    far = (slice(None), slice(0, 40))
    assert np.abs(with_ref[far].astype(int) - auto[far]).max() <= 1
    # The output keeps the target's size and lightness.
    assert with_ref.shape == target.shape
    assert np.abs(image_lightness(with_ref) - image_lightness(target)).max() < 1.0


def test_an_unrelated_reference_changes_nothing(colorizer):
    target = textured_scene(seed=1)[:, :CROP]
    unrelated = textured_scene(seed=2)
    L_small = colorizer.working_lightness(image_lightness(target))
    assert match_reference(load_reference(unrelated), L_small).matches == 0
    np.testing.assert_array_equal(colorizer.colorize(target, reference=unrelated), colorizer.colorize(target))


def test_hints_win_over_the_reference_and_vividness_still_applies(colorizer):
    scene = textured_scene()
    target, reference = scene[:, :CROP], scene[:, WIDTH - CROP :]
    hinted = colorizer.colorize(target, reference=reference, hints=[(120, 70, (200, 30, 30))])
    hint_ab = srgb8_to_lab(np.array([200, 30, 30]))[1:]
    assert np.linalg.norm(ab_of(hinted[70, 120]) - hint_ab) < np.linalg.norm(np.array(SCENE_AB) - hint_ab) / 2
    dull = colorizer.colorize(target, reference=reference, vividness=0.0)
    assert not np.array_equal(dull, colorizer.colorize(target, reference=reference, vividness=1.0))


def test_several_references_the_best_matching_one_colors(colorizer):
    scene = textured_scene()
    target, reference = scene[:, :CROP], scene[:, WIDTH - CROP :]
    alone = colorizer.colorize(target, reference=reference)
    both = colorizer.colorize(target, reference=[textured_scene(seed=5), reference])
    np.testing.assert_array_equal(both, alone)


def test_a_gray_reference_is_one_line_naming_it(tmp_path, colorizer):
    gray = tmp_path / "gray-ref.png"
    Image.fromarray(np.full((40, 60), 128, np.uint8)).save(gray)
    with pytest.raises(ReferenceError, match=r"gray-ref\.png: the reference is gray") as err:
        colorizer.colorize(textured_scene()[:, :CROP], reference=gray)
    assert "\n" not in str(err.value)
    rgb_gray = np.repeat(np.arange(60, dtype=np.uint8)[None, :, None], 40, axis=0).repeat(3, axis=2)
    with pytest.raises(ReferenceError, match="reference: the reference is gray"):
        load_reference(rgb_gray)


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_cli_rejects_a_gray_or_corrupt_reference_in_one_line(tmp_path, capsys, content):
    Image.fromarray(textured_scene()[:, :CROP]).convert("L").save(tmp_path / "target.png")
    bad = tmp_path / "ref.png"
    bad.write_bytes(content)
    rc = main(["colorize", str(tmp_path / "target.png"), "-o", str(tmp_path / "out"), "--reference", str(bad)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "ref.png" in err, err
    assert not (tmp_path / "out").exists()  # it fails before anything is written


def test_cli_reference_applies_to_every_photo_of_a_folder(tmp_path, weights):
    scene = textured_scene()
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(scene[:, :CROP]).convert("L").save(folder / f"p{i}.png")
    Image.fromarray(scene[:, WIDTH - CROP :]).save(tmp_path / "ref.png")
    args = ["colorize", str(folder), "--model", str(weights), "--backend", "torch"]
    assert main([*args, "-o", str(tmp_path / "auto")]) == 0
    assert main([*args, "-o", str(tmp_path / "ref"), "--reference", str(tmp_path / "ref.png")]) == 0
    truth = np.array(SCENE_AB)
    shared = (slice(10, -10), slice(WIDTH - CROP + 15, CROP - 5))
    for i in range(2):
        auto = np.asarray(Image.open(tmp_path / "auto" / f"p{i}.png"))
        ref = np.asarray(Image.open(tmp_path / "ref" / f"p{i}.png"))
        err_auto = np.linalg.norm(ab_of(auto[shared]) - truth, axis=-1).mean()
        err_ref = np.linalg.norm(ab_of(ref[shared]) - truth, axis=-1).mean()
        assert err_ref < 0.5 * err_auto, (i, err_ref, err_auto)


@pytest.mark.slow
def test_the_onnx_runtime_path_with_a_reference_does_not_import_torch(weights, tmp_path):
    pytest.importorskip("onnxruntime")
    cache = tmp_path / "cache"
    scene = textured_scene()
    Image.fromarray(scene[:, :CROP]).convert("L").save(tmp_path / "gray.png")
    Image.fromarray(scene[:, WIDTH - CROP :]).save(tmp_path / "ref.png")
    Colorizer.load(weights, backend="onnxruntime")  # fills no cache: the subprocess has its own
    cli = f"""
        import sys
        from tinct.cli import main
        rc = main(["colorize", "gray.png", "-o", "out", "--overwrite", "--model", {str(weights)!r},
                   "--reference", "ref.png", "--backend", "onnxruntime"])
        print("rc", rc, "torch" in sys.modules)
    """
    first = _run(cli, cache, tmp_path)  # exports into the cache: torch is needed once
    assert "rc 0" in first.stdout, first.stderr
    second = _run(cli, cache, tmp_path)
    assert "rc 0 False" in second.stdout, second.stderr


def moving_clip_frames(frames: int = 12) -> list[np.ndarray]:
    """A static camera on the scene's left part, with a little sensor noise per frame (L* jitter),
    so the temporal filter has flicker to hold still."""
    scene = textured_scene()[:, :CROP]
    rng = np.random.default_rng(3)
    return [np.clip(scene.astype(int) + rng.integers(-2, 3, scene.shape[:2])[..., None], 0, 255).astype(np.uint8)
            for _ in range(frames)]


def test_a_films_reference_track_holds_the_weights_still_and_starts_over_at_a_cut(colorizer):
    from tinct.inference.reference import load_references, match_best
    from tinct.video.temporal import ReferenceTrack

    references = load_references(textured_scene()[:, WIDTH - CROP :])
    track = ReferenceTrack(references)
    fresh, held = [], []
    for frame in moving_clip_frames():
        L_small = colorizer.working_lightness(image_lightness(frame))
        fresh.append(match_best(references, L_small).weight)
        held.append(track.match(L_small).weight)
    jumps = [np.abs(np.diff(np.array(w), axis=0)).mean() for w in (fresh, held)]
    assert jumps[1] < 0.5 * jumps[0], jumps  # the matches come and go; the track's weight does not
    assert abs(np.mean(held) - np.mean(fresh)) < 0.1  # ... and covers about as much
    unrelated = colorizer.working_lightness(image_lightness(textured_scene(seed=2)[:, :CROP]))
    assert track.match(unrelated).weight.max() < 0.05  # nothing carried into another shot


@pytest.mark.slow
def test_a_film_takes_the_references_colors_and_holds_them_still(colorizer, tmp_path, weights):
    pytest.importorskip("av")
    from tinct.io.video import VideoReader
    from tinct.video.evaluate import evaluate_video

    from .videos import write_clip

    clip = write_clip(tmp_path / "film.mp4", moving_clip_frames())
    reference = textured_scene()[:, WIDTH - CROP :]
    auto = evaluate_video(colorizer, clip)
    with_ref = evaluate_video(colorizer, clip, reference=reference)
    assert with_ref["de00_tinct"] < 0.8 * auto["de00_tinct"], (with_ref, auto)
    assert with_ref["flicker_tinct"] <= auto["flicker_tinct"] * 1.1 + 0.05, (with_ref, auto)
    # Through `tinct colorize film.mp4 --reference frame.png`, like a photo.
    Image.fromarray(np.ascontiguousarray(reference)).save(tmp_path / "frame.png")
    args = ["colorize", str(clip), "--model", str(weights), "--backend", "torch"]
    assert main([*args, "-o", str(tmp_path / "auto")]) == 0
    assert main([*args, "-o", str(tmp_path / "ref"), "--reference", str(tmp_path / "frame.png")]) == 0
    shared = (slice(10, -10), slice(WIDTH - CROP + 15, CROP - 5))
    errors = []
    for out in ("auto", "ref"):
        with VideoReader(tmp_path / out / "film.mp4") as reader:
            last = [frame.to_ndarray(format="rgb24") for frame in reader][-1]
        errors.append(np.linalg.norm(ab_of(last[shared]) - np.array(SCENE_AB), axis=-1).mean())
    assert errors[1] < 0.5 * errors[0], errors


def test_a_rerun_with_a_reference_remakes_an_output_made_without(tmp_path, weights, capsys):
    scene = textured_scene()
    Image.fromarray(scene[:, :CROP]).convert("L").save(tmp_path / "p.png")
    Image.fromarray(scene[:, WIDTH - CROP :]).save(tmp_path / "ref.png")
    args = ["colorize", str(tmp_path / "p.png"), "-o", str(tmp_path / "out"), "--model", str(weights)]
    assert main([*args, "--backend", "torch"]) == 0
    before = np.asarray(Image.open(tmp_path / "out" / "p.png"))
    assert main([*args, "--backend", "torch", "--reference", str(tmp_path / "ref.png")]) == 0
    after = np.asarray(Image.open(tmp_path / "out" / "p.png"))
    assert not np.array_equal(before, after)  # made again, not skipped as up to date
    capsys.readouterr()
    assert main([*args, "--backend", "torch", "--reference", str(tmp_path / "ref.png")]) == 0
    assert "skipped 1" in capsys.readouterr().out  # the same reference again: up to date


def test_a_model_without_hint_input_takes_the_reference_too():
    torch.manual_seed(0)
    seed = Colorizer(create_model("seed"))  # no hint input, a fixed 128×128 working size
    scene = textured_scene()
    target, reference = scene[:, :CROP], scene[:, WIDTH - CROP :]
    shared = (slice(10, -10), slice(WIDTH - CROP + 15, CROP - 5))
    errors = [
        np.linalg.norm(ab_of(out[shared]) - np.array(SCENE_AB), axis=-1).mean()
        for out in (seed.colorize(target), seed.colorize(target, reference=reference))
    ]
    assert errors[1] < 0.4 * errors[0], errors
