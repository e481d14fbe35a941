"""The ConvNeXt trunk (Liu et al., "A ConvNet for the 2020s", CVPR 2022) in the layout DDColor's
published checkpoints use: ``downsample_layers``, ``stages``, one channels-first LayerNorm per
stage output (``norm0`` .. ``norm3``, the features the decoder reads) and the classifier's final
LayerNorm ``norm``, which DDColor never uses but whose weights its files carry.

Written for tinct from the paper and the layout of the released weights; not a copy of either
code base. Tensors are (N, C, H, W) float; the trunk subsamples by 4, 8, 16 and 32.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

#: (depths, widths) of the two encoder sizes DDColor publishes.
CONVNEXT_SIZES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "convnext-t": ((3, 3, 9, 3), (96, 192, 384, 768)),
    "convnext-l": ((3, 3, 27, 3), (192, 384, 768, 1536)),
}

_EPS = 1e-6


class ChannelsFirstLayerNorm(nn.Module):
    """LayerNorm over the channels of an (N, C, H, W) tensor (``weight``, ``bias``: (C,)).

    Computed as the published model does (mean and biased variance over C, eps 1e-6 inside the
    square root); ``F.layer_norm`` on a channels-last view is the same function, and faster.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.channels = channels  # a Python int: a traced graph must not read it from x's shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x.permute(0, 2, 3, 1), (self.channels,), self.weight, self.bias, _EPS)
        return y.permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """7×7 depthwise conv → LayerNorm → 4× MLP with GELU → layer scale ``gamma`` → residual."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=_EPS)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)  # the MLP runs on (N, H, W, C)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    """ConvNeXt feature trunk: (N, 3, H, W) normalised RGB, H and W multiples of 32 → four
    LayerNorm-ed feature maps at strides 4, 8, 16, 32 with ``dims`` channels."""

    def __init__(self, depths: tuple[int, ...], dims: tuple[int, ...], in_chans: int = 3) -> None:
        super().__init__()
        stem = nn.Sequential(nn.Conv2d(in_chans, dims[0], kernel_size=4, stride=4), ChannelsFirstLayerNorm(dims[0]))
        self.downsample_layers = nn.ModuleList([stem])
        for i in range(3):
            self.downsample_layers.append(
                nn.Sequential(ChannelsFirstLayerNorm(dims[i]), nn.Conv2d(dims[i], dims[i + 1], kernel_size=2, stride=2))
            )
        self.stages = nn.ModuleList(
            nn.Sequential(*(ConvNeXtBlock(d) for _ in range(n))) for n, d in zip(depths, dims, strict=True)
        )
        for i, d in enumerate(dims):
            self.add_module(f"norm{i}", ChannelsFirstLayerNorm(d))
        # The ImageNet classifier's last norm: in every published file, never on DDColor's path.
        # Frozen, so training (and DDP, which refuses parameters without gradients) leaves it be.
        self.norm = nn.LayerNorm(dims[-1], eps=_EPS)
        self.norm.requires_grad_(False)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        # Channels-last memory: each block's (N, H, W, C) view for its LayerNorm and MLP is then
        # contiguous as it is, instead of a copy per block (and per norm).
        x = x.contiguous(memory_format=torch.channels_last)
        features = []
        for i in range(4):
            x = self.stages[i](self.downsample_layers[i](x))
            # The decoder runs in the default (N, C, H, W) layout: its reshapes then need no copy.
            features.append(getattr(self, f"norm{i}")(x).contiguous())
        return features
