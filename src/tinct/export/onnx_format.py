"""The tinct ONNX file format's constants and its metadata reader (torch-free: the ONNX Runtime
inference path reads exports without importing torch; ``tinct.export.onnx`` writes them)."""

from __future__ import annotations

import json
import os
from typing import Any

__all__ = ["DEFAULT_OPSET", "FORMAT", "METADATA_KEY", "read_onnx_metadata"]

DEFAULT_OPSET = 17
METADATA_KEY = "tinct"
FORMAT = "tinct-onnx/1"


def read_onnx_metadata(path: str | os.PathLike, session: Any = None) -> dict[str, Any]:
    """The ``tinct`` metadata of an exported file (raises ValueError if it has none). Pass the
    ``onnxruntime.InferenceSession`` already open on ``path``, if there is one, so the file is
    not loaded twice."""
    if session is None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        # Reading the metadata through a session also checks that the file loads at all.
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    raw = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    if raw is None:
        raise ValueError(f"{path}: not an ONNX file exported by tinct (no '{METADATA_KEY}' metadata)")
    meta = json.loads(raw)
    found = meta.get("format") if isinstance(meta, dict) else None
    if found != FORMAT:
        raise ValueError(f"{path}: unsupported tinct ONNX format {found!r} (expected {FORMAT!r})")
    return meta
