"""The training recipe as a dataclass, loadable from TOML and overridable from the CLI."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path
from typing import Any


def _opt(default: Any, doc: str, **cli: Any) -> Any:
    """A field whose ``metadata["help"]`` is ``doc`` (``tinct train`` builds its options from these);
    ``cli`` holds extra argparse settings such as ``choices`` or ``metavar``."""
    if isinstance(default, (list, dict)):  # a fresh copy per config, never one shared object
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata={"help": doc, **cli})
    return dataclasses.field(default=default, metadata={"help": doc, **cli})


@dataclasses.dataclass
class TrainConfig:
    """The training recipe. Each field is a TOML key of ``--config`` and, except ``model_args``,
    an option of ``tinct train`` (``--batch-size`` for ``batch_size``; ``data`` is positional)."""

    data: str = _opt("", "folder of color training photos (walked recursively) or one file")
    file_list: str | None = _opt(None, "text file with one training image path per line (instead of DATA)")
    extra_data: list[str] = _opt([], "another folder of training photos (repeatable)", metavar="DIR")
    val: str | None = _opt(None, "validation folder")
    val_fraction: float = _opt(
        0.0,
        "hold out this fraction of every training folder (DATA and each --extra-data) for validation, "
        "chosen by a hash of each file name (tinct.data.splits), added to --val",
    )
    source_weights: list[float] = _opt(
        [],
        "share of each epoch drawn from each training source, in the order DATA then each --extra-data "
        "(tinct.data.sampling); default: uniform over photos",
        metavar="W",
    )
    model: str = _opt("unet", "architecture (see `tinct models`)")
    #: Overrides of the model's config (TOML only; ``--head`` sets ``head``).
    model_args: dict[str, Any] = _opt({}, "overrides of the model's config")
    init_from: str | None = _opt(
        None,
        "start from these .safetensors weights (fine-tuning); layers the file lacks (e.g. new hint "
        "adapters) keep their fresh init, any other mismatch is an error",
    )
    cache: str | None = _opt(
        None,
        "folder that keeps the decoded training photos (memory-mapped; built on first use and reused while "
        "the photo list is unchanged); default: decode into memory at every start",
    )
    size: int | None = _opt(None, "training crop side in pixels (default: the model's default size)")
    degrade: float = _opt(0.0, "probability that a training crop's L* is degraded like an old print")
    epochs: int = _opt(10, "passes over the training photos")
    batch_size: int = _opt(4, "global batch size (split across torchrun processes)")
    grad_accum: int = _opt(1, "accumulate gradients over N batches per optimizer step")
    lr: float = _opt(1e-4, "learning rate")
    optimizer: str = _opt(
        "adamw", "adamw (Adam when weight_decay is 0) or sgd (momentum 0.9)", choices=("adamw", "sgd")
    )
    encoder_lr_scale: float = _opt(1.0, "learning-rate multiplier for the pretrained encoder")
    hint_lr_scale: float = _opt(1.0, "learning-rate multiplier for the hint input layers")
    freeze_encoder_epochs: int = _opt(0, "keep the encoder (and its BatchNorm statistics) fixed this many epochs")
    weight_decay: float = _opt(0.0, "weight decay")
    schedule: str = _opt("constant", "learning-rate schedule, per step after warmup", choices=("constant", "cosine"))
    warmup_steps: int = _opt(0, "optimizer steps of linear learning-rate warmup")
    loss: str | None = _opt(
        None,
        "loss: l1 | l2 | ssim | psnr (per-crop -PSNR) | weighted, e.g. l1=0.5,ssim=0.5 | ce "
        "(default: l2 or ce by head)",
    )
    rebalance_lambda: float = _opt(0.5, "class rebalancing lambda for the classification head")
    out: str = _opt("runs/default", "run folder")
    resume: bool = _opt(False, "continue the run in --out from its last checkpoint")
    device: str = _opt("auto", "auto (cuda, mps, cpu) | cpu | cuda | cuda:N | mps")
    seed: int = _opt(0, "random seed")
    workers: int = _opt(0, "data-loader worker processes")
    threads: int | None = _opt(None, "CPU threads for torch (default: torch's choice)")
    ema: float = _opt(0.0, "keep an exponential moving average of weights with this decay (e.g. 0.999); 0 = off")
    amp: str = _opt(
        "auto",
        "mixed precision on CUDA: auto (bf16 if supported, else fp16), bf16, fp16, off",
        choices=("auto", "bf16", "fp16", "off"),
    )
    compile: bool = _opt(False, "torch.compile the model for training")
    samples: int = _opt(4, "validation photos drawn into samples/epoch_NNN.png (0: no sample grids)")
    log_every: int = _opt(10, "progress-bar refresh, in steps")

    def __post_init__(self) -> None:
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}")
        for name in ("epochs", "batch_size", "grad_accum"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.optimizer not in ("adamw", "sgd"):
            raise ValueError(f"optimizer must be 'adamw' or 'sgd', got {self.optimizer!r}")
        if self.amp not in ("auto", "bf16", "fp16", "off"):
            raise ValueError(f"amp must be auto, bf16, fp16 or off, got {self.amp!r}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")
        if not 0 <= self.degrade <= 1:
            raise ValueError(f"degrade must be in [0, 1], got {self.degrade}")
        if self.samples < 0:
            raise ValueError(f"samples must be ≥ 0, got {self.samples}")
        if self.source_weights and (min(self.source_weights) < 0 or not sum(self.source_weights) > 0):
            raise ValueError(f"source_weights must be ≥ 0 and not all 0, got {self.source_weights}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        from tinct.io.images import atomic_write_bytes

        atomic_write_bytes(path, (json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n").encode())


def load_config(path: str | Path, **overrides: Any) -> TrainConfig:
    """Read a TOML recipe (keys = TrainConfig fields) and apply non-None overrides."""
    path = Path(path)
    try:
        values = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ValueError(f"{path}: cannot read config ({err})") from None
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"{path}: unknown field(s) {', '.join(sorted(unknown))}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**values)


def resolve_config(config: str | Path | None = None, *, head: str | None = None, **options: Any) -> TrainConfig:
    """The recipe of a run (what ``tinct train`` passes to ``fit``): the TOML recipe ``config``, if
    given, with every option that is not None over it; ``head`` sets ``model_args["head"]``.

    Raises:
        ValueError: an unreadable or unknown recipe or option, or no training data named at all.
    """
    if config:
        cfg = load_config(config, **options)
    else:
        cfg = TrainConfig(**{k: v for k, v in options.items() if v is not None})
    if head:
        cfg.model_args = {**cfg.model_args, "head": head}
    if not cfg.data and not cfg.file_list:
        raise ValueError("train: give a DATA folder, --file-list, or a --config that names one")
    return cfg
