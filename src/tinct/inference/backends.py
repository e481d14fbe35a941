"""Where the model runs: PyTorch, or ONNX Runtime on an exported copy of the same model.

Both backends have one method, ``run(L_small, hints, vividness)``: an L* image at the model's
working size in, decoded a*b* (2, h', w') float32 on the CPU out (``vividness=None``: the model's
default). ``Colorizer.predict_ab`` is the public face of it, and does all full-resolution work
itself, so a backend only ever sees the small copy.

``create_backend("auto", model)`` picks ONNX Runtime when it is installed and the model is on the
CPU, else PyTorch. The choice comes from ``make bench`` on a 2-core AMD EPYC VM (benchmarks/
RESULTS.md): see :data:`AUTO_PREFERS_ONNXRUNTIME`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

import tinct
from tinct.models.base import ColorizationModel, check_vividness

log = logging.getLogger(__name__)

__all__ = [
    "AUTO_PREFERS_ONNXRUNTIME",
    "BACKENDS",
    "Backend",
    "OnnxRuntimeBackend",
    "TorchBackend",
    "cache_dir",
    "create_backend",
    "onnxruntime_available",
]

BACKENDS = ("torch", "onnxruntime", "auto")

#: "auto" prefers ONNX Runtime: on CPU it ran the bundled default model faster than torch, end to end
#: no slower, and degraded far less when other processes oversubscribe the cores (torch's OpenMP
#: threads). The measurements are in benchmarks/RESULTS.md (`make bench` writes them), not here,
#: so that they cannot go stale in a comment. `tinct colorize` defaults to "auto".
AUTO_PREFERS_ONNXRUNTIME = True


class Backend(Protocol):
    name: str

    def run(
        self, L_small: np.ndarray | torch.Tensor, hints: torch.Tensor | None, vividness: float | None
    ) -> torch.Tensor: ...


class TorchBackend:
    """Run the model itself (any device), under ``torch.inference_mode``."""

    name = "torch"

    def __init__(self, model: ColorizationModel) -> None:
        self.model = model

    def run(
        self, L_small: np.ndarray | torch.Tensor, hints: torch.Tensor | None, vividness: float | None
    ) -> torch.Tensor:
        model = self.model
        param = next(model.parameters(), None)
        dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
        device = param.device if param is not None else torch.device("cpu")
        with torch.inference_mode():
            if isinstance(L_small, torch.Tensor):
                x = L_small.to(device=device, dtype=dtype)[None, None]
            else:  # a copy: the small image is tiny, and often a read-only view of a PIL image
                x = torch.from_numpy(np.array(L_small, dtype=np.float32)).to(device=device, dtype=dtype)[None, None]
            if model.config.hints and hints is None:
                # Hint models were trained with an all-zero hint tensor for "no hints", not without it.
                hints = torch.zeros(1, 3, *x.shape[-2:])
            if hints is not None:
                hints = hints.to(device=device, dtype=dtype)
            ab = model.decode(model(x, hints), vividness)
        return ab[0].to("cpu", torch.float32)


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def cache_dir() -> Path:
    """Folder for models exported on the fly: ``$TINCT_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/tinct``, else ``~/.cache/tinct``; ONNX files go to its ``onnx/``."""
    root = os.environ.get("TINCT_CACHE_DIR")
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "tinct")
    return Path(root) / "onnx"


def _model_key(model: ColorizationModel, opset: int) -> str:
    """Hash of everything the exported graph depends on: weights, config, versions, opset."""
    digest = hashlib.sha256()
    digest.update(model.config.to_json().encode())
    digest.update(f"{tinct.__version__}|{torch.__version__}|{opset}".encode())
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        digest.update(name.encode())
        digest.update(str((t.dtype, tuple(t.shape))).encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()[:24]


class OnnxRuntimeBackend:
    """Run an ONNX export of the model (decoding included) with ONNX Runtime on the CPU.

    Args:
        model: the model the ONNX file was (or is to be) exported from; it defines the I/O.
        onnx_path: an exported file (``tinct export``); default: export ``model`` once into
            :func:`cache_dir`, keyed by a hash of its weights and config, and reuse it.
        threads: ONNX Runtime intra-op threads (default: ``torch.get_num_threads()``).

    Raises:
        ImportError: onnxruntime (or, to export, onnx) is not installed.
        ValueError: the ONNX file was exported from a different architecture or config.
    """

    name = "onnxruntime"

    def __init__(
        self, model: ColorizationModel, onnx_path: str | os.PathLike | None = None, *, threads: int | None = None
    ) -> None:
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise ImportError("the onnxruntime backend needs onnxruntime: pip install 'tinct[onnx]'") from err
        from tinct.export.onnx import read_onnx_metadata

        self.model = model
        self.path = Path(onnx_path) if onnx_path is not None else self._cached_export(model)
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads or torch.get_num_threads())
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Idle workers sleep instead of spinning: on cores shared with other processes spinning
        # doubles the CPU time of a run for no gain (measured on the bench machine).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # One session serves both the metadata check and the runs.
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        meta = read_onnx_metadata(self.path, self.session)
        ours = json.loads(model.config.to_json())
        if meta.get("model") != model.config.name or meta.get("config") != ours:
            raise ValueError(
                f"{self.path}: exported from {meta.get('model')!r} with config {meta.get('config')}, "
                f"not from this {model.config.name!r} model"
            )
        self.baked_vividness: float | None = meta.get("vividness")
        self.input_names = {i.name for i in self.session.get_inputs()}

    @staticmethod
    def _cached_export(model: ColorizationModel) -> Path:
        from tinct.export.onnx import DEFAULT_OPSET, export_onnx

        folder = cache_dir()
        path = folder / f"{model.config.name}-{_model_key(model, DEFAULT_OPSET)}.onnx"
        if not path.is_file():
            log.info("exporting %s to %s (once; reused while the weights are unchanged)", model.config.name, path)
            # export_onnx verifies in memory, then writes through tinct.io's atomic writer (fsync,
            # rename): a process killed mid-export, or a failed verification, never leaves a file
            # under this name, and two processes exporting at once both end with a whole file.
            export_onnx(model, path, opset=DEFAULT_OPSET, verify=True)
        return path

    def run(
        self, L_small: np.ndarray | torch.Tensor, hints: torch.Tensor | None, vividness: float | None
    ) -> torch.Tensor:
        v = self.model.config.default_vividness if vividness is None else float(vividness)
        check_vividness(v)
        L = np.ascontiguousarray(np.asarray(L_small, dtype=np.float32))[None, None]
        feeds: dict[str, Any] = {"L": L}
        if "hints" in self.input_names:
            h = np.zeros((1, 3, *L.shape[-2:]), np.float32) if hints is None else hints.to(torch.float32).numpy()
            feeds["hints"] = np.ascontiguousarray(h)
        if "vividness" in self.input_names:
            feeds["vividness"] = np.array(v, dtype=np.float32)
        elif self.baked_vividness is not None and abs(v - self.baked_vividness) > 1e-6:
            raise ValueError(
                f"{self.path} has vividness {self.baked_vividness} built in (exported with --vividness); "
                f"export it without --vividness to choose the vividness per image (asked: {v})"
            )
        ab = self.session.run(["ab"], feeds)[0]
        return torch.from_numpy(ab[0])


def create_backend(
    name: str, model: ColorizationModel, onnx_path: str | os.PathLike | None = None
) -> TorchBackend | OnnxRuntimeBackend:
    """``"torch"``, ``"onnxruntime"`` or ``"auto"`` → a backend for ``model``.

    ``"auto"`` (and ``onnx_path`` given with ``"auto"``) uses ONNX Runtime when it is installed,
    the model is on the CPU and :data:`AUTO_PREFERS_ONNXRUNTIME`; if exporting or loading fails it
    logs a warning and falls back to PyTorch. An explicit ``"onnxruntime"`` raises instead.
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "torch":
        if onnx_path is not None:
            raise ValueError("an ONNX file was given but the backend is 'torch'; use --backend onnxruntime or auto")
        return TorchBackend(model)
    param = next(model.parameters(), None)
    on_cpu = param is None or param.device.type == "cpu"
    if name == "onnxruntime":
        return OnnxRuntimeBackend(model, onnx_path)
    if on_cpu and onnxruntime_available() and (AUTO_PREFERS_ONNXRUNTIME or onnx_path is not None):
        try:
            return OnnxRuntimeBackend(model, onnx_path)
        except Exception as err:  # auto means "whatever works": never fail where torch would not
            log.warning("onnxruntime backend unavailable (%s); using torch", " ".join(str(err).split()))
    elif onnx_path is not None:
        why = "the model is not on the CPU" if not on_cpu else "onnxruntime is not installed"
        log.warning("ignoring %s: %s; using torch", onnx_path, why)
    return TorchBackend(model)
