"""Issue #8: a corpus of bad inputs through every front end, and safe loading of weights.

Every corpus file (see tests/corpus.py) goes through `tinct colorize`, `tinct eval`, the training
dataset and the HTTP API. Each readable file gives a result of the right size and orientation,
each unreadable one a single line (or JSON detail) naming it, the rest of the batch completes,
and no traceback ever reaches the user.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tinct.cli import main
from tinct.data import ColorDataset
from tinct.inference import Colorizer, image_lightness
from tinct.io.images import list_images
from tinct.io.weights import load_weights, save_weights
from tinct.models import create_model
from tinct.models.loading import save_model

from .conftest import write_photos
from .corpus import Expect, make_corpus, output_name

TINY = {"decoder_channels": (8, 8, 8, 8)}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, Expect]]:
    folder = tmp_path_factory.mktemp("corpus") / "in"
    return folder, make_corpus(folder)


def nonblank(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def lines_about(lines: list[str], path: Path, prefix: str = "") -> list[str]:
    return [line for line in lines if line.startswith(f"{prefix}{path}: ")]


def check_result(rgb: np.ndarray, expect: Expect, what: str) -> None:
    """Right displayed size; for EXIF files, the lightness of the displayed (rotated) image."""
    assert (rgb.shape[1], rgb.shape[0]) == expect.size, what
    if expect.displayed is not None:
        truth = image_lightness(np.repeat(expect.displayed[:, :, None], 3, axis=2))
        error = float(np.abs(image_lightness(rgb) - truth).mean())
        assert error < 3.0, f"{what}: lightness differs by {error:.1f} L* on average (wrong orientation?)"


def digests(folder: Path) -> dict[str, str]:
    """Content hash of every readable regular file: inputs must never be modified."""
    out = {}
    for path in folder.iterdir():
        if path.is_file() and os.access(path, os.R_OK):
            out[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def read_output(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        # Outputs carry no orientation tag: the pixels are stored the way they are displayed.
        assert image.getexif().get(0x0112, 1) == 1, path
        return np.asarray(image.convert("RGB"))


# ------------------------------------------------------------------------------------------
# tinct colorize


def test_corpus_through_colorize(corpus, weights, tmp_path, capsys):
    folder, expected = corpus
    out = tmp_path / "out"
    log = tmp_path / "log.jsonl"
    args = ["colorize", str(folder), "-o", str(out), "--model", str(weights), "--size", "64", "--log", str(log)]
    inputs = digests(folder)

    code = main(args)

    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert code == 1  # some files failed
    errors = nonblank(captured.err)
    accounted = []
    for name, expect in expected.items():
        path = folder / name
        failures = lines_about(errors, path)
        warned = lines_about(errors, path, prefix="warning: ")
        accounted += failures + warned
        if expect.ok:
            assert not failures, failures
            check_result(read_output(out / output_name(name)), expect, name)
            assert len(warned) == int(expect.warns), warned
        else:
            assert len(failures) == 1 and expect.reason in failures[0], (name, failures)
            assert not (out / output_name(name)).exists()
    assert sorted(accounted) == sorted(errors), "stderr lines about nothing in the corpus"
    ok = sum(e.ok for e in expected.values())
    assert f"colorized {ok}, skipped 0, failed {len(expected) - ok}" in captured.out
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted(Path(r["input"]).name for r in records) == sorted(expected)  # the loop adds nothing
    for record in records:
        expect = expected[Path(record["input"]).name]
        assert record["status"] == ("ok" if expect.ok else "failed")
        assert (record["warning"] is not None) == expect.warns
        assert (record["error"] is None) == expect.ok
    assert not list(out.rglob(".*.tmp"))

    # A rerun skips every finished output and reports the same failures.
    assert main(args) == 1
    assert f"colorized 0, skipped {ok}, failed {len(expected) - ok}" in capsys.readouterr().out
    assert digests(folder) == inputs


# ------------------------------------------------------------------------------------------
# tinct eval


def test_corpus_through_eval(corpus, weights, tmp_path, capsys):
    folder, expected = corpus
    report = tmp_path / "eval"
    inputs = digests(folder)

    code = main(["eval", str(folder), "--model", str(weights), "--size", "64", "--out", str(report)])

    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert code == 1
    errors = nonblank(captured.err)
    with open(report / "per_image.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    scored = {row["image"] for row in rows}
    accounted = []
    for name, expect in expected.items():
        failures = lines_about(errors, folder / name)
        warned = lines_about(errors, folder / name, prefix="warning: ")
        accounted += failures + warned
        if expect.ok:
            assert name in scored and not failures, name
            assert {row["model"] for row in rows if row["image"] == name} == {"gray", "tiny"}
            assert len(warned) == int(expect.warns), warned
        else:
            assert name not in scored
            assert len(failures) == 1 and expect.reason in failures[0], (name, failures)
    failed = len(expected) - sum(e.ok for e in expected.values())
    assert sorted(accounted + [f"{failed} photo(s) failed"]) == sorted(errors)
    Image.open(report / "grid.jpg").load()
    assert digests(folder) == inputs


# ------------------------------------------------------------------------------------------
# Training data


@pytest.mark.parametrize("train", [True, False])
def test_corpus_through_dataset(corpus, train):
    folder, expected = corpus
    assert sorted(p.name for p in list_images(folder)) == sorted(expected)

    with pytest.warns(UserWarning, match="first frame only"):
        dataset = ColorDataset(folder, 32, train=train, skip_gray=train)

    used = {p.name for p in dataset.paths}
    gray = {Path(p).name for p in dataset.skipped_gray}
    for name, expect in expected.items():
        unreadable = lines_about(dataset.skipped_unreadable, folder / name)
        if expect.ok:
            assert not unreadable
            assert name in (gray if train and expect.gray else used), name
        else:
            assert len(unreadable) == 1 and expect.reason in unreadable[0], (name, unreadable)
    assert len(dataset.skipped_unreadable) == sum(not e.ok for e in expected.values())
    for i in range(len(dataset)):
        L, ab = dataset[i]
        assert L.shape == (1, 32, 32) and ab.shape == (2, 32, 32)
        assert torch.isfinite(L).all() and torch.isfinite(ab).all()
    L, ab = next(iter(torch.utils.data.DataLoader(dataset, batch_size=4, shuffle=True)))
    assert L.shape == (4, 1, 32, 32)


# ------------------------------------------------------------------------------------------
# HTTP API


def test_corpus_through_http_api(corpus, weights):
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    pytest.importorskip("multipart", reason="python-multipart is not installed")
    # With the serve extra installed, tinct.serve.app must import: a broken app fails here, it is
    # not skipped.
    from fastapi.testclient import TestClient

    from tinct.serve import ServeSettings
    from tinct.serve import app as app_module

    folder, expected = corpus
    colorizer = Colorizer.load(weights, backend="torch", device="cpu", size=64)
    settings = ServeSettings(workers=1, queue=4, timeout=60)
    with TestClient(base_url="http://127.0.0.1:8000", app=app_module.create_app(colorizer, settings)) as client:
        for name, expect in expected.items():
            try:
                data = (folder / name).read_bytes()
            except PermissionError:
                continue  # the client cannot read it, so it never reaches the server
            r = client.post("/api/colorize", files={"file": (name, data, "application/octet-stream")})
            assert "Traceback" not in r.text
            if expect.ok:
                assert r.status_code == 200, (name, r.text)
                check_result(np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")), expect, name)
            else:
                assert r.status_code in (415, 422), (name, r.status_code, r.text)
                detail = r.json()["detail"]
                assert name in detail and "\n" not in detail, detail


# ------------------------------------------------------------------------------------------
# Safe loading


class _Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        import builtins

        return (builtins.exec, (f"open({self.marker!r}, 'w').close()",))


def _evil_files(folder: Path, marker: Path) -> list[Path]:
    """Pickles that would create ``marker`` when loaded, under weights-like names."""
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"model": {"w": torch.ones(2)}, "boom": _Payload(marker)}
    zip_pth, legacy_pt = folder / "evil.pth", folder / "evil.pt"
    torch.save(payload, zip_pth)  # torch's zip format
    torch.save(payload, legacy_pt, _use_new_zipfile_serialization=False)  # legacy raw pickle
    renamed = folder / "evil.safetensors"  # a pickle wearing the safetensors name
    renamed.write_bytes(zip_pth.read_bytes())
    text = folder / "evil.ckpt"  # protocol 0: plain text, no magic bytes at all
    text.write_bytes(pickle.dumps(_Payload(marker), protocol=0))
    return [zip_pth, legacy_pt, renamed, text]


def test_pickled_weights_are_refused_end_to_end(tmp_path, capsys):
    marker = tmp_path / "pwned"
    photo = write_photos(tmp_path / "in", 1)[0]
    for evil in _evil_files(tmp_path / "evil", marker):
        for command in (
            ["colorize", str(photo), "-o", str(tmp_path / "out"), "--model", str(evil)],
            ["eval", str(photo), "--model", str(evil), "--out", str(tmp_path / "eval")],
        ):
            code = main(command)
            err = nonblank(capsys.readouterr().err)
            assert code == 2, (evil.name, err)
            # A .safetensors name is read as safetensors only; other files as published checkpoints
            # (e.g. DDColor's .pth), with torch.load(weights_only=True), which refuses the payload.
            reason = "not a safetensors file" if evil.suffix == ".safetensors" else "refused"
            assert len(err) == 1 and str(evil) in err[0] and reason in err[0], err
            assert not marker.exists(), f"{evil.name}: code ran"
    assert not (tmp_path / "out").exists()
    torch.load(tmp_path / "evil" / "evil.pth", weights_only=False)  # the payload is real
    assert marker.exists()


def test_pickled_resume_checkpoint_is_refused_end_to_end(tmp_path, capsys):
    marker = tmp_path / "pwned"
    data = tmp_path / "data"
    write_photos(data, 2)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"epoch": 1, "model": {}, "boom": _Payload(marker)}, run / "checkpoints" / "last.resume.pt")
    args = ["train", str(data), "--model", "seed", "--epochs", "2", "--batch-size", "2", "--threads", "1"]

    code = main([*args, "--out", str(run), "--resume", "--device", "cpu"])

    err = nonblank(capsys.readouterr().err)
    assert code == 2
    assert len(err) == 1 and "last.resume.pt" in err[0] and "could execute code" in err[0], err
    assert not marker.exists()


def _bad_metadata_file(tmp_path: Path, name: str, **config_changes) -> Path:
    state, meta = load_weights(tmp_path / "good.safetensors")
    meta = {**meta, "config": {**meta["config"], **config_changes}}
    if "model" in config_changes:
        meta["model"] = config_changes.pop("model")
        meta["config"].pop("model")
    return save_weights(tmp_path / name, state, meta)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"decoder_channels": [100000, 100000, 100000, 100000]}, "decoder_channels must each be in 1..1024"),
        ({"decoder_channels": [8, 8, 8, 10**12]}, "decoder_channels must each be in 1..1024"),
        ({"decoder_channels": "8888"}, "decoder_channels must be a list of 4 integers"),
        ({"decoder_channels": [8, 8.5, 8, 8]}, "decoder_channels must be 4 integers"),
        ({"decoder_channels": [8, 8, 8]}, "decoder_channels must be 4 integers"),
        ({"hints": "yes"}, "hints must be true or false"),
        ({"head": 5}, "head must be 'regression' or 'classification'"),
        ({"output_stride": 10**9}, "output_stride must be 2 or 4"),
        ({"layers": 100}, "unexpected keyword argument 'layers'"),
        ({"model": "resnet9000"}, "unknown architecture 'resnet9000'"),
    ],
)
def test_model_config_from_metadata_is_validated_before_building(tmp_path, capsys, monkeypatch, changes, message):
    from tinct.models import unet

    torch.manual_seed(0)
    save_model(tmp_path / "good.safetensors", create_model("unet", **TINY))
    bad = _bad_metadata_file(tmp_path, "bad.safetensors", **changes)
    photo = write_photos(tmp_path / "in", 1)[0]

    def must_not_build(self, config):
        raise AssertionError(f"a model was built from an invalid config: {config}")

    monkeypatch.setattr(unet.UNetColorizer, "__init__", must_not_build)
    code = main(["colorize", str(photo), "-o", str(tmp_path / "out"), "--model", str(bad)])

    err = nonblank(capsys.readouterr().err)
    assert code == 2
    assert len(err) == 1 and str(bad) in err[0] and message in err[0], err
    assert "Traceback" not in err[0]
