#!/bin/sh
# Every results table of MODEL_CARD.md: the bundled models (default, unet-classification, seed), the
# issue-22 first stage (default-6k) and the issue-13 default (previous-default) against gray, on each
# val split, val, the fresh photos, test, and each of them as old prints. Writes docs/results/<set>/
# (per_image.csv, summary.md, grid.jpg). Run from the repo
# root with the venv active, after building the sets:
#   python scripts/make_val_splits.py ../shared/data/photos data/splits
#   for s in people imagenet scenes; do
#     python scripts/make_old_prints.py data/splits/val-$s data/splits/val-$s-oldprint; done
#   make oldprints fresh && python scripts/make_old_prints.py data/fresh data/fresh-oldprint
#   git show 431fade:src/tinct/weights/default.safetensors > data/models/previous-default.safetensors
#   git show 9229cc2:src/tinct/weights/default.safetensors > data/models/default-6k.safetensors
# test/ and test-oldprint are reported only: nothing was chosen on them.
set -eu
PHOTOS=${PHOTOS:-../shared/data/photos}
for set in data/splits/val-people data/splits/val-imagenet data/splits/val-scenes "$PHOTOS/val" \
    data/splits/val-people-oldprint data/splits/val-imagenet-oldprint data/val-oldprint \
    data/fresh data/fresh-oldprint "$PHOTOS/test" data/test-oldprint; do
  tinct eval "$set" --model default --model data/models/default-6k.safetensors \
    --model data/models/previous-default.safetensors \
    --model unet-classification --model seed --threads 1 --out "docs/results/$(basename "$set")"
done
