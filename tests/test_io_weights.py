"""tinct.io.weights: safetensors round trips, safe checkpoint loading, readable key reports."""

from __future__ import annotations

import builtins
import dataclasses
import os

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from tinct.io import (
    METADATA_KEY,
    WeightsError,
    load_state_dict_checked,
    load_torch_checkpoint,
    load_weights,
    save_weights,
)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1))


METADATA = {"model": "unet", "config": {"width": 8, "blocks": [1, 2]}, "version": "0.1.0"}


def test_round_trip_with_metadata(tmp_path):
    sd = _model().state_dict()
    path = save_weights(tmp_path / "w.safetensors", sd, METADATA)
    loaded, meta = load_weights(path)
    assert meta == METADATA
    assert loaded.keys() == sd.keys()
    for k, v in sd.items():
        assert loaded[k].dtype == v.dtype and torch.equal(loaded[k], v)
    assert loaded["1.num_batches_tracked"].dtype == torch.int64
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]  # no temp left behind


def test_fp16_halves_floats_and_loads_as_float32(tmp_path):
    sd = nn.Linear(32, 32).state_dict() | {"step": torch.tensor(7)}  # big enough to outweigh the header
    full = save_weights(tmp_path / "full.safetensors", sd, METADATA)
    half = save_weights(tmp_path / "half.safetensors", sd, METADATA, dtype=torch.float16)
    assert half.stat().st_size < 0.75 * full.stat().st_size
    loaded, meta = load_weights(half)
    assert meta == METADATA
    assert loaded["weight"].dtype == torch.float32
    torch.testing.assert_close(loaded["weight"], sd["weight"], atol=1e-3, rtol=1e-3)
    assert loaded["step"].dtype == torch.int64 and loaded["step"] == 7  # integers are never cast


def test_tied_and_noncontiguous_tensors_save(tmp_path):
    w = torch.randn(3, 4)
    sd = {"a": w, "b": w, "t": w.t()}  # shared storage + a non-contiguous view
    loaded, _ = load_weights(save_weights(tmp_path / "tied.safetensors", sd, {}))
    assert torch.equal(loaded["a"], w) and torch.equal(loaded["b"], w) and torch.equal(loaded["t"], w.t())


def test_foreign_safetensors_has_empty_metadata(tmp_path):
    save_file({"x": torch.ones(2, dtype=torch.float64)}, tmp_path / "f.safetensors")
    loaded, meta = load_weights(tmp_path / "f.safetensors")
    assert meta == {} and loaded["x"].dtype == torch.float32


def _message(path, loader=load_weights) -> str:
    with pytest.raises(WeightsError) as info:
        loader(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ") and "\n" not in text
    return text


def test_bad_weight_files(tmp_path):
    assert _message(tmp_path / "missing.safetensors").endswith("no such file")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    assert "empty file" in _message(tmp_path / "empty.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(os.urandom(64))
    assert "not a safetensors file" in _message(tmp_path / "junk.safetensors")
    torch.save({"w": torch.ones(2)}, tmp_path / "model.pt")
    assert "pickled PyTorch checkpoint" in _message(tmp_path / "model.pt")
    save_file({"x": torch.ones(1)}, tmp_path / "meta.safetensors", metadata={METADATA_KEY: "{not json"})
    assert "not valid JSON" in _message(tmp_path / "meta.safetensors")
    with pytest.raises(ValueError, match="JSON"):
        save_weights(tmp_path / "x.safetensors", {}, {"bad": object()})


class _Payload:
    """Unpickling this runs code: the attack weights_only=True exists to stop."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.exec, (f"open({self.marker!r}, 'w').close()",))


def test_malicious_pickle_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save({"model": {"w": torch.ones(1)}, "x": _Payload(marker)}, path)
    text = _message(path, load_torch_checkpoint)
    assert "arbitrary Python objects" in text and "execute code" in text and "exec" in text
    assert not marker.exists()
    # The payload is real: an unsafe load would have run it.
    torch.load(path, weights_only=False)
    assert marker.exists()


@dataclasses.dataclass
class _Config:
    width: int = 8


def test_checkpoint_loading(tmp_path):
    path = tmp_path / "ok.ckpt"
    torch.save({"step": 3, "model": {"w": torch.arange(3)}, "rng": torch.get_rng_state()}, path)
    ckpt = load_torch_checkpoint(path)
    assert ckpt["step"] == 3 and torch.equal(ckpt["model"]["w"], torch.arange(3))
    torch.save({"config": _Config(16)}, tmp_path / "cfg.ckpt")
    assert "refused" in _message(tmp_path / "cfg.ckpt", load_torch_checkpoint)
    assert load_torch_checkpoint(tmp_path / "cfg.ckpt", safe_globals=[_Config])["config"] == _Config(16)
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint at all")
    assert "cannot load checkpoint" in _message(tmp_path / "junk.ckpt", load_torch_checkpoint)
    (tmp_path / "cut.ckpt").write_bytes(path.read_bytes()[:200])
    assert "cannot load checkpoint" in _message(tmp_path / "cut.ckpt", load_torch_checkpoint)


def test_checked_loading_reports_by_name():
    model = _model()
    sd = dict(model.state_dict())
    del sd["2.bias"]
    sd["extra.weight"] = torch.zeros(1)
    sd["0.weight"] = torch.zeros(5, 1, 3, 3)
    with pytest.raises(WeightsError) as info:
        load_state_dict_checked(model, sd, source="w.safetensors")
    text = str(info.value)
    assert text.startswith("w.safetensors: weights do not match Sequential: ")
    assert "1 missing key: 2.bias" in text and "1 unexpected key: extra.weight" in text
    assert "0.weight: file (5, 1, 3, 3) vs model (4, 1, 3, 3)" in text and "\n" not in text
    # Shape mismatches are refused even when not strict; missing/unexpected keys are then allowed.
    with pytest.raises(WeightsError, match="shape mismatch"):
        load_state_dict_checked(model, sd, strict=False)
    sd["0.weight"] = torch.full((4, 1, 3, 3), 0.5)
    result = load_state_dict_checked(model, sd, strict=False)
    assert result.missing_keys == ["2.bias"] and result.unexpected_keys == ["extra.weight"]
    assert torch.all(model[0].weight == 0.5)


def test_checked_loading_truncates_and_hints():
    model = nn.Linear(2, 2)
    sd = {f"junk{i}": torch.zeros(1) for i in range(50)} | dict(model.state_dict())
    text = str(pytest.raises(WeightsError, load_state_dict_checked, model, sd).value)
    assert "50 unexpected keys" in text and "(+42 more)" in text and len(text) < 500
    wrapped = {f"module.{k}": v for k, v in model.state_dict().items()}
    text = str(pytest.raises(WeightsError, load_state_dict_checked, model, wrapped).value)
    assert "'module.' prefix" in text
    good = {k: torch.ones_like(v) for k, v in model.state_dict().items()}
    load_state_dict_checked(model, good)
    assert torch.all(model.weight == 1)
