"""DDColor on a CPU: tinct (torch, ONNX Runtime) against the authors' own pipeline, end to end.

    python benchmarks/bench.py --ddcolor /path/to/DDColor     # `make bench-ddcolor DDCOLOR=...`

For each encoder size (tiny: ConvNeXt-T, large: ConvNeXt-L) a checkpoint with the published key
layout and seeded random weights is written as the authors publish (``{'params': ...}`` .pth);
speed does not depend on the weights' values. Each pipeline then colorizes a 12 MP grayscale JPEG
(4000x3000, photo-like) from file to JPEG file (q95) in its own child process:

* tinct (torch) and tinct (onnxruntime): ``Colorizer.load(FILE.pth)`` then tinct's read →
  colorize → write, at tinct's default working size for DDColor (512 on the longer side, the
  aspect ratio kept: 512x384 here). The ONNX file is exported once, before the runs.
* authors: ``ddcolor.build_ddcolor_model`` + ``ColorizationPipeline.process`` from the checkout
  given (cv2 read, their 512x512 resize and conversions, cv2 write), the same model weights.

Seconds: the fastest and the median of the timed runs (rounds of every pipeline in turn, each a
fresh process with a warm-up run); "vs authors" divides
the authors' fastest by tinct's fastest (other processes share the cores of the bench machine and
only ever add time, so the fastest run is the least disturbed measure of each pipeline). Peak memory is the child's
VmHWM (peak resident set: model, buffers, everything) in MiB, and the part of it above the resident
set after loading (what one colorization adds). Writes benchmarks/DDCOLOR_RESULTS.md.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENCODERS = {"tiny": "convnext-t", "large": "convnext-l"}
PIPELINES = ("tinct (torch)", "tinct (onnxruntime)", "authors (torch)")


def child(pipeline: str, checkpoint: str, size: str, image: str, reps: int, code: str | None, onnx: str | None) -> None:
    """In a child process: load, one warm-up, ``reps`` timed runs; prints one JSON line."""
    from bench import proc_status  # stdlib, numpy, torch, PIL: all loaded by every pipeline anyway

    with tempfile.TemporaryDirectory(prefix="ddcolor-bench-") as tmp:
        out = Path(tmp) / "out.jpg"
        if pipeline.startswith("authors"):
            import cv2

            sys.path.insert(0, code)
            from check_ddcolor_reference import import_reference  # noqa: E402  (scripts/)

            ref = import_reference(Path(code))
            model = ref.build_ddcolor_model(ref.DDColor, model_path=checkpoint, model_size=size, device="cpu")
            pipe = ref.ColorizationPipeline(model, input_size=512, device="cpu")

            def run() -> None:
                cv2.imwrite(str(out), pipe.process(cv2.imread(image)), [cv2.IMWRITE_JPEG_QUALITY, 95])
        else:
            from tinct.color._compiled import compiled as _ext
            from tinct.inference import Colorizer
            from tinct.io.images import read_image, write_image

            backend = "onnxruntime" if "onnxruntime" in pipeline else "torch"
            onnx = onnx if backend == "onnxruntime" else None
            colorizer = Colorizer.load(checkpoint, backend=backend, onnx=onnx, device="cpu")
            _ext()  # the compiled color kernels are loaded code, like the model: not per-photo memory

            def run() -> None:
                write_image(out, colorizer.colorize(read_image(image)), quality=95)

        baseline = proc_status("VmRSS")
        times = []
        for i in range(reps + 1):
            t0 = time.perf_counter()
            run()
            if i:  # the first run is the warm-up
                times.append(time.perf_counter() - t0)
        print(
            json.dumps(
                {
                    "seconds": min(times),
                    "times": times,
                    "baseline": baseline,
                    "peak": proc_status("VmHWM"),
                }
            )
        )


def _photo(path: Path) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench import photo_like  # the same photo-like 12 MP image as the rest of `make bench`
    from PIL import Image

    Image.fromarray(photo_like(4000, 3000, seed=12)).convert("L").save(path, quality=95)


def run(code: Path | None, sizes: list[str], reps: int, out: Path, rounds: int = 3) -> int:
    import torch

    from tinct.export.onnx import export_onnx
    from tinct.models import create_model

    started = time.time()
    load_start = os.getloadavg()
    rows: list[list[str]] = []
    notes: list[str] = []
    if code is None or not (code / "ddcolor" / "pipeline.py").is_file():
        notes.append(f"authors' pipeline skipped: no DDColor checkout given or found ({code})")
    with tempfile.TemporaryDirectory(prefix="ddcolor-bench-") as tmp_name:
        tmp = Path(tmp_name)
        image = tmp / "photo_12mp.jpg"
        _photo(image)
        for size in sizes:
            torch.manual_seed(0)
            model = create_model("ddcolor", encoder=ENCODERS[size]).eval()
            checkpoint = tmp / f"ddcolor_{size}.pth"
            torch.save({"params": model.state_dict()}, checkpoint)
            onnx = tmp / f"ddcolor_{size}.onnx"
            t0 = time.perf_counter()
            export_onnx(model, onnx)
            notes.append(f"{size}: ONNX export + verification {time.perf_counter() - t0:.0f} s (once)")
            del model
            pipelines = [p for p in PIPELINES if not p.startswith("authors") or (code and (code / "ddcolor").is_dir())]
            runs: dict[str, list[dict]] = {p: [] for p in pipelines}
            failed: dict[str, str] = {}
            # Rounds, each running every pipeline once in turn: a burst of load from other
            # processes then falls on all pipelines alike instead of on one of them.
            for r in range(rounds):
                for pipeline in pipelines:
                    if pipeline in failed:
                        continue
                    print(f"{size} {pipeline} (round {r + 1} of {rounds}) ...", flush=True)
                    cmd = [sys.executable, __file__, "--child", pipeline, str(checkpoint), size, str(image), str(reps)]
                    cmd += [str(code) if code else "", str(onnx)]
                    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "scripts")])}
                    res = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
                    if res.returncode != 0:
                        failed[pipeline] = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "?"
                        continue
                    runs[pipeline].append(json.loads(res.stdout.strip().splitlines()[-1]))
            fastest = {p: min(d["seconds"] for d in runs[p]) for p in pipelines if runs[p]}
            reference = fastest.get("authors (torch)")
            for pipeline in pipelines:
                if pipeline in failed:
                    rows.append([size, pipeline, "failed", "", "", "", "", failed[pipeline]])
                    continue
                data = runs[pipeline]
                peak = max(d["peak"] for d in data)
                added = max(d["peak"] - d["baseline"] for d in data)
                rows.append(
                    [
                        size,
                        pipeline,
                        f"{fastest[pipeline]:.2f}",
                        f"{statistics.median(t for d in data for t in d['times']):.2f}",
                        f"{reference / fastest[pipeline]:.2f}x" if reference else "",
                        f"{peak / 2**20:.0f}",
                        f"{added / 2**20:.0f}",
                        "",
                    ]
                )
    elapsed = time.time() - started
    from bench import cpu_model, table, versions

    from tinct.threads import get_num_threads

    header = ["model", "pipeline", "fastest s", "median s", "vs authors", "peak MiB", "peak above loaded MiB", "note"]
    text = "\n".join(
        [
            "# DDColor on a CPU: tinct vs the authors' pipeline",
            "",
            "Generated by `python benchmarks/bench.py --ddcolor DDCOLOR_CHECKOUT` (`make bench-ddcolor`); "
            "do not edit by hand. See the docstring of benchmarks/ddcolor_bench.py for the method.",
            "",
            f"- Machine: {cpu_model()}, {os.cpu_count()} cores, threads {get_num_threads()}",
            "- Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()),
            f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}, {elapsed / 60:.1f} minutes",
            f"- Load average (1 min) at start / end: {load_start[0]:.1f} / {os.getloadavg()[0]:.1f} "
            "(other processes share the cores: times are noisy)",
            f"- Photo: 12 MP grayscale JPEG (4000x3000) → colorized JPEG q95; {rounds} rounds of every pipeline in "
            f"turn, each a fresh process: load, a warm-up run, {reps} timed run(s)",
            *(f"- {n}" for n in notes),
            "",
            table(header, rows),
            "",
        ]
    )
    out.write_text(text)
    print(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        pipeline, checkpoint, size, image, reps, code, onnx = sys.argv[2:9]
        child(pipeline, checkpoint, size, image, int(reps), code or None, onnx or None)
    else:
        print("run through benchmarks/bench.py --ddcolor CHECKOUT", file=sys.stderr)
        sys.exit(2)
