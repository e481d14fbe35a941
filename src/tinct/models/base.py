"""What every colorization model shares: L* in, a*b* out, a config that serialises."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, ClassVar

import torch
import torch.nn as nn

from tinct.color.ab_bins import annealed_mean

# The vividness knob lives in the torch-free tinct.vividness (the ONNX inference path needs it too).
from tinct.vividness import VIVIDNESS_RANGE, check_vividness, vividness_to_temperature  # noqa: F401


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Fields every model config has. Subclasses add their own; all values are JSON-friendly."""

    name: str = ""
    #: The output: "regression" (a*b* directly) or "classification" (a*b* bins); and whether the
    #: model takes user color hints as extra input channels. Fields of a config whose architecture
    #: offers the choice (unet); class constants of the others (seed, eccv16, siggraph17, ddcolor),
    #: which have one layout each, so no config carries a value it can only reject.
    head: ClassVar[str] = "regression"
    hints: ClassVar[bool] = False
    default_vividness: float = 0.5
    #: Working resolution (longer side, pixels) chosen on validation photos; None = the
    #: architecture's `default_size`. Ignored by fixed-size models.
    working_size: int | None = None

    def __post_init__(self) -> None:
        if self.head not in ("regression", "classification"):
            raise ValueError(f"head must be 'regression' or 'classification', got {self.head!r}")
        check_vividness(self.default_vividness)
        if self.working_size is not None and (
            isinstance(self.working_size, bool)
            or not isinstance(self.working_size, int)
            or not 32 <= self.working_size <= 4096
        ):
            raise ValueError(f"working_size must be an integer in 32..4096, got {self.working_size!r}")

    @classmethod
    def create(cls, **overrides: Any) -> ModelConfig:
        """The config with ``overrides`` (field names → values, validated by ``__post_init__``).

        ``head``/``hints`` given to an architecture that has them as constants (a weights file's
        metadata records them for every model, see :meth:`to_dict`) are accepted when they are the
        constant's value and refused otherwise.

        Raises:
            ValueError: a value for a constant that differs from it, or an invalid field value.
            TypeError: an unknown field.
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        for key in ("head", "hints"):
            if key in overrides and key not in fields and overrides.pop(key) != getattr(cls, key):
                hint_input = "a hint input" if cls.hints else "no hint input"
                raise ValueError(f"{cls.name} has a {cls.head} head and {hint_input}; {key} cannot be changed")
        return cls(**overrides)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly values of every field, plus ``head`` and ``hints`` (constants included),
        which is what weights files and ONNX exports record."""
        return {**dataclasses.asdict(self), "head": self.head, "hints": self.hints}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


class ColorizationModel(nn.Module):
    """Base class. Subclasses implement `forward(L, hints) -> raw` and set `config`.

    Conventions shared by every model:
      * input `L`: (N, 1, H, W) lightness in L* units, [0, 100]; each model normalises it itself.
      * input `hints` (only if `config.hints`): (N, 3, H, W) = hint a*, b* in a*b* units and a
        0/1 mask, all zero where there is no hint; None means no hints anywhere, the same as all
        zeros (`hint_input`, the one place that decides it).
      * raw output: regression → (N, 2, h, w) a*b* / 128 in [-1, 1]; classification → (N, Q, h, w)
        logits over `tinct.color.ab_bins.ab_bins()`. h, w may be H, W divided by `output_stride`.
      * `decode(raw, vividness)` → (N, 2, h, w) a*b* in a*b* units.

    Sizes, all in pixels (every "size" in tinct is one of these):
      * `default_size`: the architecture's side for training crops and, unless the weights say
        otherwise, for inference.
      * `config.working_size`: the inference side chosen for these weights (stored in the file).
      * `preferred_size`: `config.working_size or default_size`, the longer side a Colorizer
        runs at when not given its own `size` (``Colorizer(size=...)``, ``--size``).
      * `size_multiple`, `fixed_size`: what input shapes the network accepts.
      * ``Colorizer.working_shape(H, W)``: the (h, w) an H×W photo is resized to from all of the
        above; ``TrainConfig.size`` is the training crop side (default `default_size`).
    """

    config: ModelConfig
    #: Resolution the model is run at when none is asked for (pixels, square).
    default_size: int = 256
    #: Input height and width must be a multiple of this.
    size_multiple: int = 1
    #: If set, the only input size the model accepts.
    fixed_size: int | None = None
    #: Output resolution divides the input resolution by this.
    output_stride: int = 1
    #: A model without a hint input (``config.hints``) whose prediction still takes a user's hints,
    #: spread over it by ``tinct.inference.hints.propagate_hints`` (DDColor).
    propagates_hints: bool = False
    #: Out-of-gamut colors lose chroma at constant L* (True), or are clipped per channel as a
    #: model's authors do (False, DDColor).
    keep_lightness: bool = True
    #: The submodule holding a pretrained trunk (``freeze_encoder``; lr × ``encoder_lr_scale``), if any.
    encoder_name: str | None = None
    #: Name prefixes of the parameters that read user hints (lr × ``hint_lr_scale``).
    hint_prefixes: tuple[str, ...] = ()

    def parameter_group(self, name: str) -> str:
        """The optimizer group of the parameter ``name`` (as `named_parameters` gives it):
        "encoder" (the pretrained trunk), "hints" (layers reading user hints) or "rest"."""
        if self.encoder_name and name.startswith(self.encoder_name + "."):
            return "encoder"
        return "hints" if self.hint_prefixes and name.startswith(self.hint_prefixes) else "rest"

    def freeze_encoder(self, frozen: bool) -> None:
        """Fix (or release) the pretrained trunk's parameters; a frozen trunk also stays in eval mode,
        keeping its pretrained BatchNorm statistics while the rest learns. No-op without a trunk."""
        if not self.encoder_name:
            return
        encoder = self.get_submodule(self.encoder_name)
        encoder.requires_grad_(not frozen)
        if frozen:
            encoder.eval()

    @property
    def preferred_size(self) -> int:
        """The working resolution to run at when the caller asks for none (pixels, longer side)."""
        return self.config.working_size or self.default_size

    def check_size(self, height: int, width: int) -> None:
        if self.fixed_size is not None and (height, width) != (self.fixed_size, self.fixed_size):
            raise ValueError(
                f"{self.config.name} only runs at {self.fixed_size}x{self.fixed_size}, got {height}x{width}"
            )
        if height % self.size_multiple or width % self.size_multiple:
            raise ValueError(
                f"{self.config.name} needs sizes that are multiples of {self.size_multiple}, got {height}x{width}"
            )

    def hint_input(self, L: torch.Tensor, hints: torch.Tensor | None) -> torch.Tensor | None:
        """The hint tensor a forward runs on: what "no hints" means is decided here, once.

        Args:
            L: (N, 1, H, W) L*, for the shape, dtype and device of the zeros.
            hints: (N, 3, H, W) hint a*, b* (a*b* units) and 0/1 mask, or None.

        Returns:
            None for a model without a hint input (``config.hints`` false); else ``hints``, or
            (N, 3, H, W) zeros when None: hint models are trained on all-zero hints for "no hints"
            (never on a missing input), so ``model(L)`` must be ``model(L, zeros)`` even when
            trained hint layers have non-zero biases (the shipped default's adapters do).
        """
        if not self.config.hints:
            return None
        if hints is None:
            return L.new_zeros(L.shape[0], 3, *L.shape[-2:])
        return hints

    def decode(self, raw: torch.Tensor, vividness: float | None = None) -> torch.Tensor:
        vividness = self.config.default_vividness if vividness is None else vividness
        check_vividness(vividness)
        if self.config.head == "regression":
            return raw * 128.0 * (0.5 + vividness)
        return annealed_mean(raw, self.bins, vividness_to_temperature(vividness))
