"""tinct benchmark suite: color conversion, end-to-end colorization vs a reference pipeline,
model, hint propagation, training and data-loader throughput, and peak memory.

    python benchmarks/bench.py            # `make bench`: ~5-10 minutes on 2 cores
    python benchmarks/bench.py --quick    # fewer repetitions, no 24 MP reference memory run

Prints tables and writes benchmarks/RESULTS.md. Every time is the median of several repetitions
after a warm-up run. The reference pipeline is the one of the original tutorial and of Zhang et
al.'s demo: scikit-image float64 conversions (rgb2lab of the whole image, lab2rgb) and
``skimage.transform.resize``, around the SAME model as tinct's pipeline, so the difference is
the pre/post-processing only. Test photos are synthetic but photo-like: a real photo from
/work/shared/data/photos/val (or a generated scene if it is missing) upscaled, with film-grain
noise, saved as grayscale JPEG q95 into a temporary folder.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = Path("/work/shared/data/photos")
SIZES_MP = {1: (1152, 864), 12: (4000, 3000), 24: (6000, 4000)}  # (width, height)


# --------------------------------------------------------------------------------------------
# Helpers


def timeit(fn: Callable[[], Any], reps: int, warmup: int = 1, budget: float | None = None) -> float:
    """Median wall time of ``reps`` calls after ``warmup`` calls, in seconds. With a ``budget``
    (seconds), stops early once the timed calls have used it (at least one call is timed)."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    for _ in range(reps):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if budget is not None and sum(times) > budget:
            break
    return statistics.median(times)


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__}
    for name, module in (
        ("numba", "numba"),
        ("skimage", "skimage"),
        ("opencv", "cv2"),
        ("onnxruntime", "onnxruntime"),
        ("pillow", "PIL"),
    ):
        try:
            out[name] = __import__(module).__version__
        except Exception:  # not installed: say so in the table
            out[name] = "not installed"
    return out


def photo_like(width: int, height: int, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8: a real photo upscaled to width × height, plus luminance grain."""
    source = None
    val = PHOTOS / "val"
    if val.is_dir():
        files = sorted(p for p in val.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if files:
            source = Image.open(files[0]).convert("RGB")
    if source is None:  # a smooth synthetic scene
        y, x = np.mgrid[0:432, 0:768] / 432.0
        rgb = np.stack([0.5 + 0.4 * np.sin(3 * x + c + 4 * y * (c + 1)) for c in range(3)], axis=-1)
        source = Image.fromarray((rgb * 255).astype(np.uint8))
    big = np.asarray(source.resize((width, height), Image.BICUBIC), dtype=np.int16)
    rng = np.random.default_rng(seed)
    grain = rng.normal(0, 4, (height, width, 1)).astype(np.int16)
    return np.clip(big + grain, 0, 255).astype(np.uint8)


def make_jpegs(folder: Path) -> dict[int, Path]:
    paths = {}
    for mp, (w, h) in SIZES_MP.items():
        path = folder / f"photo_{mp}mp.jpg"
        Image.fromarray(photo_like(w, h, seed=mp)).convert("L").save(path, quality=95)
        paths[mp] = path
    return paths


def load_colorizer(spec: str | None, backend: str = "torch", onnx_path: str | None = None):
    """(Colorizer, description). Falls back to an untrained unet when no weights are bundled."""
    from tinct.inference import Colorizer
    from tinct.models import create_model

    if spec is not None:
        c = Colorizer.load(spec, device="cpu", backend=backend, onnx=onnx_path)
        return c, f"`{spec}`"
    try:
        c = Colorizer.load(device="cpu", backend=backend, onnx=onnx_path)
        return c, "bundled `default.safetensors`"
    except FileNotFoundError:
        torch.manual_seed(0)
        model = create_model("unet", head="classification", output_stride=4, hints=True)
        c = Colorizer(model, device="cpu", backend=backend, onnx_path=onnx_path)
        return c, "UNTRAINED unet (classification head, output stride 4, hints): no bundled weights yet"


# --------------------------------------------------------------------------------------------
# Pipelines


def tinct_pipeline(colorizer, src: Path, dst: Path) -> None:
    from tinct.io.images import read_image, write_image

    write_image(dst, colorizer.colorize(read_image(src)), quality=95)


def reference_pipeline(colorizer, src: Path, dst: Path) -> None:
    """The tutorial / Zhang et al. demo way, with the same model and the same file I/O."""
    from skimage.color import lab2rgb, rgb2lab
    from skimage.transform import resize

    from tinct.io.images import read_image, write_image

    rgb = read_image(src)
    lab = rgb2lab(rgb)  # float64, whole image
    L = lab[:, :, 0]
    h, w = colorizer.working_shape(*L.shape)
    small = resize(L, (h, w))  # anti-aliased (Gaussian) downscale
    ab = colorizer.predict_ab(small.astype(np.float32))  # (2, h', w')
    ab_full = resize(ab.transpose(1, 2, 0).astype(np.float64), L.shape)  # bilinear upscale
    out = lab2rgb(np.concatenate((L[:, :, None], ab_full), axis=2))
    write_image(dst, (out * 255).round().astype(np.uint8), quality=95)


# --------------------------------------------------------------------------------------------
# Sections


def bench_conversion(reps: int) -> list[list[str]]:
    import cv2
    from skimage.color import lab2rgb, rgb2lab

    from tinct.color.fast import lab_to_rgb, rgb_to_lab  # the float32 CPU kernels (tinct.color.lab is the reference)

    w, h = SIZES_MP[12]
    rgb32 = photo_like(w, h, seed=7).astype(np.float32) / 255
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_lab = rgb2lab(rgb32.astype(np.float64))
        ref_rgb = lab2rgb(ref_lab)
    lab32 = ref_lab.astype(np.float32)
    rgb_t = torch.from_numpy(rgb32).permute(2, 0, 1).contiguous()  # tinct's (3, H, W) layout
    lab_t = torch.from_numpy(lab32).permute(2, 0, 1).contiguous()

    def err(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.abs(a.astype(np.float64) - b).max())

    rows = []
    methods = {
        "tinct": (
            lambda: rgb_to_lab(rgb_t),
            lambda: lab_to_rgb(lab_t),
            lambda out: out.permute(1, 2, 0).numpy(),
        ),
        "scikit-image": (lambda: rgb2lab(rgb32), lambda: lab2rgb(lab32), lambda out: out),
        "OpenCV": (
            lambda: cv2.cvtColor(rgb32, cv2.COLOR_RGB2Lab),
            lambda: cv2.cvtColor(lab32, cv2.COLOR_Lab2RGB),
            lambda out: out,
        ),
    }
    times = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (fwd, inv, to_hwc) in methods.items():
            t_fwd = timeit(fwd, reps)
            e_fwd = err(to_hwc(fwd()), ref_lab)
            t_inv = timeit(inv, reps)
            e_inv = err(to_hwc(inv()), ref_rgb)
            times[name] = (t_fwd, t_inv)
            rows.append([name, t_fwd, e_fwd, t_inv, e_inv])
    sk_fwd, sk_inv = times["scikit-image"]
    return [
        [
            name,
            f"{t_fwd * 1e3:.0f}",
            f"{sk_fwd / t_fwd:.1f}x",
            f"{e_fwd:.1e}",
            f"{t_inv * 1e3:.0f}",
            f"{sk_inv / t_inv:.1f}x",
            f"{e_inv:.1e}",
        ]
        for name, t_fwd, e_fwd, t_inv, e_inv in rows
    ]


def bench_end_to_end(
    colorizers: dict[str, Any],
    ref_colorizer,
    jpegs: dict[int, Path],
    tmp: Path,
    reps: dict[int, int],
    budget: float | None = None,
) -> tuple[list[list[str]], dict[tuple[str, int], float]]:
    pipelines: dict[str, tuple[Callable, Any]] = {name: (tinct_pipeline, c) for name, c in colorizers.items()}
    pipelines["reference (scikit-image)"] = (reference_pipeline, ref_colorizer)
    results: dict[tuple[str, int], float] = {}
    for name, (run, colorizer) in pipelines.items():
        run(colorizer, jpegs[1], tmp / "warmup.jpg")  # warm-up: imports, allocator, model
        for mp, path in jpegs.items():
            dst = tmp / f"out_{mp}.jpg"
            results[name, mp] = timeit(
                lambda run=run, c=colorizer, p=path, d=dst: run(c, p, d), reps[mp], warmup=0, budget=budget
            )
            print(f"  end-to-end {name:<26} {mp:>2} MP: {results[name, mp]:.2f} s", flush=True)
    rows = []
    ref = "reference (scikit-image)"
    for mp in jpegs:
        for name in pipelines:
            t = results[name, mp]
            rows.append([f"{mp} MP", name, f"{t:.2f}", f"{mp / t:.1f}", f"{results[ref, mp] / t:.1f}x"])
    return rows, results


def bench_model(colorizers: dict[str, Any], reps: int) -> tuple[list[list[str]], dict[str, float]]:
    rows, times = [], {}
    threads = torch.get_num_threads()
    runs = [(name, c, threads) for name, c in colorizers.items()]
    if threads > 1:  # OpenMP's barriers suffer most when other processes share the cores
        runs.insert(1, ("tinct (torch), 1 thread", colorizers["tinct (torch)"], 1))
    for name, c, n in runs:
        h, w = c.working_shape(*SIZES_MP[12][::-1])
        L = np.random.default_rng(0).uniform(0, 100, (h, w)).astype(np.float32)
        torch.set_num_threads(n)
        try:
            t = timeit(lambda c=c, L=L: c.predict_ab(L), reps, warmup=2, budget=30)
        finally:
            torch.set_num_threads(threads)
        times[name] = t
        rows.append([name, f"{h}x{w}", f"{t * 1e3:.0f}"])
    return rows, times


def bench_hints(colorizer, reps: int) -> list[list[str]]:
    """Median ms of the hint propagation (`tinct.inference.hints.propagate_hints`) on a 12 MP photo
    at the colorizer's working size, for several hint counts (random places and colors)."""
    from tinct.color.lab import rgb_to_lightness
    from tinct.inference.colorizer import HINT_PATCH
    from tinct.inference.hints import propagate_hints, rasterize_hints

    width, height = SIZES_MP[12]
    L = rgb_to_lightness(torch.from_numpy(photo_like(width, height, seed=5)).permute(2, 0, 1)).numpy()
    L_small = colorizer.working_lightness(L)
    # The propagation's cost does not depend on the predicted a*b*, only on its grid: the model's
    # output resolution.
    ab = np.zeros((2, *colorizer.predict_ab(L_small).shape[-2:]), np.float32)
    rng = np.random.default_rng(0)
    rows = []
    for count in (1, 10, 50):
        xs, ys = rng.uniform(0, width, count), rng.uniform(0, height, count)
        colors = rng.integers(0, 256, (count, 3))
        hints = [(float(x), float(y), tuple(int(c) for c in rgb)) for x, y, rgb in zip(xs, ys, colors, strict=True)]
        tensor = rasterize_hints(hints, (height, width), tuple(L_small.shape), HINT_PATCH)
        t = timeit(lambda tensor=tensor: propagate_hints(ab, L_small, tensor), reps, budget=30)
        grids = f"{L_small.shape[0]}x{L_small.shape[1]}", f"{ab.shape[1]}x{ab.shape[2]}"
        rows.append([str(count), *grids, f"{t * 1e3:.0f}"])
    return rows


def bench_reference(colorizers: dict[str, Any], tmp: Path, reps: int) -> list[list[str]]:
    """Median seconds of a 12 MP grayscale JPEG → colorized JPEG, without and with a color
    reference photo (12 MP JPEG, read and prepared in each run, as one `tinct colorize
    --reference` does), per backend. The reference is the same scene shifted by a quarter, so
    matching finds (and densifies) many matches: the costly case."""
    from tinct.io.images import read_image, write_image

    width, height = SIZES_MP[12]
    scene = photo_like(width + width // 4, height, seed=12)
    gray, ref = tmp / "ref_target.jpg", tmp / "ref_color.jpg"
    Image.fromarray(scene[:, :width]).convert("L").save(gray, quality=95)
    Image.fromarray(scene[:, width // 4 :]).save(ref, quality=95)
    rows = []
    for name, c in colorizers.items():
        plain = timeit(lambda c=c: write_image(tmp / "o.jpg", c.colorize(read_image(gray)), quality=95), reps)
        with_ref = timeit(
            lambda c=c: write_image(tmp / "o.jpg", c.colorize(read_image(gray), reference=ref), quality=95), reps
        )
        rows.append([name, f"{plain:.2f}", f"{with_ref:.2f}", f"{with_ref - plain:+.2f}"])
        print(f"  reference {name}: {plain:.2f} s → {with_ref:.2f} s", flush=True)
    return rows


def reference_section(colorizers: dict[str, Any], reps: int) -> tuple[str, str, list[str], list[list[str]]]:
    with tempfile.TemporaryDirectory(prefix="tinct-bench-") as tmp_name:
        rows = bench_reference(colorizers, Path(tmp_name), reps)
    return (
        "Reference photo (`--reference`), 12 MP photo end to end",
        "Median seconds of read 12 MP gray JPEG → `Colorizer.colorize` → write JPEG q95, without and with a "
        "12 MP color reference (read and matched in each run; `tinct.inference.reference`).",
        ["backend", "automatic s", "with reference s", "added s"],
        rows,
    )


#: (label, recipe) pairs for the training rows: the issue-13 default's recipe and today's.
TRAINING_RECIPES = (
    ("before: issue 13 (configs/people-lite2-feat.toml)", "people-lite2-feat.toml"),
    ("after: shipped (configs/default.toml)", "default.toml"),
)


def bench_training(photos: int) -> list[list[str]]:
    """Photos per second of the real training loop (`tinct.train.fit`) at each recipe of
    `TRAINING_RECIPES`: one epoch over the first ``photos`` shared training photos, without
    validation; a recipe with a cache folder builds it in a fresh temporary folder first."""
    import dataclasses

    from tinct.io.images import list_images
    from tinct.train import fit, load_config

    subset = list_images(PHOTOS / "train")[:photos] if (PHOTOS / "train").is_dir() else []
    if not subset:
        return [["(no training photos found)", "-", "-", "-", "-"]]
    rows = []
    with tempfile.TemporaryDirectory(prefix="tinct-bench-train-") as tmp:
        listing = Path(tmp) / "photos.txt"
        listing.write_text("".join(f"{p.resolve()}\n" for p in subset))
        for i, (label, recipe) in enumerate(TRAINING_RECIPES):
            cfg = load_config(ROOT / "configs" / recipe)
            cfg = dataclasses.replace(
                cfg, data="", file_list=str(listing), extra_data=[], val=None, val_fraction=0.0, epochs=1,
                samples=0, out=f"{tmp}/run{i}", cache=cfg.cache and f"{tmp}/cache{i}",
            )  # fmt: skip
            t0 = time.perf_counter()
            fit(cfg)
            total = time.perf_counter() - t0
            with open(f"{tmp}/run{i}/metrics.csv") as f:
                epoch = float(list(csv.DictReader(f))[0]["seconds"])
            setup = f"{cfg.size} px, batch {cfg.batch_size}, {cfg.workers} worker(s), {cfg.threads} thread(s)"
            rows.append([label, setup, f"{total - epoch:.1f}", f"{epoch:.1f}", f"{len(subset) / epoch:.2f}"])
    return rows


def bench_loader(n_images: int) -> list[list[str]]:
    from torch.utils.data import DataLoader

    from tinct.data import ColorDataset

    train = PHOTOS / "train"
    if not train.is_dir():
        return [["(no training photos found)", "-", "-", "-"]]
    t0 = time.perf_counter()
    dataset = ColorDataset(train, 256, train=True)
    setup = time.perf_counter() - t0
    rows = []
    for workers in (0, 2):
        loader = DataLoader(dataset, batch_size=16, shuffle=True, num_workers=workers)
        seen = 0
        t0 = time.perf_counter()
        for L, _ab in loader:
            seen += len(L)
            if seen >= n_images:
                break
        t = time.perf_counter() - t0
        rows.append([f"ColorDataset 256x256, batch 16, workers={workers}", f"{len(dataset)}", f"{seen / t:.0f}"])
    rows.append(["(dataset setup: decode + cache all photos, once)", f"{len(dataset)}", f"{setup:.1f} s"])
    return rows


def proc_status(key: str) -> int:
    """A size in bytes from /proc/self/status, e.g. ``"VmRSS"`` (resident now) or ``"VmHWM"``
    (its peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def child_memory(pipeline: str, image: str, model: str | None, backend: str, onnx_path: str | None) -> None:
    """Run in a child process: peak RSS of one colorization above the post-load baseline."""
    colorizer, _ = load_colorizer(model, backend=backend, onnx_path=onnx_path)
    if pipeline == "reference":
        import skimage.color  # noqa: F401
        import skimage.transform  # noqa: F401
    else:  # the compiled color kernels are loaded code, like the model: not per-photo memory
        from tinct.color._compiled import compiled as _ext

        _ext()
    baseline = proc_status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:  # reset VmHWM to the current RSS (Linux ≥ 4.0)
        f.write("5")
    with tempfile.TemporaryDirectory(prefix="tinct-bench-") as tmp:
        run = reference_pipeline if pipeline == "reference" else tinct_pipeline
        run(colorizer, Path(image), Path(tmp) / "out.jpg")
        peak = proc_status("VmHWM")
    print(json.dumps({"baseline": baseline, "peak": peak}))


def bench_memory(
    jpegs: dict[int, Path], model: str | None, pipelines: list[tuple[str, tuple[str, str]]], onnx_path: Path | None
) -> list[list[str]]:
    rows = []
    for label, (pipeline, backend) in pipelines:
        cmd = [sys.executable, __file__, "--child-memory", pipeline, "--image", str(jpegs[24]), "--backend", backend]
        if model:
            cmd += ["--model", model]
        if backend == "onnxruntime" and onnx_path is not None:
            cmd += ["--onnx", str(onnx_path)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            rows.append([label, "failed", res.stderr.strip().splitlines()[-1] if res.stderr else "?"])
            continue
        data = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append([label, f"{data['baseline'] / 2**20:.0f}", f"{(data['peak'] - data['baseline']) / 2**20:.0f}"])
    return rows


# --------------------------------------------------------------------------------------------
# Video

#: (label, width, height, frames) of the speed clips; the memory clips are 1080p of two lengths.
VIDEO_CLIPS = [("768x576", 768, 576, 150), ("1920x1080", 1920, 1080, 60)]
VIDEO_MEMORY_FRAMES = (40, 160)


def make_gray_clip(path: Path, width: int, height: int, frames: int, rate: int = 25) -> Path:
    """A gray film: a slow pan and zoom over a real photo (:func:`photo_like`, with grain), a cut to
    a second view halfway, encoded with libx264 (ultrafast, so making it is quick)."""
    import av

    big = Image.fromarray(photo_like(int(width * 1.5), int(height * 1.5), seed=1)).convert("L")
    rng = np.random.default_rng(0)
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=rate)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {"preset": "ultrafast", "crf": "20"}
    for i in range(frames):
        t = i if i < frames // 2 else frames - i
        zoom = 1.0 - 0.002 * t
        cw, ch = int(width * 1.2 * zoom), int(height * 1.2 * zoom)
        x0, y0 = (2 * t) % (big.width - cw), t % (big.height - ch)
        if i >= frames // 2:
            x0, y0 = big.width - cw - x0, big.height - ch - y0
        crop = np.asarray(big.crop((x0, y0, x0 + cw, y0 + ch)).resize((width, height), Image.BILINEAR), np.int16)
        crop = np.clip(crop + rng.normal(0, 2, crop.shape), 0, 255).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(np.repeat(crop[:, :, None], 3, axis=2), format="rgb24")
        frame.pts = i
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)
    container.close()
    return path


def bench_video(colorizer, folder: Path, reps: int) -> list[list[str]]:
    """Frames per second of `tinct colorize clip.mp4` (decode → model → filter → recombine → H.264
    encode, overlapped), default (keyframes every 2nd frame) and with the model on every frame."""
    from tinct.video import StabilizerConfig, colorize_video

    rows = []
    for label, width, height, frames in VIDEO_CLIPS:
        clip = make_gray_clip(folder / f"clip_{label}.mp4", width, height, frames)
        for mode, config in (
            ("tinct (model every 2nd frame, filtered)", StabilizerConfig()),
            ("model on every frame, filtered", StabilizerConfig(keyframe_interval=1)),
        ):
            out = folder / "out.mp4"
            run = lambda c=config, i=clip, o=out: colorize_video(colorizer, i, o, overwrite=True, config=c)  # noqa: E731
            seconds = timeit(run, reps)
            rows.append([label, f"{frames}", mode, f"{seconds:.2f}", f"{frames / seconds:.1f}"])
    return rows


def bench_video_threads(folder: Path, model: str | None, reps: int = 1) -> list[list[str]]:
    """Whole `tinct colorize clip.mp4` processes on the 72-frame 768x576 clip: torch with the thread
    count that was its default before films ran the model on one torch thread (one per core, i.e.
    `--threads <cores>`), torch with today's default, and ONNX Runtime (`--backend auto`)."""
    from tinct.inference.backends import onnxruntime_available
    from tinct.threads import get_num_threads

    clip = make_gray_clip(folder / "clip_72.mp4", 768, 576, 72)
    cores = get_num_threads()
    runs = [
        (
            f"torch, {cores} torch threads (the default before; `--threads {cores}`)",
            ["--backend", "torch", "--threads", str(cores)],
        ),
        ("torch, default threads (now: the model on 1 torch thread)", ["--backend", "torch"]),
    ]
    if onnxruntime_available():
        runs.append(("ONNX Runtime, default threads (`--backend auto`)", []))
    model_args = ["--model", model] if model else []
    rows = []
    for label, extra in runs:
        command = [sys.executable, "-m", "tinct", "colorize", str(clip), "-o", str(folder / "out_72.mp4")]
        command += ["--overwrite", "-q", *model_args, *extra]
        if not extra:  # ONNX Runtime: a warm-up run makes the ONNX export the cache then holds
            subprocess.run(command, check=True)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            subprocess.run(command, check=True)
            times.append(time.perf_counter() - t0)
        seconds = statistics.median(times)
        rows.append([label, "72", f"{seconds:.2f}", f"{72 / seconds:.1f}"])
    return rows


def child_video_memory(clip: str, model: str | None, backend: str, onnx_path: str | None) -> None:
    """Run in a child process: peak RSS of colorizing one video, above the post-load baseline."""
    from tinct.color._compiled import compiled as _ext
    from tinct.io.video import import_av
    from tinct.video import colorize_video

    colorizer, _ = load_colorizer(model, backend=backend, onnx_path=onnx_path)
    _ext()
    import_av()
    baseline = proc_status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    with tempfile.TemporaryDirectory(prefix="tinct-bench-") as tmp:
        report = colorize_video(colorizer, clip, Path(tmp) / "out.mp4")
        peak = proc_status("VmHWM")
    print(json.dumps({"baseline": baseline, "peak": peak, "frames": report.frames}))


def bench_video_memory(folder: Path, model: str | None, backend: str, onnx_path: Path | None) -> list[list[str]]:
    rows = []
    for frames in VIDEO_MEMORY_FRAMES:
        clip = make_gray_clip(folder / f"mem_{frames}.mp4", 1920, 1080, frames)
        cmd = [sys.executable, __file__, "--child-video", str(clip), "--backend", backend]
        if model:
            cmd += ["--model", model]
        if backend == "onnxruntime" and onnx_path is not None:
            cmd += ["--onnx", str(onnx_path)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            reason = res.stderr.strip().splitlines()[-1] if res.stderr else "?"
            rows.append([f"1920x1080, {frames} frames", "failed", reason])
            continue
        data = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append(
            [
                f"1920x1080, {data['frames']} frames ({data['frames'] / 25:.1f} s)",
                f"{data['baseline'] / 2**20:.0f}",
                f"{(data['peak'] - data['baseline']) / 2**20:.0f}",
            ]
        )
    return rows


# --------------------------------------------------------------------------------------------
# Report


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions; skip the reference memory run")
    parser.add_argument("--model", help="weights (.safetensors path or bundled name); default: bundled or untrained")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's, i.e. the cores)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS.md"), help="markdown report to write")
    parser.add_argument("--baseline", default=None, help="git commit for the whole-process rows (see startup.py)")
    parser.add_argument(
        "--ddcolor",
        metavar="CHECKOUT",
        help="run only the DDColor section (benchmarks/ddcolor_bench.py): tinct vs the authors' pipeline from this "
        "checkout of github.com/piddnad/DDColor (a missing one skips their rows); writes DDCOLOR_RESULTS.md",
    )
    parser.add_argument("--ddcolor-sizes", default="tiny,large", help=argparse.SUPPRESS)
    parser.add_argument("--video-only", action="store_true", help="only the video sections (writes --out too)")
    parser.add_argument(
        "--reference-only", action="store_true", help="only the reference-photo section (prints it; writes nothing)"
    )
    parser.add_argument(
        "--video-threads-only",
        action="store_true",
        help="only the 72-frame clip on torch (threads before / now) and ONNX Runtime; writes --out "
        "(default then benchmarks/VIDEO_THREADS.md)",
    )
    parser.add_argument("--child-memory", choices=("tinct", "reference"), help=argparse.SUPPRESS)
    parser.add_argument("--child-video", help=argparse.SUPPRESS)
    parser.add_argument("--image", help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="torch", help=argparse.SUPPRESS)
    parser.add_argument("--onnx", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.ddcolor is not None:
        from ddcolor_bench import run as run_ddcolor

        sizes = args.ddcolor_sizes.split(",")
        out = ROOT / "benchmarks" / "DDCOLOR_RESULTS.md"
        return run_ddcolor(Path(args.ddcolor) if args.ddcolor else None, sizes, 1, out, rounds=1 if args.quick else 3)
    if args.child_memory:
        child_memory(args.child_memory, args.image, args.model, args.backend, args.onnx)
        return 0
    if args.child_video:
        child_video_memory(args.child_video, args.model, args.backend, args.onnx)
        return 0

    started = time.time()
    load_start = os.getloadavg()
    scratch = tempfile.TemporaryDirectory(prefix="tinct-bench-")  # the ONNX file, removed at exit
    reps = 2 if args.quick else 5
    e2e_reps = {1: 2, 12: 2, 24: 1} if args.quick else {1: 5, 12: 3, 24: 3}
    sections: list[tuple[str, str, str]] = []

    def section(title: str, note: str, header: list[str], rows: list[list[str]]) -> None:
        text = table(header, rows)
        print(f"\n## {title}\n{note}\n\n{text}\n", flush=True)
        sections.append((title, note, text))

    video_threads = (
        "Video on torch and ONNX Runtime: a 72-frame clip as whole `tinct colorize` processes",
        "Seconds of `python -m tinct colorize clip_72.mp4 -o out.mp4` as a whole process (768x576, 25 fps, "
        "made like the video section's clips; model load included; ONNX Runtime after one warm-up run that "
        "exports the model into the cache) and frames per second. One run each with --quick.",
        ["run", "frames", "seconds", "frames/s"],
    )
    if args.video_threads_only:
        if args.out == parser.get_default("out"):
            args.out = str(ROOT / "benchmarks" / "VIDEO_THREADS.md")
        with tempfile.TemporaryDirectory(prefix="tinct-bench-") as tmp_name:
            section(*video_threads, bench_video_threads(Path(tmp_name), args.model, reps=1 if args.quick else 3))

    if not (args.video_only or args.video_threads_only or args.reference_only):
        print("color conversion ...", flush=True)
        section(
            "Color conversion, 12 MP float32 (3000x4000)",
            "Median ms; speed-up vs scikit-image; max abs error vs scikit-image float64 "
            "(L*a*b* units forward, sRGB [0, 1] inverse). tinct: `tinct.color.fast` on a (3, H, W) tensor.",
            ["method", "RGB→Lab ms", "vs skimage", "max err", "Lab→RGB ms", "vs skimage", "max err"],
            bench_conversion(reps),
        )

        print("whole processes ...", flush=True)
        from startup import DEFAULT_BASELINE, bench_startup

        rows, note = bench_startup(args.baseline or DEFAULT_BASELINE, photos=8 if args.quick else 20, reps=reps)
        title = "Whole `tinct` processes: one photo, --help, the server, a folder"
        section(title, note, ["", "now", "baseline", "ratio"], rows)

    if args.video_threads_only:
        return _write_report(args, argv, sections, started, load_start)
    colorizer, model_desc = load_colorizer(args.model)
    colorizers = {"tinct (torch)": colorizer}
    export_note = "onnxruntime not installed"
    onnx_path = None
    from tinct.inference.backends import onnxruntime_available

    if onnxruntime_available():
        from tinct.export.onnx import export_onnx
        from tinct.inference import Colorizer

        onnx_path = Path(scratch.name) / "model.onnx"
        t0 = time.perf_counter()
        export_onnx(colorizer.model, onnx_path)
        export_note = f"ONNX export + verification took {time.perf_counter() - t0:.1f} s (once, cached by the CLI)"
        colorizers["tinct (onnxruntime)"] = Colorizer(
            colorizer.model, size=colorizer.size, backend="onnxruntime", onnx_path=onnx_path
        )

    if args.reference_only:
        title, note, header, rows = reference_section(colorizers, reps)
        print(f"\n## {title}\n{note}\n\n{table(header, rows)}\n", flush=True)
        return 0
    if not args.video_only:
        print("model ...", flush=True)
        rows, model_times = bench_model(colorizers, reps=10 if not args.quick else 3)
        section(
            "Model alone at its working size (12 MP photo → 4:3 working size)",
            f"Median ms of `Colorizer.predict_ab` (decoding included). Model: {model_desc}. {export_note}.",
            ["backend", "input", "ms"],
            rows,
        )
        print("hints ...", flush=True)
        section(
            "Hint propagation, 12 MP photo",
            "Median ms of `tinct.inference.hints.propagate_hints` (geodesic spreading of the hints' "
            "corrections over the a*b* grid) at the working size, hints at random places.",
            ["hints", "working L*", "a*b* grid", "ms"],
            bench_hints(colorizer, reps=3 if args.quick else 7),
        )
        print("reference photo ...", flush=True)
        section(*reference_section(colorizers, reps=3 if args.quick else 5))
        # The reference pipeline runs the same model on the faster backend, so that its comparison
        # with tinct measures the full-resolution pre/post-processing, not the backend.
        fastest = min((name for name in colorizers), key=lambda name: model_times[name])

        with tempfile.TemporaryDirectory(prefix="tinct-bench-") as tmp_name:
            tmp = Path(tmp_name)
            jpegs = make_jpegs(tmp)
            print("end-to-end ...", flush=True)
            rows, results = bench_end_to_end(colorizers, colorizers[fastest], jpegs, tmp, e2e_reps, budget=90)
            section(
                "End-to-end: grayscale JPEG file in → colorized JPEG (q95, 4:4:4) file out",
                f"Median seconds; megapixels per second; speed-up vs the reference pipeline: scikit-image "
                f"float64 rgb2lab of the whole image, skimage.transform.resize down and up, lab2rgb, around "
                f"the same model ({model_desc}) run by the same backend as `{fastest}`, with the same "
                f"tinct.io read/write. Repetitions per size: {e2e_reps} (fewer when 90 s were used up).",
                ["photo", "pipeline", "seconds", "MP/s", "vs reference"],
                rows,
            )
            print("memory ...", flush=True)
            pipelines = [("tinct (torch)", ("tinct", "torch"))]
            if "tinct (onnxruntime)" in colorizers:
                pipelines.append(("tinct (onnxruntime)", ("tinct", "onnxruntime")))
            if not args.quick:
                pipelines.append(("reference (scikit-image)", ("reference", colorizers[fastest].backend.name)))
            section(
                "Peak memory, 24 MP photo (6000x4000), one colorization in a child process",
                "MiB. Baseline: resident set (/proc VmRSS) after imports and model load; peak: VmHWM "
                "(reset to the baseline through /proc/self/clear_refs) during read → colorize → write, minus "
                "the baseline. (getrusage(RUSAGE_CHILDREN) is not used: a forked child is charged the "
                "parent's pages until it execs.)",
                ["pipeline", "baseline MiB", "peak above baseline MiB"],
                bench_memory(jpegs, args.model, pipelines, onnx_path),
            )

    if not args.video_only:
        print("training ...", flush=True)
        section(
            "Training at the shipped recipe",
            "`tinct.train.fit` for one epoch over the first 96 shared training photos, no validation; start-up: "
            "model, loss and photos (decoded, or a cache built) before the epoch; photos/s over the epoch.",
            ["recipe", "setup", "start-up s", "epoch s", "photos/s"],
            bench_training(96),
        )
        print("data loader ...", flush=True)
        section(
            "Data loader",
            f"Images per second from `tinct.data.ColorDataset` over {PHOTOS / 'train'} (random resized 256x256 "
            "crops, flip, rgb_to_lab; photos cached in memory after the first epoch's decode).",
            ["loader", "photos", "images/s"],
            bench_loader(64 if args.quick else 192),
        )

    if onnx_path is not None:  # video runs on the backend `tinct colorize` picks by default (auto)
        from tinct.inference import Colorizer

        video_colorizer = Colorizer(colorizer.model, size=colorizer.size, backend="onnxruntime", onnx_path=onnx_path)
    else:
        video_colorizer = colorizer
    with tempfile.TemporaryDirectory(prefix="tinct-bench-") as tmp_name:
        print("video ...", flush=True)
        section(
            "Video: gray clip in → colorized H.264 MP4 out (`tinct colorize clip.mp4`)",
            f"Median seconds of `tinct.video.colorize_video` ({video_colorizer.backend.name}); frames per second. "
            "Clips: a pan and zoom over a real photo with grain and a cut halfway, 25 fps, libx264. "
            "Decoding, L*, the model, the temporal filter, recombination and encoding (libx264 veryfast, "
            "crf 18) overlap in three threads.",
            ["clip", "frames", "mode", "seconds", "frames/s"],
            bench_video(video_colorizer, Path(tmp_name), reps=1 if args.quick else 3),
        )
        print("video memory ...", flush=True)
        section(
            "Peak memory, colorizing a 1080p clip, two lengths, each in a child process",
            "MiB. Baseline: VmRSS after imports, model load and loading the compiled color kernels and PyAV; "
            "peak: VmHWM (reset through /proc/self/clear_refs) during colorize_video, minus the baseline. Frames are "
            "streamed, so the peak should not grow with the clip's length.",
            ["clip", "baseline MiB", "peak above baseline MiB"],
            bench_video_memory(Path(tmp_name), args.model, video_colorizer.backend.name, onnx_path),
        )
        print("video threads ...", flush=True)
        section(*video_threads, bench_video_threads(Path(tmp_name), args.model, reps=1 if args.quick else 3))
    return _write_report(args, argv, sections, started, load_start)


def _write_report(args: argparse.Namespace, argv, sections, started: float, load_start) -> int:
    elapsed = time.time() - started
    vers = versions()
    given = argv if argv is not None else sys.argv[1:]
    command = "python benchmarks/bench.py " + " ".join(shlex.quote(a) for a in given)
    header = [
        "# tinct benchmark results",
        "",
        "Generated by `benchmarks/bench.py` (`make bench`); do not edit by hand.",
        "",
        f"- Machine: {cpu_model()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()),
        f"- Command: `{command.strip()}`",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}, {elapsed / 60:.1f} minutes",
        f"- Load average (1 min) at start / end: {load_start[0]:.1f} / {os.getloadavg()[0]:.1f} "
        "(other processes share the cores: times are noisy)",
        "",
    ]
    body = [f"## {title}\n\n{note}\n\n{text}\n" for title, note, text in sections]
    Path(args.out).write_text("\n".join(header) + "\n" + "\n".join(body))
    print(f"wrote {args.out} ({elapsed / 60:.1f} minutes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
