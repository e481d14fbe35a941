"""A dataset over a folder tree (or a file list) of color photos.

Every item is a square crop converted to CIE L*a*b*: L* (1, S, S) in [0, 100] and a*b* (2, S, S)
in a*b* units. Training items are random resized crops (scale 0.3–1 of the area) with a random
horizontal flip; evaluation items are the centred square resized to S. Randomness comes from
(seed, epoch, index), so an epoch is reproducible whatever the number of loader workers.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from tinct.color.fast import rgb_to_lab  # float32 CPU crops, no gradient: the fast kernels
from tinct.data.cache import PhotoCache
from tinct.data.degrade import apply_old_print, random_old_print
from tinct.data.hints import simulate_hints
from tinct.data.transforms import center_crop_box, random_resized_crop_box
from tinct.io.images import list_images

log = logging.getLogger(__name__)

#: Independent random streams per item; integers only, so every process draws the same numbers
#: (Python salts `hash()` of strings per process, which made hint draws differ between runs).
CROP_STREAM, HINT_STREAM, DEGRADE_STREAM = 0, 1, 2


def item_seed(seed: int, epoch: int, index: int, stream: int) -> int:
    """A 63-bit seed for one random stream of one item in one epoch, the same in every process."""
    state = np.random.SeedSequence([seed, epoch, index, stream]).generate_state(2, np.uint64)
    return int(state[0] >> np.uint64(1))


def read_file_list(path: str | Path) -> list[Path]:
    """Paths listed one per line (blank lines and '#' comments skipped), relative to the list's folder."""
    path = Path(path)
    base = path.parent
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            p = Path(line)
            out.append(p if p.is_absolute() else base / p)
    return out


class ColorDataset(Dataset):
    """Color photos as (L*, a*b*) crops.

    Args:
        source: a folder (walked recursively), an image file, or a list of image paths.
        size: side S of the square crops, in pixels.
        train: random resized crop + flip if True, centre crop otherwise.
        seed: base seed for the per-item randomness.
        skip_gray: drop photos without chroma (they teach nothing); defaults to `train`.
        cache_side: photos are decoded once and kept downscaled so the shorter side is at most
            this many pixels (default 2·S), so epochs never decode JPEGs (`tinct.data.cache`).
        cache_dir: keep the decoded photos in this folder (memory-mapped, reused by later runs
            while the photo list is unchanged) instead of in memory.
        hints: also yield simulated user hints (3, S, S) per item (see `tinct.data.hints`); they
            depend only on (seed, epoch, index), never on batch size or the number of processes.
        degrade: probability that a training item's L* is degraded like an old print
            (`tinct.data.degrade`); its a*b* target stays clean.
    """

    def __init__(
        self,
        source: str | Path | list[Path],
        size: int,
        train: bool = True,
        seed: int = 0,
        skip_gray: bool | None = None,
        cache_side: int | None = None,
        hints: bool = False,
        degrade: float = 0.0,
        cache_dir: str | Path | None = None,
    ) -> None:
        if not 0 <= degrade <= 1:
            raise ValueError(f"degrade must be a probability in [0, 1], got {degrade}")
        self.degrade = degrade
        self.size = size
        self.train = train
        self.seed = seed
        self.epoch = 0
        self.hints = hints
        self.cache_side = 2 * size if cache_side is None else cache_side
        skip_gray = train if skip_gray is None else skip_gray
        paths = list(source) if isinstance(source, (list, tuple)) else list_images(source)
        self._photos = PhotoCache.build(paths, self.cache_side, skip_gray, folder=cache_dir)
        self.paths: list[Path] = self._photos.paths
        self.skipped_unreadable: list[str] = self._photos.skipped_unreadable
        self.skipped_gray: list[str] = self._photos.skipped_gray
        if self.skipped_unreadable:
            log.warning("%d unreadable file(s) skipped", len(self.skipped_unreadable))
        if self.skipped_gray:
            log.info("%d grayscale photo(s) skipped", len(self.skipped_gray))
        if not self.paths:
            raise ValueError(f"{source}: no usable color images found")

    def set_epoch(self, epoch: int) -> None:
        """Change the random crops for a new epoch (call before iterating, as with DistributedSampler)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.paths)

    def rgb(self, index: int) -> np.ndarray:
        """The (possibly downscaled) photo as (H, W, 3) uint8."""
        return self._photos[index]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        """(L* (1, S, S), a*b* (2, S, S)), plus hints (3, S, S) if the dataset was made with hints.

        An index ≥ len(self) is photo ``index % len(self)`` seen again with its own random crop, flip,
        hints and degradation (`tinct.data.sampling` draws repeats of a photo so)."""
        image = Image.fromarray(np.asarray(self.rgb(index % len(self.paths))))
        if self.train:
            rng = random.Random(item_seed(self.seed, self.epoch, index, CROP_STREAM))
            box = random_resized_crop_box(image.width, image.height, rng)
            flip = rng.random() < 0.5
        else:
            box, flip = center_crop_box(image.width, image.height), False
        crop = image.resize((self.size, self.size), Image.BICUBIC, box=box, reducing_gap=2.0)
        rgb = torch.from_numpy(np.array(crop)).permute(2, 0, 1).float().div_(255)
        if flip:
            rgb = rgb.flip(-1)
        lab = rgb_to_lab(rgb)
        L = lab[:1]
        if self.train and self.degrade:
            rng = np.random.default_rng(item_seed(self.seed, self.epoch, index, DEGRADE_STREAM))
            if rng.random() < self.degrade:
                L = torch.from_numpy(apply_old_print(L[0].numpy(), random_old_print(rng), rng))[None]
        if not self.hints:
            return L, lab[1:]
        generator = torch.Generator().manual_seed(item_seed(self.seed, self.epoch, index, HINT_STREAM))
        return L, lab[1:], simulate_hints(lab[None, 1:], generator)[0]
