from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tinct.data import ColorDataset, read_file_list
from tinct.data.hints import simulate_hints
from tinct.data.splits import carve_val

from .conftest import write_photos


def test_dataset_yields_lab_crops(photo_folder):
    ds = ColorDataset(photo_folder, size=32, train=True, seed=1)
    assert len(ds) == 4
    L, ab = ds[0]
    assert L.shape == (1, 32, 32) and ab.shape == (2, 32, 32)
    assert 0 <= L.min() and L.max() <= 100
    assert ab.abs().max() < 128 and ab.abs().max() > 5


def test_skips_unreadable_and_gray_when_training(photo_folder, caplog):
    (photo_folder / "broken.jpg").write_bytes(b"not an image")
    Image.fromarray(np.full((40, 40, 3), 128, np.uint8)).save(photo_folder / "gray.png")
    ds = ColorDataset(photo_folder, size=32, train=True)
    assert len(ds) == 4
    assert len(ds.skipped_unreadable) == 1 and "broken.jpg" in ds.skipped_unreadable[0]
    assert len(ds.skipped_gray) == 1
    assert "broken.jpg" in caplog.text
    assert len(ColorDataset(photo_folder, size=32, train=False, skip_gray=False)) == 5


def test_training_crops_are_seeded_per_epoch(photo_folder):
    a = ColorDataset(photo_folder, size=32, train=True, seed=7)
    b = ColorDataset(photo_folder, size=32, train=True, seed=7)
    assert torch.equal(a[1][1], b[1][1])
    first = a[1][1]
    a.set_epoch(1)
    assert not torch.equal(first, a[1][1])


def test_eval_crop_is_deterministic_center(photo_folder):
    ds = ColorDataset(photo_folder, size=32, train=False)
    ds.set_epoch(5)
    assert torch.equal(ds[0][0], ColorDataset(photo_folder, size=32, train=False)[0][0])


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no usable color images"):
        ColorDataset(tmp_path / "empty", size=32)


def test_file_list(tmp_path, photo_folder):
    listing = tmp_path / "files.txt"
    listing.write_text("# training photos\nphotos/photo_0.png\n\nphotos/sub/photo_0.png\n")
    paths = read_file_list(listing)
    assert [p.name for p in paths] == ["photo_0.png", "photo_0.png"]
    assert len(ColorDataset(paths, size=32)) == 2


def test_simulated_hints_carry_patch_means():
    ab = torch.zeros(64, 2, 16, 16)
    ab[:, 0] = 30.0
    ab[:, 1] = -20.0
    hints = simulate_hints(ab, torch.Generator().manual_seed(0))
    mask = hints[:, 2]
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert torch.allclose(hints[:, 0][mask > 0], torch.tensor(30.0))
    assert torch.allclose(hints[:, 1][mask > 0], torch.tensor(-20.0))
    assert (hints[:, :2][(mask == 0).unsqueeze(1).expand(-1, 2, -1, -1)] == 0).all()
    no_hints = (mask.sum(dim=(1, 2)) == 0).float().mean()
    assert 0.02 < no_hints < 0.4  # geometric(1/8): P(0) = 1/8


def test_cache_folder_is_built_once_and_gives_the_same_crops(tmp_path, photo_folder):
    (photo_folder / "broken.jpg").write_bytes(b"not an image")
    cache = tmp_path / "cache"
    in_memory = ColorDataset(photo_folder, size=32, train=True, seed=3, hints=True, degrade=0.5)
    built = ColorDataset(photo_folder, size=32, train=True, seed=3, hints=True, degrade=0.5, cache_dir=cache)
    assert (cache / "index.json").is_file() and (cache / "pixels.u8").is_file()
    stamp = (cache / "pixels.u8").stat().st_mtime_ns
    reused = ColorDataset(photo_folder, size=32, train=True, seed=3, hints=True, degrade=0.5, cache_dir=cache)
    assert (cache / "pixels.u8").stat().st_mtime_ns == stamp  # mapped, not rebuilt
    assert isinstance(reused.rgb(0), np.memmap)
    assert reused.paths == built.paths == in_memory.paths and len(reused.skipped_unreadable) == 1
    for i in range(len(in_memory)):
        for a, b, c in zip(in_memory[i], built[i], reused[i], strict=True):
            assert torch.equal(a, b) and torch.equal(a, c)


def test_cache_folder_is_rebuilt_when_the_photos_change(tmp_path, photo_folder):
    cache = tmp_path / "cache"
    assert len(ColorDataset(photo_folder, size=32, cache_dir=cache)) == 4
    Image.fromarray(np.full((40, 48, 3), (200, 40, 10), np.uint8)).save(photo_folder / "new.png")
    assert len(ColorDataset(photo_folder, size=32, cache_dir=cache)) == 5
    (cache / "pixels.u8").write_bytes(b"\0" * 10)  # a torn or foreign file is never mapped
    ds = ColorDataset(photo_folder, size=32, cache_dir=cache)
    new = [p.name for p in ds.paths].index("new.png")
    assert len(ds) == 5 and ds.rgb(new)[0, 0].tolist() == [200, 40, 10]


def test_cache_keeps_photos_downscaled_to_the_cache_side(tmp_path):
    write_photos(tmp_path / "big", 1, size=(200, 100))
    ds = ColorDataset(tmp_path / "big", size=32, cache_side=50, cache_dir=tmp_path / "cache")
    assert ds.rgb(0).shape == (50, 100, 3)


def test_val_split_is_fixed_by_file_name():
    names = [f"photo_{i:04d}.jpg" for i in range(4000)]
    train, val = carve_val([Path("a") / n for n in names], 0.04)
    assert 120 < len(val) < 200 and len(train) + len(val) == 4000
    # The same names in another folder, or among other photos, fall on the same side.
    _, val_elsewhere = carve_val([Path("elsewhere") / n for n in names[::3]], 0.04)
    assert {p.name for p in val_elsewhere} == {p.name for p in val} & set(names[::3])
    assert carve_val([Path("x.jpg")], 0.0) == ([Path("x.jpg")], [])
