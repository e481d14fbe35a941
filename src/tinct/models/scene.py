"""How colorful should this photo be? A per-photo chroma gain estimated from the gray image.

Why: `tinct eval` scores the mean of per-photo PSNR, a log error, so a tint on a near-neutral
photo (a tool on a white table) costs many dB while the same tint on a colorful landscape costs
few. A regression model trained on a few hundred photos tints both alike. `SceneChroma` estimates
each photo's mean chroma (CIE a*b* units) from the ImageNet features of its gray version and
scales the predicted a*b* by estimate / reference, so scenes that look neutral stay neutral and
colorful ones get the color the vividness knob would otherwise spread evenly.

The estimator is the ImageNet EfficientNet-Lite classifier's 1×1 head (C → 1280, BN, ReLU6,
global mean) on the U-Net encoder's stride-32 features, then a linear ridge readout of
log(1 + chroma) fitted on training photos (`fit_scene_chroma`). The readout folds the classifier's
1000 logits and their standardisation into one 1280 → 1 layer. It is only meaningful on an encoder
left at its ImageNet weights (trained with `freeze_encoder_epochs` = `epochs`), which the fit checks.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from tinct.models._efficientnet import HEAD_CHANNELS, _bn, _SamePadConv2d, pretrained_state_dict

#: Stride-32 channels of EfficientNet-Lite0 (the U-Net's deepest skip); Lite2 has 352.
DEEPEST_CHANNELS = 320
#: Largest gain, so an odd photo cannot get an absurd saturation boost.
MAX_GAIN = 3.0
#: An encoder this far (max abs difference) from the ImageNet weights counts as fine-tuned.
ENCODER_TOLERANCE = 1e-3


class SceneChroma(nn.Module):
    """(N, C, h, w) stride-32 encoder features → (N, 1, 1, 1) chroma gain in [0, MAX_GAIN]:
    the photo's estimated mean chroma divided by `reference` (the median estimate on the photos
    the readout was fitted on, so a typical photo keeps gain 1)."""

    def __init__(self, deepest_channels: int = DEEPEST_CHANNELS) -> None:
        super().__init__()
        self._conv_head = _SamePadConv2d(deepest_channels, HEAD_CHANNELS, 1, bias=False)
        self._bn1 = _bn(HEAD_CHANNELS)
        self.readout = nn.Linear(HEAD_CHANNELS, 1)
        self.register_buffer("reference", torch.tensor(1.0))

    def pooled(self, features: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) → (N, 1280): the ImageNet classifier's input."""
        return F.relu6(self._bn1(self._conv_head(features))).mean(dim=(2, 3))

    def estimate(self, features: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) → (N,) estimated mean chroma in a*b* units (≥ 0)."""
        # exp − 1 rather than expm1, which ONNX has no operator for; the precision is irrelevant here.
        return (torch.exp(self.readout(self.pooled(features))[:, 0]) - 1).clamp(min=0)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        gain = self.estimate(features) / self.reference
        return gain.clamp(max=MAX_GAIN).view(-1, 1, 1, 1)


def check_imagenet_encoder(encoder: nn.Module, imagenet: dict[str, torch.Tensor]) -> None:
    """Raise ValueError unless `encoder` (a U-Net's EfficientNet-Lite trunk) still holds the
    ImageNet weights: the readout is fitted on ImageNet features, a fine-tuned trunk has others."""
    for name, value in encoder.state_dict().items():
        if name.endswith("num_batches_tracked") or name not in imagenet:
            continue
        if (value.float() - imagenet[name].float()).abs().max() > ENCODER_TOLERANCE:
            raise ValueError(
                f"encoder weight {name} differs from ImageNet's: scene chroma needs an encoder frozen for "
                "the whole run (freeze_encoder_epochs = epochs)"
            )


def fit_scene_chroma(
    model: nn.Module, photos: Iterable[tuple[torch.Tensor, float]], ridge: float = 1000.0
) -> SceneChroma:
    """Fit a `SceneChroma` for a U-Net with a frozen ImageNet encoder.

    Args:
        model: a `UNetColorizer` (regression head) whose encoder holds the ImageNet weights.
        photos: (L, chroma) pairs: (1, 1, H, W) L* in [0, 100] at the working size (H, W multiples
            of 32), and the true photo's mean chroma √(a*² + b*²) in a*b* units.
        ridge: L2 penalty on the readout over standardised ImageNet logits (1000 features, so a
            strong one: a few hundred photos).

    Returns the fitted module, in eval mode. Needs the `train` extra for the ImageNet weights.
    """
    imagenet = pretrained_state_dict(model.config.encoder)
    check_imagenet_encoder(model.encoder, imagenet)
    scene = SceneChroma(imagenet["_conv_head.weight"].shape[1])
    scene._conv_head.weight.data.copy_(imagenet["_conv_head.weight"])
    scene._bn1.load_state_dict({k[len("_bn1.") :]: v for k, v in imagenet.items() if k.startswith("_bn1.")})
    scene.eval()
    fc_weight, fc_bias = imagenet["_fc.weight"].double(), imagenet["_fc.bias"].double()  # (1000, 1280), (1000,)
    pooled, targets = [], []
    with torch.no_grad():
        for L, chroma in photos:
            pooled.append(scene.pooled(model.deepest_features(L)).double()[0])
            targets.append(np.log1p(chroma))
    if len(pooled) < 2:
        raise ValueError("fit_scene_chroma needs at least 2 photos")
    logits = torch.stack(pooled) @ fc_weight.T + fc_bias  # (P, 1000)
    mean, std = logits.mean(dim=0), logits.std(dim=0) + 1e-6
    X = torch.cat(((logits - mean) / std, torch.ones(len(logits), 1, dtype=torch.float64)), dim=1)
    y = torch.tensor(targets, dtype=torch.float64)
    penalty = ridge * torch.eye(X.shape[1], dtype=torch.float64)
    penalty[-1, -1] = 0  # the intercept is not shrunk
    w = torch.linalg.solve(X.T @ X + penalty, X.T @ y)
    # Fold standardisation and the ImageNet fc into one 1280 → 1 layer:
    # w·((W h + b − μ)/σ) + c = (Wᵀ(w/σ))·h + (w/σ)·(b − μ) + c.
    scaled = w[:-1] / std
    scene.readout.weight.data.copy_((fc_weight.T @ scaled)[None].float())
    scene.readout.bias.data.copy_((scaled @ (fc_bias - mean) + w[-1]).reshape(1).float())
    with torch.no_grad():
        estimates = torch.expm1(X @ w).clamp(min=0)
    scene.reference.fill_(float(estimates.median().clamp(min=1.0)))
    return scene
