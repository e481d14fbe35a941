"""Export a colorization model to ONNX with its decoding inside the graph, and verify the export.

The graph (opset 17 by default, batch, height and width dynamic):

* input ``L``: (N, 1, H, W) float32 L* in [0, 100], H and W valid for the model (multiples of
  ``size_multiple``; fixed-size models: exactly ``fixed_size`` and only N is dynamic);
* input ``hints`` (hint models only): (N, 3, H, W) float32 hint a*, b* and 0/1 mask, all zero
  for "no hints";
* input ``vividness`` (unless baked in at export): float32 scalar in [0, 1], see
  ``tinct.models.base`` (annealed-mean temperature T = 1 − 0.9·v for classification heads,
  chroma scale 0.5 + v for regression heads);
* output ``ab``: (N, 2, H/stride, W/stride) float32 a*b* in a*b* units, already decoded.

The file's metadata (``tinct`` key, JSON) records the architecture, its config, the baked
vividness (or null) and the sizes the model accepts, so a runtime can check what it loads.
Needs the ``onnx`` extra (``pip install 'tinct[onnx]'``: onnx and onnxruntime).
"""

from __future__ import annotations

import copy
import io
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

import tinct
from tinct.export.onnx_format import DEFAULT_OPSET, FORMAT, METADATA_KEY, read_onnx_metadata
from tinct.io.images import atomic_write_bytes
from tinct.models.base import ColorizationModel
from tinct.vividness import check_vividness

__all__ = ["DEFAULT_OPSET", "METADATA_KEY", "OnnxColorizer", "export_onnx", "read_onnx_metadata", "verify_onnx"]

#: Largest a*b* difference (a*b* units) accepted between ONNX Runtime and torch.
TOLERANCE = 1e-3


class OnnxColorizer(nn.Module):
    """Trace-friendly wrapper: ``(L, [hints], [vividness]) → decoded a*b*`` (see module doc).

    It patches nothing: the models' own forwards trace to graphs that are valid at every input
    size they accept (constant 'SAME' pads and ×2 resizes in the unet, pooling by a fixed ratio in
    ``tinct.ops.pool_hints``); the decoding is the wrapper's own, as one graph.

    Args:
        model: any ``ColorizationModel``.
        vividness: bake this vividness into the graph (no ``vividness`` input); default: input.
    """

    def __init__(self, model: ColorizationModel, vividness: float | None = None) -> None:
        super().__init__()
        if vividness is not None:
            check_vividness(vividness)
        self.model = copy.deepcopy(model).to("cpu", torch.float32).eval()  # the caller's stays where it is
        self.head = model.config.head
        self.hints = bool(model.config.hints)
        self.vividness = vividness
        if self.head == "classification":
            # The annealed mean's expectation over the bins as a 1×1 convolution (fast everywhere).
            bins = model.bins.detach().to("cpu", torch.float32)
            self.register_buffer("bins_weight", bins.T.reshape(2, -1, 1, 1).contiguous())

    def forward(self, L: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
        extra = list(extra)
        hints = extra.pop(0) if self.hints else None
        v = extra.pop(0) if self.vividness is None else self.vividness
        raw = self.model(L, hints)
        if self.head == "regression":
            return raw * (128.0 * (0.5 + v))
        temperature = 1.0 - 0.9 * v
        probs = torch.softmax(raw / temperature, dim=1)
        return F.conv2d(probs, self.bins_weight)

    def input_names(self) -> list[str]:
        return ["L"] + (["hints"] if self.hints else []) + (["vividness"] if self.vividness is None else [])

    def example_inputs(self, height: int, width: int, batch: int = 1, seed: int = 0) -> tuple[torch.Tensor, ...]:
        g = torch.Generator().manual_seed(seed)
        inputs = [torch.rand(batch, 1, height, width, generator=g) * 100]
        if self.hints:
            hints = torch.zeros(batch, 3, height, width)
            # A few random hints, so the hint branch is exercised.
            idx = torch.randint(0, height * width, (batch, 4), generator=g)
            for n in range(batch):
                flat = hints[n].view(3, -1)
                flat[:2, idx[n]] = torch.rand(2, 4, generator=g) * 120 - 60
                flat[2, idx[n]] = 1.0
            inputs.append(hints)
        if self.vividness is None:
            inputs.append(torch.tensor(0.3 + 0.4 * float(torch.rand((), generator=g))))
        return tuple(inputs)


def _sizes(model: ColorizationModel) -> list[tuple[int, int]]:
    """Two different valid (H, W) for export and verification (non-square, to catch swaps)."""
    if model.fixed_size is not None:
        return [(model.fixed_size, model.fixed_size)] * 2
    m = max(1, model.size_multiple)
    return [(2 * m, 3 * m), (4 * m, 2 * m)] if m >= 16 else [(64, 96), (96, 48)]


def _metadata(model: ColorizationModel, vividness: float | None, opset: int) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "model": model.config.name,
        "config": json.loads(model.config.to_json()),
        "vividness": vividness,
        "default_vividness": model.config.default_vividness,
        "hints": bool(model.config.hints),
        "output_stride": model.output_stride,
        "size_multiple": model.size_multiple,
        "fixed_size": model.fixed_size,
        "default_size": model.default_size,
        "propagates_hints": model.propagates_hints,
        "keep_lightness": model.keep_lightness,
        "opset": opset,
        "tinct_version": tinct.__version__,
    }


def export_onnx(
    model: ColorizationModel,
    path: str | os.PathLike,
    opset: int = DEFAULT_OPSET,
    *,
    vividness: float | None = None,
    verify: bool = True,
) -> Path:
    """Export ``model`` (decoding included) to an ONNX file and check it with ONNX Runtime.

    Args:
        path: the ``.onnx`` file to write, atomically (parent folders are created); it is written
            only once the graph has passed verification.
        opset: ONNX opset version.
        vividness: bake this vividness in; default: a ``vividness`` scalar input.
        verify: run :func:`verify_onnx` (two input sizes, random inputs, max a*b* difference ≤
            1e-3) before writing, and raise ``RuntimeError`` (writing nothing) if it fails.

    Returns:
        ``Path(path)``.
    """
    try:
        import onnx
    except ImportError as err:
        raise ImportError("ONNX export needs the onnx package: pip install 'tinct[onnx]'") from err
    path = Path(path)
    wrapper = OnnxColorizer(model, vividness).eval()
    names = wrapper.input_names()
    height, width = _sizes(model)[0]
    dynamic: dict[str, dict[int, str]] = {}
    for name in names:
        if name == "vividness":
            continue
        dynamic[name] = {0: "batch"} if model.fixed_size is not None else {0: "batch", 2: "height", 3: "width"}
    dynamic["ab"] = {0: "batch"} if model.fixed_size is not None else {0: "batch", 2: "out_height", 3: "out_width"}
    # The graph is built, labelled and verified in memory and only then written, through the one
    # atomic writer: a failed verification leaves neither a file nor a temporary file behind.
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript-based exporter warns about its own deprecation and about tracing the
        # models' size checks (Python booleans); neither matters for these graphs.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            wrapper.example_inputs(height, width),
            buffer,
            dynamo=False,
            opset_version=opset,
            input_names=names,
            output_names=["ab"],
            dynamic_axes=dynamic,
            do_constant_folding=True,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(_metadata(model, vividness, opset), sort_keys=True)
    proto.producer_name = "tinct"
    proto.producer_version = tinct.__version__
    data = proto.SerializeToString()
    if verify:
        diff = verify_onnx(data, model, vividness=vividness)
        if not diff <= TOLERANCE:
            raise RuntimeError(
                f"{path}: not written: ONNX Runtime differs from torch by {diff:.3g} a*b* units (> {TOLERANCE})"
            )
    atomic_write_bytes(path, data)
    return path


def verify_onnx(
    path: str | os.PathLike | bytes,
    model: ColorizationModel,
    *,
    vividness: float | None = None,
    sizes: Sequence[tuple[int, int]] | None = None,
    batch: int = 2,
) -> float:
    """Largest |a*b*| difference between ONNX Runtime on ``path`` (a file, or the serialized graph
    itself) and ``model.decode(model(L, hints))`` in torch, over random inputs at each (H, W) of
    ``sizes`` (default: two different valid sizes)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    source = path if isinstance(path, bytes) else str(path)
    session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    if isinstance(path, bytes):
        path = "the exported graph"
    reference = copy.deepcopy(model).to("cpu", torch.float32).eval()
    wrapper = OnnxColorizer(model, vividness)
    names = wrapper.input_names()
    worst = 0.0
    for i, (height, width) in enumerate(sizes or _sizes(model)):
        inputs = wrapper.example_inputs(height, width, batch=batch, seed=i + 1)
        feeds = {name: t.numpy() for name, t in zip(names, inputs, strict=True)}
        got = torch.from_numpy(session.run(["ab"], feeds)[0])
        hints = inputs[1] if wrapper.hints else None
        v = vividness if vividness is not None else float(inputs[-1])
        with torch.inference_mode():
            expected = reference.decode(reference(inputs[0], hints), v)
        if got.shape != expected.shape:
            raise RuntimeError(f"{path}: ONNX output shape {tuple(got.shape)} != torch {tuple(expected.shape)}")
        worst = max(worst, float((got - expected).abs().max()))
    return worst
