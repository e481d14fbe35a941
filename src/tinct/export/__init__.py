"""Export models to other runtimes: ONNX with decoding inside the graph, verified with onnxruntime.

The functions need the ``onnx`` extra (``pip install 'tinct[onnx]'``); importing this package
does not.
"""

from tinct.export.onnx import DEFAULT_OPSET, OnnxColorizer, export_onnx, read_onnx_metadata, verify_onnx

__all__ = ["DEFAULT_OPSET", "OnnxColorizer", "export_onnx", "read_onnx_metadata", "verify_onnx"]
