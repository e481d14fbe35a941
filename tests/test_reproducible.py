"""Training is a function of the recipe and the photos: two separate processes training a hint
model with the same seed end with bit-identical weights.

Each process gets a different PYTHONHASHSEED, so any random stream still seeded from Python's
salted ``hash()`` of a string (as the simulated hints once were) makes the runs differ.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from tinct.io.weights import load_weights

from .conftest import write_photos


def _env(hash_seed: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": hash_seed}


@pytest.mark.slow
def test_two_processes_train_a_hint_model_to_identical_weights(tmp_path):
    write_photos(tmp_path / "data", 6, size=(80, 72))
    jobs = []
    for run, hash_seed in (("a", "1"), ("b", "2")):
        config = tmp_path / f"{run}.toml"
        config.write_text(
            f'data = "{tmp_path / "data"}"\nout = "{tmp_path / run}"\nmodel = "unet"\nsize = 64\nepochs = 2\n'
            'batch_size = 3\nthreads = 1\ndevice = "cpu"\nseed = 7\nlr = 0.001\n'
            'model_args = { decoder_channels = [8, 8, 8, 8], head = "regression", hints = true }\n'
        )
        cmd = [sys.executable, "-m", "tinct", "train", "--config", str(config)]
        jobs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(hash_seed)))
    for job in jobs:
        _, err = job.communicate(timeout=600)
        assert job.returncode == 0, err.decode(errors="replace")[-3000:]

    a, meta = load_weights(tmp_path / "a" / "checkpoints" / "last.safetensors")
    b, _ = load_weights(tmp_path / "b" / "checkpoints" / "last.safetensors")
    assert meta["config"]["hints"] is True and meta["epoch"] == 2
    assert a.keys() == b.keys()
    differ = [name for name in a if not torch.equal(a[name], b[name])]
    assert not differ, f"{len(differ)} of {len(a)} tensors differ, e.g. {differ[:5]}"


def _two_runs(tmp_path, recipe, name, **overrides) -> tuple[dict, dict]:
    """Run `recipe` twice for one short epoch, with `overrides`; return both runs' weights."""
    import dataclasses

    from tinct.train import fit

    weights = []
    for run in ("a", "b"):
        cfg = dataclasses.replace(
            recipe, val=None, val_fraction=0.0, epochs=1, batch_size=4, samples=0,
            out=str(tmp_path / f"{name}-{run}"), cache=str(tmp_path / f"cache-{name}-{run}"), **overrides,
        )  # fmt: skip
        fit(cfg)
        weights.append(load_weights(tmp_path / f"{name}-{run}" / "checkpoints" / "last.safetensors")[0])
    return weights[0], weights[1]


def _assert_same_bits(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    differ = [name for name in a if not torch.equal(a[name], b[name])]
    assert not differ, f"{len(differ)} of {len(a)} tensors differ, e.g. {differ[:5]}"


@pytest.mark.slow
def test_the_shipped_recipe_rebuilds_bit_identical_weights(tmp_path):
    """The shipped default's two stages as their configs say (pretrained encoder, feature loss,
    old-print degradation, hints, the photo cache, a loader worker; the second stage starting from
    the first's weights and drawing in --source-weights shares), on a few photos for two steps each:
    two runs of each stage give the same bits, so the shipped default can be rebuilt from its recipe."""
    from pathlib import Path

    from tinct.train import load_config

    configs = Path(__file__).resolve().parents[1] / "configs"
    write_photos(tmp_path / "data", 8, size=(200, 180))
    write_photos(tmp_path / "more", 4, size=(180, 200))
    for i, photo in enumerate(sorted((tmp_path / "more").iterdir())):
        photo.rename(photo.with_name(f"more_{i}.png"))
    first, again = _two_runs(
        tmp_path, load_config(configs / "default.toml"), "first", data=str(tmp_path / "data"), extra_data=[]
    )
    _assert_same_bits(first, again)
    second = load_config(configs / "default-balanced.toml")
    assert len(second.source_weights) == 1 + len(second.extra_data)
    a, b = _two_runs(
        tmp_path, second, "second", data=str(tmp_path / "data"), extra_data=[str(tmp_path / "more")],
        source_weights=[1, 3], init_from=str(tmp_path / "first-a" / "checkpoints" / "last.safetensors"),
    )  # fmt: skip
    _assert_same_bits(a, b)
    assert any(not torch.equal(first[name], a[name]) for name in first)  # the second stage trained
