"""Copy the color photographs that ship inside scikit-image into a folder, as an independent test
set: tinct never trains or chooses anything on them (the project keeps images bundled in Python
packages out of training and validation for exactly this).

    python scripts/independent_photos.py data/independent
    tinct eval data/independent --model default --model first-default.safetensors

Only real RGB photographs are taken; scikit-image's synthetic RGB images (chessboard, color wheel,
phantom) and the right view of the motorcycle stereo pair (a near copy of the left) are left out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "motorcycle_left.png",
    "retina.jpg",
    "rocket.jpg",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    import skimage  # the dev extra; imported here so --help works without it

    source = Path(skimage.__file__).parent / "data"
    args.out.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        Image.open(source / name).convert("RGB").save(args.out / (Path(name).stem + ".png"))
    print(f"wrote {len(PHOTOS)} photos to {args.out}")


if __name__ == "__main__":
    main()
