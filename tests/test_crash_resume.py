"""Crashes and interruptions: `tinct train` killed with SIGKILL mid-epoch resumes from its last
checkpoint, and `tinct colorize` stopped by SIGINT/SIGTERM leaves no partial output."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from tinct.models.loading import load_model
from tinct.train import fit, load_config
from tinct.train.checkpoint import load_resume_state

from .conftest import write_photos

EPOCHS = 3


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return {**env, "OMP_NUM_THREADS": "1"}


def _tinct(*args: str) -> list[str]:
    return ["nice", "-n", "15", sys.executable, "-m", "tinct", *args]


class _Collector:
    """Reads a pipe in the background (tqdm writes carriage returns, not lines)."""

    def __init__(self, stream) -> None:
        self.text = ""
        self._stream = stream
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while chunk := os.read(self._stream.fileno(), 65536):
            self.text += chunk.decode(errors="replace")

    def join(self) -> str:
        self._thread.join(timeout=30)
        return self.text


def _temp_files(folder: Path) -> list[Path]:
    return list(folder.rglob(".*.tmp"))


def _check_run_folder(run: Path) -> dict:
    """Everything on disk is whole: every weights file and the resume state load."""
    assert not _temp_files(run), _temp_files(run)
    for weights in (run / "checkpoints").glob("*.safetensors"):
        load_model(weights)
    return load_resume_state(run / "checkpoints" / "last.resume.pt")


def _epochs(run: Path) -> list[int]:
    with open(run / "metrics.csv", newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


@pytest.mark.slow  # two `tinct train` subprocesses and a third run in-process: tens of seconds on 2 cores
def test_train_killed_mid_epoch_resumes_from_last_checkpoint(tmp_path):
    write_photos(tmp_path / "data", 32, size=(96, 80))
    config = tmp_path / "tiny.toml"
    config.write_text(
        f'data = "{tmp_path / "data"}"\nout = "{tmp_path / "run"}"\nmodel = "unet"\nsize = 64\n'
        f'epochs = {EPOCHS}\nbatch_size = 2\nthreads = 1\ndevice = "cpu"\n'
        "model_args = { decoder_channels = [8, 8, 8, 8] }\n"
    )
    run = tmp_path / "run"
    # tqdm's bar for epoch 2 with at least two batches done: epoch 1's checkpoint is on disk.
    second_epoch = re.compile(rf"epoch 2/{EPOCHS}:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)")

    job = subprocess.Popen(
        _tinct("train", "--config", str(config)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=_env(),
        start_new_session=True,
    )
    stderr = _Collector(job.stderr)
    try:
        deadline = time.monotonic() + 240
        while not any(int(m.group(1)) >= 2 for m in second_epoch.finditer(stderr.text)):
            assert job.poll() is None, stderr.text[-2000:]
            assert time.monotonic() < deadline, "training made no progress"
            time.sleep(0.01)
        os.killpg(job.pid, signal.SIGKILL)
        assert job.wait(timeout=30) == -signal.SIGKILL
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
    stderr.join()

    state = _check_run_folder(run)
    assert state["epoch"] == 1, "the kill did not land in epoch 2"
    assert _epochs(run) == [1]

    done = subprocess.run(
        _tinct("train", "--config", str(config), "--resume"), capture_output=True, text=True, timeout=300, env=_env()
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    printed = re.findall(rf"^epoch (\d+)/{EPOCHS}: train loss", done.stdout, re.M)
    assert printed == ["2", "3"]  # continued after epoch 1, did not start over
    assert _epochs(run) == [1, 2, 3]
    assert _check_run_folder(run)["epoch"] == EPOCHS

    # ... and ends exactly where an uninterrupted run of the same recipe ends.
    straight = fit(load_config(config, out=str(tmp_path / "straight"))).out
    resumed, _ = load_model(run / "checkpoints" / "last.safetensors")
    expected, _ = load_model(straight / "checkpoints" / "last.safetensors")
    for (name, a), b in zip(resumed.state_dict().items(), expected.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_colorize_leaves_no_partial_output(tmp_path, weights, sig):
    # Many inputs (hard links to three photos, cheap to make), so the batch is still running when
    # the signal lands even on a fast idle machine.
    count = 300
    sources = write_photos(tmp_path / "src", 3, size=(640, 480))
    (tmp_path / "in").mkdir()
    for i in range(count):
        os.link(sources[i % 3], tmp_path / "in" / f"photo_{i:03d}.png")
    out = tmp_path / "out"
    job = subprocess.Popen(
        _tinct("colorize", str(tmp_path / "in"), "-o", str(out), "--model", str(weights), "--size", "64"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
        text=True,
        # A test runner started in the background (`make test &`, some CI shells) ignores SIGINT,
        # and children inherit that; give the job the default handling a terminal user has.
        preexec_fn=_default_sigint,
    )
    try:
        deadline = time.monotonic() + 240
        while len(list(out.glob("*.png"))) < 3:
            assert job.poll() is None, job.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "no progress"
            time.sleep(0.01)
        job.send_signal(sig)
        stdout, stderr = job.communicate(timeout=60)
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()

    assert job.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == "interrupted"
    assert not _temp_files(out)
    written = list(out.glob("*.png"))
    assert 3 <= len(written) < count
    for path in written:  # every output that exists is complete
        with Image.open(path) as image:
            image.load()
            assert image.size == (640, 480)
