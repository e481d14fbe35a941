"""The `seed` model: the small tutorial CNN tinct grew from, kept as a faithful baseline.

Six 3×3 convolutions 1→64→128→256→256→128→64 with LeakyReLU, a 3×3 convolution to 2 channels,
then two Linear layers 128→256→128 applied along the image *width* (the last axis), and tanh.
L* is scaled by 1/100 and a*b* by 1/128, as in the tutorial. Because the Linear layers act on
the width axis, the model only accepts width 128: it is always run at 128×128. Every convolution
runs at full resolution, which makes it slow (about 44 GFLOPs per 128×128 image).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn as nn

from tinct.models._registry import register_model
from tinct.models.base import ColorizationModel, ModelConfig


@dataclasses.dataclass(frozen=True)
class SeedConfig(ModelConfig):
    name: str = "seed"
    negative_slope: float = 0.01  # LeakyReLU default


class SeedNet(ColorizationModel):
    default_size = 128
    fixed_size = 128

    def __init__(self, config: SeedConfig) -> None:
        super().__init__()
        self.config = config
        widths = (1, 64, 128, 256, 256, 128, 64)
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.LeakyReLU(config.negative_slope)]
        layers.append(nn.Conv2d(widths[-1], 2, 3, padding=1))
        self.convs = nn.Sequential(*layers)
        self.fc1 = nn.Linear(128, 256)
        self.fc2 = nn.Linear(256, 128)

    def check_size(self, height: int, width: int) -> None:
        # Only the width is structural (the Linear layers); the height is free, which lets tests
        # use thin strips. Colorizer always runs the model at fixed_size × fixed_size.
        if width != 128:
            raise ValueError(f"seed only runs at width 128 (its Linear layers act along the width), got {width}")

    def forward(self, L: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 1, H, 128) L* in [0, 100] → (N, 2, H, 128) a*b*/128 in [-1, 1]; H = 128 in use."""
        self.check_size(L.shape[-2], L.shape[-1])
        x = self.convs(L / 100.0)
        return torch.tanh(self.fc2(self.fc1(x)))  # Linear acts on the last (width) axis


@register_model("seed")
def seed(**overrides) -> SeedNet:
    return SeedNet(SeedConfig.create(**overrides))
