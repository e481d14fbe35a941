"""What inference needs to know about a model, without the model: a torch-free description.

A :class:`ModelSpec` comes from a torch model (:meth:`ModelSpec.from_model`) or from the metadata
an ONNX export carries (:meth:`ModelSpec.from_onnx_metadata`, written by ``tinct.export.onnx``),
so a colorizer that runs in ONNX Runtime sizes its input and checks its hints without torch.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from tinct.vividness import check_vividness

__all__ = ["ModelSpec"]


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Args (all sizes in pixels; see ``tinct.models.base.ColorizationModel``):
    name: architecture, e.g. ``"unet"``.
    config: the model's config as JSON-friendly values (``ModelConfig.to_json``).
    default_size: the architecture's side for training crops.
    size_multiple: input height and width must be multiples of this.
    fixed_size: the one size the model accepts (square), or None.
    propagates_hints: a model without a hint input whose output takes hints by propagation
        (``tinct.inference.hints.propagate_hints``), e.g. DDColor.
    keep_lightness: out-of-gamut colors lose chroma at constant L* (True) or are clipped per
        channel as a model's authors do (False, DDColor).
    """

    name: str
    config: dict[str, Any]
    default_size: int
    size_multiple: int = 1
    fixed_size: int | None = None
    propagates_hints: bool = False
    keep_lightness: bool = True

    @property
    def hints(self) -> bool:
        return bool(self.config.get("hints"))

    @property
    def head(self) -> str:
        return str(self.config.get("head", "regression"))

    @property
    def default_vividness(self) -> float:
        return float(self.config.get("default_vividness", 0.5))

    @property
    def preferred_size(self) -> int:
        """The longer side to run at when the caller asks for none: ``config.working_size`` (chosen
        for these weights) or the architecture's ``default_size``."""
        return int(self.config.get("working_size") or self.default_size)

    @classmethod
    def from_model(cls, model: Any) -> ModelSpec:
        """The spec of a ``ColorizationModel``."""
        return cls(
            model.config.name, json.loads(model.config.to_json()), model.default_size, model.size_multiple,
            model.fixed_size, model.propagates_hints, model.keep_lightness,
        )  # fmt: skip

    @classmethod
    def from_onnx_metadata(cls, meta: dict[str, Any], source: str = "ONNX file") -> ModelSpec:
        """The spec stored in an export's ``tinct`` metadata (see ``tinct.export.onnx``).

        Raises:
            ValueError: a field is missing or of the wrong kind (one line naming ``source``).
        """
        try:
            name, config = meta["model"], meta["config"]
            default_size, multiple, fixed = meta["default_size"], meta["size_multiple"], meta["fixed_size"]
            ok = isinstance(name, str) and isinstance(config, dict)
            ok &= all(isinstance(v, int) and v > 0 for v in (default_size, multiple))
            ok &= fixed is None or (isinstance(fixed, int) and fixed > 0)
            propagates, keep = meta.get("propagates_hints", False), meta.get("keep_lightness", True)
            ok &= isinstance(propagates, bool) and isinstance(keep, bool)
            if not ok:
                raise TypeError
            check_vividness(float(config.get("default_vividness", 0.5)))
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{source}: its tinct metadata does not describe the model (re-export it)") from None
        return cls(name, config, default_size, multiple, fixed, propagates, keep)
