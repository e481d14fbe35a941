"""`tinct colorize` outputs as a new user meets them: reruns with other settings, what is skipped
and why, `-o` naming a file, `--compare`, `-q` / `-v`, and the README's colorize examples."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tinct.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

README = Path(__file__).resolve().parents[1] / "README.md"


def gray_photo(path: Path, width: int = 48, height: int = 32, seed: int = 0) -> Path:
    """A gray photo with some structure (a ramp plus noise), saved to ``path``."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(30, 220, width)[None, :] + np.linspace(0, 30, height)[:, None]
    gray = np.clip(ramp + rng.normal(0, 12, (height, width)), 0, 255).astype(np.uint8)
    Image.fromarray(gray).save(path)
    return path


def chroma(path: Path) -> float:
    """Mean distance of each pixel from gray, in 8-bit levels."""
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    return float(np.abs(rgb - rgb.mean(axis=2, keepdims=True)).mean())


def recorded(path: Path) -> dict | None:
    """The settings recorded in an output (imported here, so that the tests collect on older code)."""
    from tinct.inference.provenance import read_settings

    return read_settings(path)


def no_model(*args, **kwargs):
    raise AssertionError("the model was loaded although no file needed it")


def colorize_once(tmp_path: Path, weights: Path, name: str) -> tuple[list[str], Path, bytes]:
    """Colorize a gray photo `name` into tmp_path/out → (the CLI args, the output, its bytes)."""
    src = gray_photo(tmp_path / name)
    args = ["colorize", str(src), "-o", str(tmp_path / "out"), "--model", str(weights), "--size", "32"]
    assert main(args) == 0
    output = tmp_path / "out" / name
    return args, output, output.read_bytes()


def test_rerun_skips_up_to_date_outputs_without_loading_the_model(tmp_path, weights, capsys, monkeypatch):
    args, output, first = colorize_once(tmp_path, weights, "old.jpg")
    capsys.readouterr()

    monkeypatch.setattr("tinct.inference.Colorizer.load", no_model)
    assert main(args) == 0

    captured = capsys.readouterr()
    assert output.read_bytes() == first
    assert "colorized 0, skipped 1, failed 0" in captured.out
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and str(output) in lines[0] and "up to date" in lines[0], lines


@pytest.mark.parametrize("change", [["--vividness", "0.9"], ["--size", "64"]])
def test_rerun_with_other_settings_makes_the_output_again(tmp_path, weights, capsys, change):
    args, output, first = colorize_once(tmp_path, weights, "old.png")
    before = recorded(output)

    assert main([*args, *change]) == 0

    assert "colorized 1, skipped 0, failed 0" in capsys.readouterr().out
    assert output.read_bytes() != first
    assert recorded(output) != before


def test_a_file_tinct_did_not_write_is_skipped_with_the_reason(tmp_path, weights, capsys):
    src = gray_photo(tmp_path / "old.png")
    (tmp_path / "out").mkdir()
    Image.new("RGB", (5, 5), (1, 2, 3)).save(tmp_path / "out" / "old.png")
    before = (tmp_path / "out" / "old.png").read_bytes()

    assert main(["colorize", str(src), "-o", str(tmp_path / "out"), "--model", str(weights), "--size", "32"]) == 0

    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert (tmp_path / "out" / "old.png").read_bytes() == before
    assert len(err) == 1 and "old.png" in err[0] and "--overwrite" in err[0], err


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tiff"])
def test_settings_are_recorded_in_every_output_format(tmp_path, weights, suffix):
    src = gray_photo(tmp_path / "old.png")
    dst = tmp_path / f"colored{suffix}"

    assert main(["colorize", str(src), "-o", str(dst), "--model", str(weights), "--vividness", "0.7"]) == 0

    found = recorded(dst)
    assert found is not None and found["vividness"] == 0.7 and found["hints"] == []


def test_dash_o_names_a_file_for_one_photo(tmp_path, weights, capsys):
    src = gray_photo(tmp_path / "old.jpg", 40, 30)

    assert main(["colorize", str(src), "-o", str(tmp_path / "colored.png"), "--model", str(weights)]) == 0

    assert (tmp_path / "colored.png").is_file()
    with Image.open(tmp_path / "colored.png") as img:
        assert img.format == "PNG" and img.size == (40, 30)
    assert "colorized 1" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda t: [t / "old.jpg", "-o", t / "old.jpg"], "is the input itself"),
        (lambda t: [t / "old.jpg", t / "two.jpg", "-o", t / "colored.jpg"], "2 inputs need an output folder"),
        (lambda t: [t, "-o", t / "colored.jpg"], "need an output folder"),
        (lambda t: [t / "old.jpg", t / "two.jpg", "-o", t / "notes.txt"], "names an existing file"),
        (lambda t: [t / "old.jpg", "-o", t / "colored.mp4"], "cannot write a photo as .mp4"),
        (lambda t: [t / "old.jpg", "-o", t / "colored.gif"], "cannot write a photo as .gif"),
        (lambda t: [t / "old.jpg", "-o", t / "colored.jpg", "--format", "png"], "disagree"),
    ],
)
def test_dash_o_mistakes_are_one_line_errors_before_any_work(tmp_path, capsys, monkeypatch, make_args, message):
    gray_photo(tmp_path / "old.jpg")
    gray_photo(tmp_path / "two.jpg", seed=1)
    (tmp_path / "notes.txt").write_text("mine")
    before = sorted(p.name for p in tmp_path.iterdir())
    monkeypatch.setattr("tinct.inference.Colorizer.load", no_model)

    code = main(["colorize", *map(str, make_args(tmp_path))])

    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1 and message in err[0] and "-o " in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_compare_writes_gray_beside_the_colorization(tmp_path, weights):
    src = gray_photo(tmp_path / "old.png", 40, 30)
    out = tmp_path / "out"

    assert main(["colorize", str(src), "-o", str(out), "--model", str(weights), "--compare"]) == 0

    pair = np.asarray(Image.open(out / "old.compare.png").convert("RGB"))
    color = np.asarray(Image.open(out / "old.png").convert("RGB"))
    assert pair.shape == (30, 80, 3)
    left, right = pair[:, :40], pair[:, 40:]
    assert np.array_equal(right, color)
    assert (left[..., 0] == left[..., 1]).all() and (left[..., 1] == left[..., 2]).all()
    assert np.abs(left[..., 0].astype(int) - np.asarray(Image.open(src), dtype=int)).max() <= 1


def test_compare_on_a_film_writes_a_side_by_side_film(tmp_path, weights):
    pytest.importorskip("av")
    from tests.videos import clip_frames, read_frames, write_clip

    film = write_clip(tmp_path / "film.mp4", clip_frames(64, 48, 6))
    out = tmp_path / "out"

    assert main(["colorize", str(film), "-o", str(out), "--model", str(weights), "--compare"]) == 0

    frames = read_frames(out / "film.compare.mp4")
    assert len(frames) == 6 and frames[0].shape == (48, 128, 3)
    assert recorded(out / "film.mp4") is not None


def test_quiet_prints_nothing_and_verbose_says_what_ran(tmp_path, weights, capsys):
    src = gray_photo(tmp_path / "old.png")
    args = ["colorize", str(src), "-o", str(tmp_path / "out"), "--model", str(weights), "--backend", "torch"]

    assert main([*args, "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""

    assert main([*args, "--overwrite", "-v"]) == 0
    err = capsys.readouterr().err
    assert "backend torch" in err and str(weights) in err and "old.png ->" in err, err


def _readme_colorize_commands() -> list[str]:
    """The commands of README's `### colorize` code block, in order."""
    text = README.read_text()
    section = text.split("### colorize", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.splitlines() if line.startswith("tinct colorize")]


def _args(command: str) -> list[str]:
    # Comments start with "  #"; hint colors (#c03020) stay, being part of an argument.
    return re.split(r"\s+#", command)[0].split()[1:]


def test_readme_colorize_examples_in_order_each_change_what_they_should(tmp_path, weights, monkeypatch, capsys):
    """Run the README's colorize block as written, in a folder holding the files it names, on a
    fresh output folder; each line must change what it says it changes."""
    from tests.videos import clip_frames, write_clip

    lines = _readme_colorize_commands()
    assert len(lines) >= 6, lines
    monkeypatch.chdir(tmp_path)
    gray_photo(tmp_path / "old.jpg", 480, 360)
    (tmp_path / "scans" / "box").mkdir(parents=True)
    gray_photo(tmp_path / "scans" / "a.jpg", seed=1)
    gray_photo(tmp_path / "scans" / "box" / "b.tif", seed=2)
    (tmp_path / "runs" / "default" / "checkpoints").mkdir(parents=True)
    (tmp_path / "runs" / "default" / "checkpoints" / "best.safetensors").write_bytes(weights.read_bytes())
    write_clip(tmp_path / "film.mp4", clip_frames(64, 48, 4))
    out = tmp_path / "out"
    seen: dict[str, bytes] = {}
    chroma_before = None  # of out/old.jpg after the previous line that wrote it

    def run(line: str) -> str:
        code = main(_args(line))
        captured = capsys.readouterr()
        assert code == 0, (line, captured.err)
        return captured.out

    for line in lines:
        previous = (out / "old.jpg").read_bytes() if (out / "old.jpg").exists() else None
        printed = run(line)
        assert f"colorized {2 if 'scans/' in line else 1}, skipped 0, failed 0" in printed, (line, printed)
        if "scans/" in line:
            assert (out / "a.png").is_file() and (out / "box" / "b.png").is_file(), line
            assert (out / "old.jpg").read_bytes() == previous, "a folder run must not touch old.jpg"
            continue
        if "film.mp4" in line:
            assert recorded(out / "film.mp4") is not None, line
            continue
        if "-o colored.png" in line:
            assert (tmp_path / "colored.png").is_file() and (tmp_path / "colored.compare.png").is_file(), line
            assert (out / "old.jpg").read_bytes() == previous, "a run into a file must not touch out/"
            continue
        current = (out / "old.jpg").read_bytes()
        assert current != previous, f"{line!r} left out/old.jpg as it was"
        settings = recorded(out / "old.jpg")
        if "--vividness" in line:
            assert settings["vividness"] == 1.0
            assert chroma_before is not None and chroma(out / "old.jpg") > chroma_before, line
        if "--hint" in line:
            assert len(settings["hints"]) == 2
            r, g, b = np.asarray(Image.open(out / "old.jpg").convert("RGB"))[80, 120].astype(int)
            assert r > g and r > b, f"{line!r}: no red at the first hint"
        if "--model" in line:
            from tinct.inference.provenance import describe

            assert settings["weights"] == describe(weights)["weights"]
        chroma_before = chroma(out / "old.jpg")
        seen[line] = current
    assert len(seen) >= 4


def test_describe_request_names_the_file_a_model_value_means(tmp_path, weights):
    from tinct.inference.lookup import BUNDLED_WEIGHTS_DIR
    from tinct.inference.provenance import describe, describe_request

    assert describe_request(str(weights), size=64, hints=[(1, 2, "#ffffff")]) == describe(
        weights, size=64, hints=[(1, 2, "#ffffff")]
    )
    assert describe_request()["weights"] == describe(BUNDLED_WEIGHTS_DIR / "default.safetensors")["weights"]
    with_arch = describe_request("eccv16", weights=weights)
    assert with_arch["architecture"] == "eccv16" and with_arch["weights"] == describe(weights)["weights"]
    for option in ("weights", "onnx"):
        with pytest.raises(FileNotFoundError, match=f"^--{option} .*missing.x: no such file$"):
            describe_request("eccv16", **{option: tmp_path / "missing.x"})
    with pytest.raises(FileNotFoundError):
        describe_request(str(tmp_path / "nope.safetensors"))


def test_colorize_help_has_no_broken_lines(capsys):
    with pytest.raises(SystemExit):
        main(["colorize", "--help"])
    text = capsys.readouterr().out
    description = text.split("\n\n", 1)[1].split("positional arguments:", 1)[0]
    for paragraph in description.split("\n\n"):
        lines = paragraph.strip().splitlines()
        # Only a paragraph's last line may be short: a short one inside it is a broken line.
        assert all(len(line) > 60 for line in lines[:-1]), paragraph
    assert "TINCT_CACHE_DIR" in text


def test_a_single_file_shows_no_bar_of_files(tmp_path, weights, monkeypatch):
    """A film's own bar counts its frames; a bar of one file only said "35.09s/image"."""
    import tinct.batch as batch

    bars = []
    real = batch.tqdm

    def spy(*args, **kwargs):
        bars.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(batch, "tqdm", spy)
    src = gray_photo(tmp_path / "old.png")
    assert main(["colorize", str(src), "-o", str(tmp_path / "out"), "--model", str(weights)]) == 0
    assert bars and bars[0]["disable"] is True and bars[0]["unit"] != "image"
