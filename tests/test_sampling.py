"""tinct.data.sampling: epochs drawn in fixed shares per source folder."""

import numpy as np
import pytest
import torch

from tinct.data.dataset import ColorDataset
from tinct.data.sampling import SourceBalancedSampler


def test_shares_hold_and_a_small_source_repeats_only_after_a_full_pass():
    sources = [0] * 90 + [1] * 10  # 100 photos: a big folder and a small one
    sampler = SourceBalancedSampler(sources, [0.7, 0.3])
    drawn = list(sampler)
    assert len(drawn) == len(sampler) == 100
    photos = [i % 100 for i in drawn]
    assert sum(sources[p] for p in photos) == 30  # 30 draws from the 10-photo folder
    # each small-folder photo three times, as itself, +100 and +200 (distinct views, never copies)
    small = sorted(i for i in drawn if sources[i % 100] == 1)
    assert small == sorted(p + k * 100 for p in range(90, 100) for k in range(3))
    big = [i for i in drawn if sources[i % 100] == 0]
    assert len(set(big)) == len(big) == 70 and max(big) < 100  # no big-folder photo twice


def test_draws_depend_on_seed_and_epoch_only_and_split_over_processes():
    sources = [0] * 7 + [1] * 5 + [2] * 3
    one = SourceBalancedSampler(sources, [1, 1, 1], seed=3)
    again = SourceBalancedSampler(sources, [1, 1, 1], seed=3)
    assert list(one) == list(again)
    one.set_epoch(1)
    assert list(one) != list(again)
    again.set_epoch(1)
    ranks = [SourceBalancedSampler(sources, [1, 1, 1], num_replicas=2, rank=r, seed=3) for r in range(2)]
    for r in ranks:
        r.set_epoch(1)
    first, second = (list(r) for r in ranks)
    assert len(first) == len(second) == 8  # 15 draws padded to 16
    interleaved = [x for pair in zip(first, second, strict=True) for x in pair]
    assert interleaved[:15] == list(again)


def test_a_weight_for_an_empty_source_or_a_bad_weight_is_refused():
    with pytest.raises(ValueError, match=r"source\(s\) \[1\]"):
        SourceBalancedSampler([0, 0], [1, 1])
    with pytest.raises(ValueError, match="≥ 0"):
        SourceBalancedSampler([0, 1], [1, -1])
    with pytest.raises(ValueError, match=r"source\(s\) \[2\]"):
        SourceBalancedSampler([0, 1, 2], [1, 1])
    assert 0 not in [i % 3 for i in SourceBalancedSampler([0, 1, 1], [0, 1])]


def test_a_repeat_index_is_the_same_photo_seen_through_another_crop(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.full((48, 64, 3), (200, 30, 30), np.uint8)).save(tmp_path / "b.png")
    data = ColorDataset(tmp_path, 32, train=True, seed=0)
    L0, _ = data[0]
    L_again, _ = data[0 + len(data)]
    assert not torch.equal(L0, L_again)  # a new crop of the noisy photo
    _, ab_b = data[1 + len(data)]
    assert ab_b.mean(dim=(1, 2))[0] > 30  # still the red photo, not photo 1 + len of something else
