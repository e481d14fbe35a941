"""Build the old-print version of a photo folder: every photo's L* degraded by the fixed
`tinct.data.degrade.EVAL_PRINT` (fading, uneven exposure, blur, grain, dust, scratches, JPEG blocks
at quality 30), its a*b* kept, written as PNG so nothing else is lost. Deterministic: each photo's
random draws are seeded from its file name, so the same folder always gives the same files.

    python scripts/make_old_prints.py ../shared/data/photos/test data/test-oldprint
    tinct eval data/test-oldprint --model default ...
"""

from __future__ import annotations

import argparse
import zlib
from pathlib import Path

from tinct.data.degrade import EVAL_PRINT, old_print_photo
from tinct.io.images import ImageReadError, list_images, read_image, write_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    paths = list_images(args.photos)
    for path in paths:
        try:
            rgb = read_image(path)
        except ImageReadError as err:
            print(f"skipped: {err}")
            continue
        seed = zlib.crc32(path.name.encode())
        target = args.out / path.relative_to(args.photos).with_suffix(".png")
        write_image(target, old_print_photo(rgb, EVAL_PRINT, seed))
    print(f"wrote {len(paths)} old prints to {args.out}")


if __name__ == "__main__":
    main()
