"""Start-up: `tinct colorize` with ONNX Runtime never imports torch once the weights' export is
cached, `tinct --help` imports neither torch nor numba, and the export cache is keyed by the
weights file's bytes and repaired when broken."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from tinct.inference import Colorizer
from tinct.inference.backends import cached_onnx_path

pytest.importorskip("onnxruntime")


def _run(code: str, cache, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "TINCT_CACHE_DIR": str(cache)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_colorize_with_a_cached_export_does_not_import_torch(weights, tmp_path):
    cache = tmp_path / "cache"
    Image.fromarray(np.tile(np.arange(0, 240, 3, dtype=np.uint8), (60, 1))).save(tmp_path / "gray.png")
    cli = f"""
        import sys
        from tinct.cli import main
        rc = main(["colorize", "gray.png", "-o", "out", "--overwrite", "--model", {str(weights)!r}])
        print("rc", rc, "torch" in sys.modules, "numba" in sys.modules)
    """
    first = _run(cli, cache, tmp_path)  # exports into the cache: torch is needed once
    assert "rc 0 True" in first.stdout, first.stderr
    second = _run(cli, cache, tmp_path)
    assert "rc 0 False False" in second.stdout, second.stderr
    # The same through the Python API, with a photo array and a vividness.
    api = f"""
        import sys
        import numpy as np
        from tinct.inference import Colorizer
        c = Colorizer.load({str(weights)!r})
        out = c.colorize(np.full((40, 50), 120, np.uint8), vividness=0.8)
        print(c.backend.name, out.shape, "torch" in sys.modules)
    """
    third = _run(api, cache, tmp_path)
    assert "onnxruntime (40, 50, 3) False" in third.stdout, third.stderr


def test_help_imports_neither_torch_nor_numba(tmp_path):
    out = _run(
        """
        import sys
        from tinct.cli import build_parser
        build_parser().format_help()
        print(sorted(m for m in ("torch", "numba", "onnxruntime") if m in sys.modules))
        """,
        tmp_path,
        tmp_path,
    )
    assert out.stdout.strip() == "[]", out.stderr


def test_cached_export_is_keyed_by_the_file_and_rebuilt_when_broken(weights, tmp_path, caplog):
    first = Colorizer.load(weights, backend="onnxruntime")
    path = cached_onnx_path(weights, "unet")
    assert first.backend.path == path and path.is_file()
    image = np.tile(np.arange(0, 250, 5, dtype=np.uint8), (40, 1))
    expected = first.colorize(image)

    changed = tmp_path / "changed.safetensors"
    shutil.copy(weights, changed)
    with open(changed, "ab") as f:  # another file (trailing bytes safetensors ignores): another key
        f.write(b" ")
    assert cached_onnx_path(changed, "unet") != path

    path.write_bytes(b"not an onnx file")  # damaged on disk: exported again, atomically
    again = Colorizer.load(weights, backend="onnxruntime")
    assert "exporting again" in caplog.text
    np.testing.assert_array_equal(again.colorize(image), expected)
    assert path.stat().st_size > 1000


def test_onnx_colorizer_loads_its_torch_model_on_demand(weights):
    colorizer = Colorizer.load(weights, backend="onnxruntime")
    colorizer._model = None  # as in a process where the export was already cached
    assert colorizer.device == "cpu"
    assert colorizer.model.config.name == "unet" == colorizer.spec.name


def test_hints_on_the_onnx_path_do_not_import_torch(tmp_path):
    import torch

    from tinct.models import create_model
    from tinct.models.loading import save_model

    torch.manual_seed(0)
    weights = tmp_path / "hinted.safetensors"
    save_model(weights, create_model("unet", hints=True, head="regression", decoder_channels=(8, 8, 8, 8)))
    Image.fromarray(np.tile(np.arange(0, 240, 3, dtype=np.uint8), (60, 1))).save(tmp_path / "gray.png")
    cli = f"""
        import sys
        from tinct.cli import main
        rc = main(["colorize", "gray.png", "-o", "out", "--overwrite", "--model", {str(weights)!r},
                   "--hint", "10,10,#c03020", "--hint", "70,50,#3060a0"])
        print("rc", rc, "torch" in sys.modules)
    """
    cache = tmp_path / "cache"
    assert "rc 0 True" in _run(cli, cache, tmp_path).stdout  # the first run exports the model
    second = _run(cli, cache, tmp_path)
    assert "rc 0 False" in second.stdout, second.stderr


def test_a_broken_weights_file_is_one_line_with_the_default_backend(tmp_path, capsys):
    from tinct.cli import main

    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "gray.png")
    rc = main(
        [
            "colorize",
            str(tmp_path / "gray.png"),
            "-o",
            str(tmp_path / "out"),
            "--model",
            str(tmp_path / "bad.safetensors"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "bad.safetensors: not a safetensors file" in err[0]
