"""The training recipe as a dataclass, loadable from TOML and overridable from the CLI."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path
from typing import Any


@dataclasses.dataclass
class TrainConfig:
    data: str = ""  #: training images: a folder (recursive) or one file
    file_list: str | None = None  #: a text file of image paths, one per line (instead of `data`)
    extra_data: list[str] = dataclasses.field(default_factory=list)  #: more training folders, added to the above
    val: str | None = None  #: validation folder
    val_fraction: float = 0.0  #: or: hold out this fraction of `data` (by sorted path, seeded)
    model: str = "unet"
    model_args: dict[str, Any] = dataclasses.field(default_factory=dict)  #: config overrides
    #: Start from these weights (.safetensors). Layers the file lacks keep their fresh init (e.g.
    #: new hint adapters); any other mismatch is an error.
    init_from: str | None = None
    size: int | None = None  #: crop side in pixels; default: the model's default size
    degrade: float = 0.0  #: probability that a training crop's L* is degraded like an old print
    epochs: int = 10
    batch_size: int = 4  #: global batch (split across torchrun processes)
    grad_accum: int = 1  #: optimizer step every N batches
    lr: float = 1e-4
    optimizer: str = "adamw"  #: "adamw" (Adam when weight_decay is 0) or "sgd" (momentum 0.9)
    encoder_lr_scale: float = 1.0  #: the pretrained encoder learns at lr × this
    hint_lr_scale: float = 1.0  #: the hint input layers learn at lr × this
    freeze_encoder_epochs: int = 0  #: keep the encoder fixed (and its BN statistics) this long
    weight_decay: float = 0.0
    schedule: str = "constant"  #: "constant" or "cosine" (per step, after warmup)
    warmup_steps: int = 0
    loss: str | None = None  #: e.g. "l2", "l1=0.5,ssim=0.5", "psnr", "ce"; default: l2 or ce by head
    rebalance_lambda: float = 0.5  #: class rebalancing λ for the classification head
    out: str = "runs/default"
    resume: bool = False
    device: str = "auto"  #: auto (cuda, mps, cpu), cpu, cuda, cuda:N, mps
    seed: int = 0
    workers: int = 0  #: data-loader worker processes
    threads: int | None = None  #: torch CPU threads (default: torch's choice)
    ema: float = 0.0  #: decay of an exponential moving average of weights (e.g. 0.999); 0 = off
    amp: str = "auto"  #: mixed precision on CUDA: auto (bf16 if supported, else fp16), bf16, fp16, off
    compile: bool = False  #: torch.compile the model for training
    samples: int = 4  #: validation photos drawn into samples/epoch_NNN.png
    log_every: int = 10  #: progress-bar refresh, in steps

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
