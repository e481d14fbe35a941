"""Export models to other runtimes: ONNX with decoding inside the graph, verified with onnxruntime.

The functions need the ``onnx`` extra (``pip install 'tinct[onnx]'``); importing this package
does not, nor torch: names are imported on first use (PEP 562), so the torch-free
``tinct.export.onnx_format`` loads alone.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DEFAULT_OPSET": "onnx_format",
    "read_onnx_metadata": "onnx_format",
    "OnnxColorizer": "onnx",
    "export_onnx": "onnx",
    "verify_onnx": "onnx",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tinct.export' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tinct.export.{module}"), name)
