"""Regression losses (α·L1 + β·L2 + γ·(1 − SSIM) + δ·(−PSNR) on a*b*/128, ε·ImageNet features of the
RGB crop) and the class-rebalanced cross-entropy over a*b* bins, behind one spec string such as "l2",
"l1=0.5,ssim=0.5", "psnr", "l1=1,feat=0.2" or "ce"."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from tinct.color.ab_bins import soft_encode
from tinct.ops.ssim import ssim

REGRESSION_TERMS = ("l1", "l2", "ssim", "psnr", "feat")
CLASSIFICATION_TERMS = ("ce",)
AB_SCALE = 128.0  # a*b* are compared in units of 1/128, the scale of the tanh output
# Floor under each sample's a*b*/128 MSE in the "psnr" term: caps a sample's score at 40 dB, so a
# crop that is already right (a white wall) cannot dominate the batch with an unbounded gradient.
PSNR_MSE_FLOOR = 1e-4


def parse_loss_spec(spec: str) -> dict[str, float]:
    """ "l1=0.5,ssim=0.5" → {"l1": 0.5, "ssim": 0.5}; a bare name has weight 1."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, value = part.partition("=")
        name = name.strip().lower()
        if name not in REGRESSION_TERMS + CLASSIFICATION_TERMS:
            raise ValueError(f"--loss: unknown term {name!r}; use {', '.join(REGRESSION_TERMS + CLASSIFICATION_TERMS)}")
        try:
            weights[name] = float(value) if value else 1.0
        except ValueError:
            raise ValueError(f"--loss: weight of {name!r} is not a number: {value!r}") from None
        if weights[name] < 0:
            raise ValueError(f"--loss: weight of {name!r} must be ≥ 0")
    if not weights or sum(weights.values()) == 0:
        raise ValueError(f"--loss: no term with a positive weight in {spec!r}")
    return weights


def downsample_to(target: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Average-pool a (N, C, H, W) target to a model output's (h, w), a divisor of (H, W)."""
    if tuple(target.shape[-2:]) == tuple(size):
        return target
    return F.adaptive_avg_pool2d(target, size)


def negative_psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of each sample's −PSNR in dB, 10·log10(MSE + floor), for (N, C, H, W)
    inputs with a data range of 1 per unit.

    Why not L2: tinct is scored by the mean of per-photo PSNR, which is log-MSE per photo. L2 weighs
    every pixel alike, so a tint on a near-neutral photo (tiny error, many dB lost) costs the same
    as the same tint on a colorful one (large error, few dB lost); this term weighs each sample by
    1/MSE and so teaches the model to keep neutral-looking scenes neutral."""
    mse = (pred - target).square().flatten(1).mean(dim=1)
    return 10 * torch.log10(mse + PSNR_MSE_FLOOR).mean()


class ColorizationLoss(nn.Module):
    """α·L1 + β·L2 + γ·(1 − SSIM) + δ·(−PSNR in dB) between predicted and true a*b*/128 (both in
    [-1, 1]), + ε·`ImageNetFeatureLoss` ("feat") between the RGB crops they make with the input L*."""

    def __init__(self, weights: dict[str, float]) -> None:
        super().__init__()
        bad = set(weights) - set(REGRESSION_TERMS)
        if bad:
            raise ValueError(f"--loss: {', '.join(sorted(bad))} does not apply to a regression head")
        self.weights = weights
        if "feat" in weights:
            from tinct.losses.perceptual import ImageNetFeatureLoss  # needs the `train` extra

            self.features = ImageNetFeatureLoss()

    def forward(
        self, raw: torch.Tensor, target_ab: torch.Tensor, L: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """raw: (N, 2, h, w) in [-1, 1]; target_ab: (N, 2, H, W) in a*b* units; L: (N, 1, H, W) L*
        in [0, 100], the network's input (needed by the "feat" term only)."""
        target = downsample_to(target_ab, raw.shape[-2:]) / AB_SCALE
        parts = {}
        if "l1" in self.weights:
            parts["l1"] = (raw - target).abs().mean()
        if "l2" in self.weights:
            parts["l2"] = (raw - target).square().mean()
        if "ssim" in self.weights:
            parts["ssim"] = 1 - ssim(raw, target, data_range=2.0)
        if "psnr" in self.weights:
            parts["psnr"] = negative_psnr(raw, target)
        if "feat" in self.weights:
            if L is None:
                raise ValueError("the 'feat' loss term needs the input L*")
            pred_ab = F.interpolate(raw * AB_SCALE, size=L.shape[-2:], mode="bilinear", align_corners=False)
            parts["feat"] = self.features(L, pred_ab, target_ab)
        total = sum(self.weights[k] * v for k, v in parts.items())
        return {"loss": total, **parts}


class RebalancedCrossEntropy(nn.Module):
    """Cross-entropy against soft-encoded a*b* targets, each pixel weighted by the rarity of its
    color (Zhang et al. 2016, eq. 2–4). `class_weights` come from `gamut.rebalancing_weights`."""

    def __init__(self, bins: torch.Tensor, class_weights: torch.Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("bins", bins.clone())
        self.register_buffer(
            "class_weights", class_weights.clone() if class_weights is not None else torch.ones(len(bins))
        )

    def forward(
        self, logits: torch.Tensor, target_ab: torch.Tensor, L: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """logits: (N, Q, h, w); target_ab: (N, 2, H, W) in a*b* units; L is unused (one signature
        with `ColorizationLoss`)."""
        target = downsample_to(target_ab, logits.shape[-2:]).float()
        with torch.no_grad():
            soft = soft_encode(target, self.bins)  # (N, Q, h, w)
            pixel_weight = self.class_weights[soft.argmax(dim=1)]  # (N, h, w)
        nll = -(soft * F.log_softmax(logits.float(), dim=1)).sum(dim=1)
        ce = (pixel_weight * nll).mean()
        return {"loss": ce, "ce": ce}


def build_loss(
    spec: str, head: str, bins: torch.Tensor | None = None, class_weights: torch.Tensor | None = None
) -> nn.Module:
    """Loss module for a model head from a --loss spec (see `parse_loss_spec`)."""
    weights = parse_loss_spec(spec)
    if head == "classification":
        if set(weights) != {"ce"}:
            raise ValueError(f"--loss: a classification head trains with 'ce', got {spec!r}")
        if bins is None:
            raise ValueError("the classification loss needs the model's a*b* bins")
        return RebalancedCrossEntropy(bins, class_weights)
    return ColorizationLoss(weights)
