"""Which weights file a user's ``--model`` value means: the bundled weights shipped inside the
package, or a path. Torch-free (reads file headers only), so ``tinct models`` and a colorizer that
runs a cached ONNX export never import torch.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["BUNDLED_WEIGHTS_DIR", "DEFAULT_NAME", "MODEL_HELP", "WeightsInfo", "bundled_weights", "resolve_weights"]

#: Folder of the weights files shipped inside the package (``<name>.safetensors``).
BUNDLED_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
DEFAULT_NAME = "default"
#: What a ``--model`` value may be (the help of the option in ``tinct colorize``, ``eval``, ``export``
#: and ``serve``), as :func:`resolve_weights` and ``Colorizer.load`` read it.
MODEL_HELP = (
    "weights: a .safetensors file, a published checkpoint as downloaded (e.g. DDColor's .pth), the name of "
    "bundled weights (see `tinct models`), or 'default' "
    "(a bare name is a bundled one; write ./NAME for a file so named)"
)


@dataclasses.dataclass(frozen=True)
class WeightsInfo:
    """What a weights file says about itself (read from its header only)."""

    name: str
    path: Path
    size_mb: float
    model: str | None = None  # architecture, e.g. "unet"
    head: str | None = None  # "regression" or "classification"
    hints: bool | None = None


def _weights_info(path: Path) -> WeightsInfo:
    from tinct.io.weights import read_weights_metadata

    model = head = hints = None
    try:
        meta = read_weights_metadata(path)
        config = meta.get("config")
        model = meta.get("model")
        if isinstance(config, dict):
            head, hints = config.get("head"), config.get("hints")
    except Exception as err:  # a broken file is still listed, just without its description
        log.debug("%s: cannot read metadata (%s)", path, err)
    return WeightsInfo(path.stem, path, path.stat().st_size / 1e6, model, head, hints)


def bundled_weights() -> list[WeightsInfo]:
    """The ``*.safetensors`` files shipped in :data:`BUNDLED_WEIGHTS_DIR`, sorted by name."""
    if not BUNDLED_WEIGHTS_DIR.is_dir():
        return []
    return [_weights_info(p) for p in sorted(BUNDLED_WEIGHTS_DIR.glob("*.safetensors")) if p.is_file()]


def _is_path(text: str) -> bool:
    """Whether a ``--model`` value means a file: it has a folder separator or a file suffix
    (``runs/x/best.safetensors``, ``./default``, ``w.safetensors``), or it names an existing file
    and is not a reserved name (``default``, a bundled weights name, an architecture). So a file
    called ``default`` or ``seed`` in the working directory never shadows the bundled weights;
    write ``./default`` to mean it."""
    if os.sep in text or "/" in text or (os.altsep and os.altsep in text) or Path(text).suffix:
        return True
    if text == DEFAULT_NAME or (BUNDLED_WEIGHTS_DIR / f"{text}.safetensors").is_file() or not os.path.exists(text):
        return False  # decided without listing the architectures (that imports torch)
    from tinct.models import list_models

    return text not in list_models()


def resolve_weights(name_or_path: str | os.PathLike | None = None) -> Path:
    """The weights file meant by a user's ``--model`` value.

    * ``None`` or ``"default"`` → the bundled ``weights/default.safetensors``;
    * a path (see :func:`_is_path`: a separator or a suffix, or an existing file that is not a
      reserved name; any ``os.PathLike``) → that file;
    * a bundled weights name or a registered architecture name → ``weights/<name>.safetensors``.

    Raises:
        FileNotFoundError: the file does not exist, or no weights are bundled for the name.
        ValueError: the name is neither a path, a bundled weights name nor an architecture.
    """
    text = DEFAULT_NAME if name_or_path is None else os.fspath(name_or_path)
    if isinstance(name_or_path, os.PathLike) or _is_path(text):
        path = Path(text).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such weights file")
        return path
    bundled = BUNDLED_WEIGHTS_DIR / f"{text}.safetensors"
    if bundled.is_file():
        return bundled
    from tinct.models import list_models

    if text == DEFAULT_NAME:
        raise FileNotFoundError(
            f"the bundled default weights {bundled} are missing (not trained/installed yet); "
            "pass a weights file instead, e.g. --model runs/<run>/checkpoints/best.safetensors"
        )
    if text in list_models():
        raise FileNotFoundError(
            f"no weights are bundled for architecture {text!r} (no {bundled}); "
            "pass the path of a .safetensors weights file instead"
        )
    names = sorted({DEFAULT_NAME, *(w.name for w in bundled_weights())})
    raise ValueError(
        f"unknown model {text!r}: not a weights file, a bundled weights name ({', '.join(names)}) "
        f"or an architecture ({', '.join(list_models())})"
    )
