"""Link the fixed val split of each shared photo pool into its own folder, for `tinct eval`.

The split is the one `tinct train --val-fraction 0.04` carves (tinct.data.splits: a hash of each
file name), so the models trained with configs/default.toml never saw these photos. One folder per
pool, plus `val-people`: the portraits, street-people and faces splits together.

    python scripts/make_val_splits.py ../shared/data/photos data/splits
    tinct eval data/splits/val-people --model default ...
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from tinct.data.splits import carve_val
from tinct.io.images import list_images

POOLS = ("imagenet", "portraits", "street-people", "faces", "scenes")
PEOPLE = ("portraits", "street-people", "faces")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", type=Path, help="the shared photo folder (holding the pools)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--fraction", type=float, default=0.04, help="as configs/default.toml's val_fraction")
    args = parser.parse_args()
    for pool in POOLS:
        _, val = carve_val(list_images(args.photos / pool), args.fraction)
        for folder in (args.out / f"val-{pool}", *([args.out / "val-people"] if pool in PEOPLE else [])):
            folder.mkdir(parents=True, exist_ok=True)
            for path in val:
                link = folder / path.name
                if not link.is_symlink():
                    os.symlink(path.resolve(), link)
        print(f"val-{pool}: {len(val)} photos")


if __name__ == "__main__":
    main()
