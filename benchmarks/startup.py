"""Whole-process timings, as a user meets them: one photo, `--help`, the server, a folder.

Each row runs `python -m tinct ...` as a fresh process (median of several runs) for this
checkout and, side by side, for a baseline commit checked out into a temporary git worktree
(default: the last commit before the start-up work, so "today" and "before" are measured in the
same run on the same machine). Run alone with::

    python benchmarks/startup.py [--baseline REF] [--photos 20]

or as part of `make bench` (benchmarks/bench.py calls :func:`bench_startup`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
#: The last commit before issue 15 (start-up, torch-free ONNX path, pipelined folders).
DEFAULT_BASELINE = "e7464fb"


def gray_photo(path: Path, seed: int, width: int = 4000, height: int = 3000) -> Path:
    """A photo-like 12 MP gray JPEG (q90): smooth shapes and film grain."""
    rng = np.random.default_rng(seed)
    y, x = np.linspace(0, 1, height)[:, None], np.linspace(0, 1, width)[None]
    g = (
        128
        + 70 * np.sin((5 + seed) * x + 3 * y)
        + 30 * np.cos(7 * y * (1 + x))
        + 15 * rng.standard_normal((height, width))
    )
    Image.fromarray(g.clip(0, 255).astype(np.uint8)).save(path, quality=90)
    return path


@contextlib.contextmanager
def baseline_checkout(ref: str) -> Iterator[Path | None]:
    """A temporary git worktree of ``ref`` (None where git or the commit is missing)."""
    folder = Path(tempfile.mkdtemp(prefix="tinct-baseline-"))
    made = subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder / "src-tree"), ref], capture_output=True
    )
    try:
        yield folder / "src-tree" if made.returncode == 0 else None
    finally:
        if made.returncode == 0:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder / "src-tree")])
        shutil.rmtree(folder, ignore_errors=True)


class Checkout:
    """Runs `python -m tinct` from one source tree, with its own ONNX cache folder."""

    def __init__(self, label: str, src: Path, cache: Path) -> None:
        self.label, self.src, self.cache = label, src, cache

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(self.src), "TINCT_CACHE_DIR": str(self.cache)}

    def seconds(self, args: list[str], cwd: Path) -> float:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "tinct", *args], cwd=cwd, env=self.env(), capture_output=True)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"{self.label}: tinct {' '.join(args)} failed: {done.stderr.decode()[-300:]}")
        return elapsed

    def serve_seconds(self, cwd: Path) -> float:
        """From starting `tinct serve` until /api/health answers."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "tinct", "serve", "--port", str(port)],
            cwd=cwd, env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            while time.perf_counter() - start < 60:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1).read()
                    return time.perf_counter() - start
                except OSError:
                    if proc.poll() is not None:
                        raise RuntimeError(f"{self.label}: tinct serve exited with {proc.returncode}") from None
                    time.sleep(0.01)
            raise RuntimeError(f"{self.label}: /api/health did not answer within 60 s")
        finally:
            proc.terminate()
            proc.wait()


def _median(fn, reps: int) -> float:
    return statistics.median(fn() for _ in range(reps))


def skimage_round_trip(photo: Path, reps: int) -> float:
    """Seconds of scikit-image's rgb2lab + lab2rgb of the photo (decoded, as float RGB) alone."""
    from skimage.color import lab2rgb, rgb2lab

    rgb = np.repeat(np.asarray(Image.open(photo))[..., None], 3, axis=2) / 255.0

    def once() -> float:
        start = time.perf_counter()
        lab2rgb(rgb2lab(rgb))
        return time.perf_counter() - start

    return _median(once, reps)


def compare_outputs(runs: list[Checkout], inputs: list[Path], tmp: Path) -> list[list[str]]:
    """Rows: for each backend, how far this checkout's outputs are from the baseline's (PNG, so
    only the colorization differs): the largest difference in 8-bit levels and the share of
    pixels that differ at all."""
    if len(runs) < 2:
        return []
    rows = []
    for backend in ("torch", "onnxruntime"):
        outs = []
        for run in runs:
            out = tmp / f"compare-{backend}-{len(outs)}"
            run.seconds(["colorize", *map(str, inputs), "-o", str(out), "--format", "png", "--backend", backend], tmp)
            outs.append(out)
        worst, differing, total = 0, 0, 0
        for path in sorted(outs[0].glob("*.png")):
            a = np.asarray(Image.open(path), dtype=np.int16)
            b = np.asarray(Image.open(outs[1] / path.name), dtype=np.int16)
            d = np.abs(a - b).max(axis=-1)
            worst, differing, total = max(worst, int(d.max())), differing + int((d > 0).sum()), total + d.size
        rows.append(
            [f"output vs baseline, `--backend {backend}` ({len(inputs)} photos, {total / 1e6:.1f} MP)",
             f"max {worst} level(s)", f"{differing / total:.1e} of pixels differ", ""]
        )  # fmt: skip
    return rows


def bench_startup(baseline: str = DEFAULT_BASELINE, photos: int = 20, reps: int = 5) -> tuple[list[list[str]], str]:
    """Rows: what, this checkout's figure, the baseline's, the ratio. And a note on the setup."""
    with tempfile.TemporaryDirectory(prefix="tinct-startup-") as tmp_name, baseline_checkout(baseline) as old_src:
        tmp = Path(tmp_name)
        photo = gray_photo(tmp / "photo.jpg", seed=0)
        folder = tmp / "folder"
        folder.mkdir()
        for i in range(photos):
            gray_photo(folder / f"p{i:02d}.jpg", seed=i + 1)
        runs = [Checkout("now", ROOT / "src", tmp / "cache-now")]
        if old_src is not None:
            runs.append(Checkout(f"baseline {baseline}", old_src / "src", tmp / "cache-baseline"))
        one = ["colorize", "photo.jpg", "-o", "out", "--overwrite"]
        results: dict[str, dict[str, float]] = {}
        for run in runs:
            r = results[run.label] = {}
            shutil.rmtree(run.cache, ignore_errors=True)
            r["cold"] = run.seconds(one, tmp)  # empty ONNX cache: the export is made in this run
            r["warm"] = _median(lambda run=run: run.seconds(one, tmp), reps)
            r["help"] = _median(lambda run=run: run.seconds(["--help"], tmp), reps)
            r["serve"] = _median(lambda run=run: run.serve_seconds(tmp), 3)
            run.seconds(["colorize", "folder", "-o", "fout", "--overwrite"], tmp)  # warm-up
            wall = _median(lambda run=run: run.seconds(["colorize", "folder", "-o", "fout", "--overwrite"], tmp), 3)
            r["folder"] = photos / wall
        skimage = skimage_round_trip(photo, 3)
        val = sorted((ROOT.parent / "shared/data/photos/val").glob("*.jpg")) or sorted(folder.glob("*.jpg"))[:4]
        compared = compare_outputs(runs, [photo, *val], tmp)

    now = results["now"]
    before = results.get(f"baseline {baseline}", {})

    def row(what: str, key: str, unit: str, higher_is_better: bool = False) -> list[str]:
        fmt = (lambda v: f"{v:.2f}") if unit == "photos/s" else (lambda v: f"{v:.2f} s")
        old = before.get(key)
        ratio = "" if old is None else f"{(now[key] / old if higher_is_better else old / now[key]):.1f}x"
        return [what, fmt(now[key]), "" if old is None else fmt(old), ratio]

    rows = [
        row("one 12 MP gray JPEG, `tinct colorize` process, cold (no cached ONNX export)", "cold", "s"),
        row("one 12 MP gray JPEG, `tinct colorize` process, warm", "warm", "s"),
        ["scikit-image rgb2lab + lab2rgb of that photo alone (in process)", f"{skimage:.2f} s", "",
         f"{skimage / now['warm']:.1f}x slower than the whole warm tinct process"],
        row("`tinct --help`", "help", "s"),
        row("`tinct serve` until /api/health answers", "serve", "s"),
        row(f"folder of {photos} 12 MP gray JPEGs, `tinct colorize` process", "folder", "photos/s", True),
        *compared,
    ]  # fmt: skip
    note = (
        f"Fresh `python -m tinct` processes (median of {reps}; serve and folder: 3), default model, "
        f"backend auto (ONNX Runtime). Baseline: commit {baseline} run from a temporary git worktree with "
        "the same Python environment and its own ONNX cache"
        + ("" if before else " (not available: no git checkout here)")
        + ". Ratio: baseline / now (photos/s: now / baseline). Outputs compared as PNG on the 12 MP "
        "photo and the val photos: the 8-bit kernels moved from numba to compiled C (same formulas, "
        "another compiler's float32 rounding order)."
    )
    return rows, note


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="git commit to compare with")
    parser.add_argument("--photos", type=int, default=20, help="photos in the folder row")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench import table

    rows, note = bench_startup(args.baseline, args.photos)
    print(note + "\n")
    print(table(["", "now", "baseline", "ratio"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
