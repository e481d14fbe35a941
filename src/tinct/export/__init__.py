"""Export models to other runtimes: ONNX with decoding inside the graph, verified with onnxruntime.

The functions need the ``onnx`` extra (``pip install 'tinct[onnx]'``); importing this package
does not, nor torch: names are imported on first use (PEP 562), so the torch-free
``tinct.export.onnx_format`` loads alone.
"""

from __future__ import annotations

from tinct._lazy import lazy_exports

_EXPORTS = {
    "DEFAULT_OPSET": "onnx_format",
    "read_onnx_metadata": "onnx_format",
    "OnnxColorizer": "onnx",
    "export_onnx": "onnx",
    "verify_onnx": "onnx",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
