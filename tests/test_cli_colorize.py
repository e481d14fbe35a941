"""`tinct colorize` and tinct.colorize_paths: folders, failures, skipping, input safety."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tinct import BatchReport, colorize_paths
from tinct.cli import main
from tinct.inference import Colorizer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def nonblank(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_folder_with_a_corrupt_file(tmp_path, weights, capsys):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    photo(40, 30).save(src / "a.png")
    photo(33, 21, seed=1).save(src / "sub" / "b.jpg")
    (src / "bad.jpg").write_bytes(b"not an image")
    out = tmp_path / "out"

    code = main(["colorize", str(src), "-o", str(out), "--model", str(weights), "--size", "64"])

    captured = capsys.readouterr()
    assert code == 1
    assert Image.open(out / "a.png").size == (40, 30)
    assert Image.open(out / "sub" / "b.jpg").size == (33, 21)
    assert not (out / "bad.jpg").exists()
    errors = nonblank(captured.err)
    assert len(errors) == 1 and "bad.jpg" in errors[0] and "not an image" in errors[0]
    assert "colorized 2, skipped 0, failed 1" in captured.out


def test_existing_output_is_skipped_unless_overwrite(tmp_path, weights, capsys):
    photo(24, 16).save(tmp_path / "a.png")
    out = tmp_path / "out"
    args = ["colorize", str(tmp_path / "a.png"), "-o", str(out), "--model", str(weights), "--size", "32"]
    (out).mkdir()
    Image.new("RGB", (5, 5), (1, 2, 3)).save(out / "a.png")
    before = (out / "a.png").read_bytes()

    assert main(args) == 0
    assert (out / "a.png").read_bytes() == before
    assert "colorized 0, skipped 1, failed 0" in capsys.readouterr().out

    assert main([*args, "--overwrite"]) == 0
    assert Image.open(out / "a.png").size == (24, 16)
    assert "colorized 1, skipped 0, failed 0" in capsys.readouterr().out


@pytest.mark.parametrize("overwrite", [False, True])
def test_input_is_never_overwritten(tmp_path, weights, capsys, overwrite):
    photo(20, 12).save(tmp_path / "a.png")
    original = (tmp_path / "a.png").read_bytes()
    args = ["colorize", str(tmp_path), "-o", str(tmp_path), "--format", "png", "--model", str(weights)]

    code = main([*args, "--size", "32"] + (["--overwrite"] if overwrite else []))

    assert code == 1
    assert (tmp_path / "a.png").read_bytes() == original
    errors = nonblank(capsys.readouterr().err)
    assert len(errors) == 1 and "a.png" in errors[0] and "input" in errors[0]


def test_missing_input_and_format_choice(tmp_path, weights, capsys):
    photo(20, 12).save(tmp_path / "anim.gif")
    photo(20, 12).save(tmp_path / "c.webp")
    out = tmp_path / "out"
    missing = tmp_path / "missing.jpg"
    common = ["-o", str(out), "--model", str(weights), "--size", "32"]

    code = main(["colorize", str(missing), str(tmp_path / "anim.gif"), str(tmp_path / "c.webp"), *common])

    captured = capsys.readouterr()
    assert code == 1
    assert nonblank(captured.err) == [f"{missing}: no such file"]
    assert sorted(p.name for p in out.iterdir()) == ["anim.png", "c.webp"]  # GIF is not writable: PNG

    assert main(["colorize", str(tmp_path / "c.webp"), *common, "--format", "jpg"]) == 0
    assert Image.open(out / "c.jpg").size == (20, 12)


def test_bad_model_is_a_usage_error(tmp_path, capsys):
    photo(8, 8).save(tmp_path / "a.png")
    code = main(["colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--model", "nope.safetensors"])
    assert code == 2
    assert "nope.safetensors: no such weights file" in capsys.readouterr().err
    assert main(["colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--vividness", "2"]) == 2


def test_onnx_file_with_the_torch_backend_is_a_usage_error(tmp_path, weights, capsys):
    photo(8, 8).save(tmp_path / "a.png")
    args = ["colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--model", str(weights)]

    code = main([*args, "--backend", "torch", "--onnx", str(tmp_path / "m.onnx")])

    errors = nonblank(capsys.readouterr().err)
    assert code == 2 and len(errors) == 1 and "ONNX file was given with the torch backend" in errors[0], errors
    assert not (tmp_path / "o").exists()


def test_colorize_paths_api(tmp_path, weights):
    colorizer = Colorizer.load(weights, backend="torch", device="cpu", size=32)
    photo(16, 16).save(tmp_path / "x.png")
    photo(16, 16).save(tmp_path / "x.jpg")  # same stem: with fmt="png" both would be x.png

    report = colorize_paths([tmp_path / "x.png", tmp_path / "x.jpg"], tmp_path / "o", colorizer, fmt="png")

    assert isinstance(report, BatchReport)
    assert (report.done, report.skipped, len(report.failed)) == (1, 0, 1)
    assert "x.jpg" in report.failed[0] and "would also be written" in report.failed[0]
    assert report.summary() == "colorized 1, skipped 0, failed 1"
    with pytest.raises(ValueError, match="unsupported output format"):
        colorize_paths([tmp_path / "x.png"], tmp_path / "o", colorizer, fmt="bmp")


def test_a_model_that_cannot_load_stops_the_batch_naming_the_photo(tmp_path):
    """Not a file's error: the photos' pipeline stops and the loader's own error is raised, with a
    note naming the stage and the photo it stopped at; nothing is written."""
    for name in ("a.png", "b.png"):
        photo(8, 8).save(tmp_path / name)

    def load():
        raise RuntimeError("weights are broken")

    with pytest.raises(RuntimeError, match="weights are broken") as caught:
        colorize_paths([tmp_path / "a.png", tmp_path / "b.png"], tmp_path / "out", load, progress=False)
    assert caught.value.__notes__ == [f"in the pipeline's model stage, on {tmp_path / 'a.png'}"]
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_folder_pipeline_keeps_order_and_few_photos_in_flight(tmp_path, weights, monkeypatch):
    """Decode, colorize and write overlap, but at most PHOTOS_IN_FLIGHT decoded photos wait to be
    written (memory stays that of a few photos), a failure mid-folder is reported in its place,
    and the journal lists the inputs in order."""
    import json
    import threading

    from tinct.inference import batch

    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(9):
        Image.fromarray(np.full((24, 32), 20 * i, np.uint8)).save(folder / f"p{i}.png")
    (folder / "p4.png").write_bytes(b"broken")
    changed, counts = threading.Condition(), {"read": 0, "written": 0, "most": 0}
    read, write = batch.read_image, batch.write_image

    def counting_read(*args, **kwargs):
        image = read(*args, **kwargs)
        with changed:
            counts["read"] += 1
            counts["most"] = max(counts["most"], counts["read"] - counts["written"])
            changed.notify_all()
        return image

    def held_write(*args, **kwargs):
        # The first write waits until reading has run two photos ahead of writing, which only an
        # overlapped pipeline does (a serial one reads nothing while it writes: the wait times out
        # and `most` stays 1). No sleep decides the outcome.
        with changed:
            if counts["written"] == 0:
                changed.wait_for(lambda: counts["read"] - counts["written"] >= 2, timeout=10)
        write(*args, **kwargs)
        with changed:
            counts["written"] += 1
            changed.notify_all()

    monkeypatch.setattr(batch, "read_image", counting_read)
    monkeypatch.setattr(batch, "write_image", held_write)
    colorizer = Colorizer.load(weights, backend="torch")
    report = colorize_paths([folder], tmp_path / "out", colorizer, progress=False, log=tmp_path / "log.jsonl")
    assert (report.done, report.skipped, len(report.failed)) == (8, 0, 1) and "p4.png" in report.failed[0]
    assert counts["written"] == 8 and 2 <= counts["most"] <= batch.PHOTOS_IN_FLIGHT  # overlapped, bounded
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [line["input"].rsplit("/", 1)[-1] for line in lines] == [f"p{i}.png" for i in range(9)]
    assert [line["status"] for line in lines] == ["ok"] * 4 + ["failed"] + ["ok"] * 4


def test_refused_weights_are_one_line_and_a_lookalike_error_is_not(tmp_path, capsys, monkeypatch):
    """WeightsError is matched as the class tinct raises (isinstance), not by its name."""
    import pickle

    import tinct.models.loading

    bad = tmp_path / "evil.pth"
    bad.write_bytes(pickle.dumps(print, protocol=2))  # a pickle that would call code: refused
    assert main(["convert", str(bad), "-o", str(tmp_path / "x.safetensors")]) == 2
    errors = nonblank(capsys.readouterr().err)
    assert len(errors) == 1 and errors[0].startswith(f"tinct convert: error: {bad}:"), errors

    WeightsError = type("WeightsError", (Exception,), {})  # same name, another class: a bug, not usage

    def broken(*args, **kwargs):
        raise WeightsError("not tinct's")

    monkeypatch.setattr(tinct.models.loading, "convert_checkpoint", broken)
    with pytest.raises(WeightsError):
        main(["convert", str(bad), "-o", str(tmp_path / "x.safetensors")])
