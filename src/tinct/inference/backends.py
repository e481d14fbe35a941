"""Where the model runs: PyTorch, or ONNX Runtime on an exported copy of the same model.

Both backends have one method, ``run(L_small, hints, vividness)``: an L* image at the model's
working size in, decoded a*b* (2, h', w') float32 numpy array out (``vividness=None``: the
model's default). ``Colorizer.predict_ab`` is the public face of it, and does all
full-resolution work itself, so a backend only ever sees the small copy.

This module imports neither torch nor onnxruntime at import time: :class:`OnnxRuntimeBackend`
runs an exported file with ONNX Runtime and numpy alone (``Colorizer.load`` then never imports
torch); torch is imported only to run a torch model or to export one.

``create_backend("auto", model)`` picks ONNX Runtime when it is installed and the model is on the
CPU, else PyTorch. The choice comes from ``make bench`` on a 2-core AMD EPYC VM (benchmarks/
RESULTS.md): see :data:`AUTO_PREFERS_ONNXRUNTIME`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

import tinct
from tinct.inference.spec import ModelSpec
from tinct.threads import get_num_threads, torch_threads_set

if TYPE_CHECKING:

    from tinct.models.base import ColorizationModel

log = logging.getLogger(__name__)

__all__ = [
    "AUTO_PREFERS_ONNXRUNTIME",
    "BACKENDS",
    "Backend",
    "OnnxRuntimeBackend",
    "TorchBackend",
    "cache_dir",
    "cached_onnx_path",
    "check_backend_choice",
    "create_backend",
    "onnxruntime_available",
    "same_model",
    "warn_auto_falls_back",
]

BACKENDS = ("torch", "onnxruntime", "auto")

#: "auto" prefers ONNX Runtime: on CPU it ran the bundled default model faster than torch, end to end
#: no slower, and degraded far less when other processes oversubscribe the cores (torch's OpenMP
#: threads). The measurements are in benchmarks/RESULTS.md (`make bench` writes them), not here,
#: so that they cannot go stale in a comment. `tinct colorize` defaults to "auto".
AUTO_PREFERS_ONNXRUNTIME = True


class Backend(Protocol):
    name: str
    spec: ModelSpec  # the model it runs

    def run(self, L_small: np.ndarray, hints: np.ndarray | None, vividness: float | None) -> np.ndarray: ...


class TorchBackend:
    """Run the model itself (any device), under ``torch.inference_mode``."""

    name = "torch"

    def __init__(self, model: ColorizationModel) -> None:
        import torch

        if torch_threads_set():  # `--threads N` given before torch was imported
            torch.set_num_threads(get_num_threads())
        self.model = model
        self.spec = ModelSpec.from_model(model)

    def run(self, L_small: np.ndarray, hints: np.ndarray | None, vividness: float | None) -> np.ndarray:
        """See the module docstring; ``hints``: (1, 3, h, w) or None."""
        import torch

        model = self.model
        param = next(model.parameters(), None)
        dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
        device = param.device if param is not None else torch.device("cpu")
        with torch.inference_mode():
            # A copy: the small image is tiny, and often a read-only view of a PIL image.
            x = torch.from_numpy(np.array(L_small, dtype=np.float32)).to(device=device, dtype=dtype)[None, None]
            h = None if hints is None else torch.from_numpy(np.array(hints, dtype=np.float32)).to(device, dtype)
            ab = model.decode(model(x, h), vividness)
        return ab[0].to("cpu", torch.float32).numpy()


def same_model(name: Any, config: Any, other_name: Any, other_config: Any) -> bool:
    """Whether two descriptions (architecture, config dict) are of the same model: the one rule for
    matching an ONNX export to its weights or to a model in memory. ``pretrained`` (how training
    began, which weights files leave out) and ``name`` (the architecture, compared on its own) are
    not part of what the weights are."""
    if name != other_name or not isinstance(config, dict) or not isinstance(other_config, dict):
        return False
    ignored = ("pretrained", "name")
    return {k: v for k, v in config.items() if k not in ignored} == {
        k: v for k, v in other_config.items() if k not in ignored
    }


def onnxruntime_available() -> bool:
    """Whether onnxruntime is installed (found, not imported: importing it takes ~0.1 s)."""
    return importlib.util.find_spec("onnxruntime") is not None


def cache_dir() -> Path:
    """Folder for models exported on the fly: ``$TINCT_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/tinct``, else ``~/.cache/tinct``; ONNX files go to its ``onnx/``."""
    root = os.environ.get("TINCT_CACHE_DIR")
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "tinct")
    return Path(root) / "onnx"


def _versions(opset: int) -> bytes:
    """What else an exported graph depends on: tinct's and torch's versions (read from the
    installed metadata, without importing torch) and the opset."""
    try:
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch_version = "none"
    return f"{tinct.__version__}|{torch_version}|{opset}".encode()


def cached_onnx_path(weights: str | os.PathLike, name: str, opset: int | None = None) -> Path:
    """Where the ONNX export of the weights file ``weights`` (architecture ``name``) is cached:
    keyed by a hash of the file's bytes (its tensors and metadata), tinct's and torch's versions
    and the opset, so a changed file or an upgrade gets a new export, never a stale one. Hashing
    an 11 MB file takes ~15 ms."""
    from tinct.export.onnx_format import DEFAULT_OPSET

    digest = hashlib.sha256(b"file|" + _versions(DEFAULT_OPSET if opset is None else opset))
    with open(weights, "rb") as f:
        digest.update(hashlib.file_digest(f, "sha256").digest())
    return cache_dir() / f"{name}-{digest.hexdigest()[:24]}.onnx"


def _model_key(model: ColorizationModel, opset: int) -> str:
    """Hash of everything the exported graph of a model in memory depends on: weights, config,
    versions, opset."""
    import torch

    digest = hashlib.sha256()
    digest.update(model.config.to_json().encode())
    digest.update(_versions(opset))
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        digest.update(name.encode())
        digest.update(str((t.dtype, tuple(t.shape))).encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()[:24]


class OnnxRuntimeBackend:
    """Run an ONNX export of a model (decoding included) with ONNX Runtime on the CPU, torch-free.

    Args:
        path: the exported file (``tinct export``, or a cached export).
        spec: what the file must have been exported from; a file whose metadata names another
            architecture or config is refused. ``None``: the file's own description is used.
        threads: ONNX Runtime intra-op threads (default: :func:`tinct.threads.get_num_threads`).

    Use :meth:`for_model` for a torch model in memory (it exports one if needed).

    Raises:
        ImportError: onnxruntime is not installed.
        ValueError: the file is not a tinct export, or was exported from another model.
        Exception from onnxruntime: the file does not load (corrupt, truncated).
    """

    name = "onnxruntime"

    def __init__(self, path: str | os.PathLike, spec: ModelSpec | None = None, *, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise ImportError("the onnxruntime backend needs onnxruntime: pip install 'tinct[onnx]'") from err
        from tinct.export.onnx_format import read_onnx_metadata

        self.path = Path(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads or get_num_threads())
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Idle workers sleep instead of spinning: on cores shared with other processes spinning
        # doubles the CPU time of a run for no gain (measured on the bench machine).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # One session serves both the metadata check and the runs.
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        meta = read_onnx_metadata(self.path, self.session)
        if spec is not None and not same_model(meta.get("model"), meta.get("config"), spec.name, spec.config):
            raise ValueError(
                f"{self.path}: exported from {meta.get('model')!r} with config {meta.get('config')}, "
                f"not from this {spec.name!r} model"
            )
        #: The model the file was exported from, as its metadata describes it.
        self.spec = ModelSpec.from_onnx_metadata(meta, str(self.path))
        self.baked_vividness: float | None = meta.get("vividness")
        self.input_names = {i.name for i in self.session.get_inputs()}

    @classmethod
    def for_model(
        cls, model: ColorizationModel, onnx_path: str | os.PathLike | None = None, *, threads: int | None = None
    ) -> OnnxRuntimeBackend:
        """For a torch model in memory: ``onnx_path`` (exported from it), or an export of it made
        once into :func:`cache_dir`, keyed by a hash of its weights and config, and reused."""
        path = Path(onnx_path) if onnx_path is not None else cls._cached_export(model)
        return cls(path, ModelSpec.from_model(model), threads=threads)

    @staticmethod
    def _cached_export(model: ColorizationModel) -> Path:
        from tinct.export.onnx_format import DEFAULT_OPSET

        path = cache_dir() / f"{model.config.name}-{_model_key(model, DEFAULT_OPSET)}.onnx"
        if not path.is_file():
            export_to_cache(model, path)
        return path

    def run(self, L_small: np.ndarray, hints: np.ndarray | None, vividness: float | None) -> np.ndarray:
        """See the module docstring; ``hints``: (1, 3, h, w) or None."""
        v = self.spec.default_vividness if vividness is None else float(vividness)  # checked by the Colorizer
        L = np.ascontiguousarray(np.asarray(L_small, dtype=np.float32))[None, None]
        feeds: dict[str, Any] = {"L": L}
        if "hints" in self.input_names:
            # An ONNX graph has no optional inputs: its "hints" input is required, and the export
            # documents all zeros as "no hints" (what the torch model's forward uses for None).
            h = np.zeros((1, 3, *L.shape[-2:]), np.float32) if hints is None else hints
            feeds["hints"] = np.ascontiguousarray(h, dtype=np.float32)
        if "vividness" in self.input_names:
            feeds["vividness"] = np.array(v, dtype=np.float32)
        elif self.baked_vividness is not None and abs(v - self.baked_vividness) > 1e-6:
            raise ValueError(
                f"{self.path} has vividness {self.baked_vividness} built in (exported with --vividness); "
                f"export it without --vividness to choose the vividness per image (asked: {v})"
            )
        return self.session.run(["ab"], feeds)[0][0]


def open_weights_onnx(
    weights: Path, onnx_path: str | os.PathLike | None = None
) -> tuple[OnnxRuntimeBackend, ColorizationModel | None]:
    """An ONNX Runtime backend for the weights file ``weights``, without importing torch when its
    export is cached. ``weights`` is a tinct ``.safetensors`` file or a published checkpoint as
    downloaded (e.g. DDColor's ``.pth``; see ``tinct.models.loading.load_model``), whose
    cached export is found by the file's bytes alone.

    Returns:
        ``(backend, model)``: ``model`` is the torch model when it had to be loaded (to export it
        because the cache had no usable export), else None.

    Raises:
        tinct.io.weights.WeightsError: not usable weights.
        ValueError: ``onnx_path`` was exported from another architecture or config.
    """
    from tinct.io.weights import WeightsError, read_weights_metadata

    weights = Path(weights)
    meta = read_weights_metadata(weights) if weights.suffix == ".safetensors" else {}
    published = not meta  # no tinct description: recognised by its keys, which needs torch
    name, config = meta.get("model", "published"), meta.get("config", {})
    if not isinstance(name, str) or not isinstance(config, dict):
        raise WeightsError(f"{weights}: not a tinct weights file (no model description in its metadata)")
    if onnx_path is not None:
        if published:
            from tinct.models.loading import load_model

            model, _ = load_model(weights)
            return OnnxRuntimeBackend.for_model(model, onnx_path), model
        backend = OnnxRuntimeBackend(onnx_path)
        if not same_model(backend.spec.name, backend.spec.config, name, config):
            raise ValueError(
                f"{onnx_path}: exported from {backend.spec.name!r} with config {backend.spec.config}, "
                f"not from {weights} ({name!r} with config {config})"
            )
        return backend, None
    path = cached_onnx_path(weights, name)
    if path.is_file():
        try:
            return OnnxRuntimeBackend(path), None
        except Exception as err:  # e.g. a cache file damaged on disk: made again below, atomically
            log.warning("cached export %s does not load (%s); exporting again", path, " ".join(str(err).split()))
    from tinct.models.loading import load_model

    model, _ = load_model(weights)
    export_to_cache(model, path)
    return OnnxRuntimeBackend(path), model


def export_to_cache(model: ColorizationModel, path: Path) -> None:
    """Export ``model`` to the cache file ``path`` (verified against torch first)."""
    from tinct.export.onnx import export_onnx
    from tinct.export.onnx_format import DEFAULT_OPSET

    log.info("exporting %s to %s (once; reused while the weights are unchanged)", model.config.name, path)
    # export_onnx verifies in memory, then writes through tinct.io's atomic writer (fsync,
    # rename): a process killed mid-export, or a failed verification, never leaves a file
    # under this name, and two processes exporting at once both end with a whole file.
    export_onnx(model, path, opset=DEFAULT_OPSET, verify=True)


def check_backend_choice(name: str, onnx_path: str | os.PathLike | None = None) -> None:
    """Refuse an unknown backend name, and an ONNX file with the torch backend (which would
    silently not use it): the one check, made before anything is loaded.

    Raises:
        ValueError: one line saying what to choose instead.
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "torch" and onnx_path is not None:
        raise ValueError("an ONNX file was given with the torch backend; use --backend onnxruntime or auto")


def warn_auto_falls_back(err: BaseException) -> None:
    """Log why ``"auto"`` runs the model in torch after ONNX Runtime failed (auto means "whatever
    works": it never fails where torch would not)."""
    log.warning("onnxruntime backend unavailable (%s); using torch", " ".join(str(err).split()))


def create_backend(
    name: str, model: ColorizationModel, onnx_path: str | os.PathLike | None = None
) -> TorchBackend | OnnxRuntimeBackend:
    """``"torch"``, ``"onnxruntime"`` or ``"auto"`` → a backend for ``model``.

    ``"auto"`` (and ``onnx_path`` given with ``"auto"``) uses ONNX Runtime when it is installed,
    the model is on the CPU and :data:`AUTO_PREFERS_ONNXRUNTIME`; if exporting or loading fails it
    logs a warning and falls back to PyTorch. An explicit ``"onnxruntime"`` raises instead.
    """
    check_backend_choice(name, onnx_path)
    if name == "torch":
        return TorchBackend(model)
    param = next(model.parameters(), None)
    on_cpu = param is None or param.device.type == "cpu"
    if name == "onnxruntime":
        return OnnxRuntimeBackend.for_model(model, onnx_path)
    if on_cpu and onnxruntime_available() and (AUTO_PREFERS_ONNXRUNTIME or onnx_path is not None):
        try:
            return OnnxRuntimeBackend.for_model(model, onnx_path)
        except Exception as err:  # auto means "whatever works": never fail where torch would not
            warn_auto_falls_back(err)
    elif onnx_path is not None:
        why = "the model is not on the CPU" if not on_cpu else "onnxruntime is not installed"
        log.warning("ignoring %s: %s; using torch", onnx_path, why)
    return TorchBackend(model)
