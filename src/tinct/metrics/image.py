"""Full-reference and no-reference image metrics on sRGB images.

Every function takes RGB images in any form accepted by `to_rgb_tensor`: a torch tensor
(*, 3, H, W) float in [0, 1] (or uint8), or a numpy array (*, H, W, 3) uint8 / uint16 / float in
[0, 1]. Results are tensors with the inputs' leading (batch) shape `*` — one value per image,
0-dim for a single image — on the inputs' device and dtype.
"""

from __future__ import annotations

import math

import torch

from tinct.color import rgb_to_lab
from tinct.metrics._inputs import rgb_pair, to_rgb_tensor
from tinct.metrics.ciede2000 import ciede2000
from tinct.ops.ssim import ssim

# Identical images have infinite PSNR; we report this finite ceiling instead so that averages over
# a dataset stay meaningful (one perfect image would otherwise make the mean inf).
PSNR_MAX_DB = 100.0
SSIM_WINDOW = 11


def psnr(pred, target, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image, over all three channels.

    Args:
        pred, target: RGB images of the same shape (see module docstring); uint8 inputs are first
            scaled to [0, 1].
        data_range: peak value of the [0, data_range] scale the (converted) images use; 1.0 for
            images in [0, 1].

    Returns:
        (*,) PSNR in dB, capped at `PSNR_MAX_DB` (100 dB) — identical images give exactly 100.
    """
    p, t = rgb_pair(pred, target)
    mse = (p - t).square().mean(dim=(-3, -2, -1))
    floor = data_range**2 * 10 ** (-PSNR_MAX_DB / 10)
    return 10 * torch.log10(data_range**2 / mse.clamp(min=floor))


def ssim_rgb(pred, target) -> torch.Tensor:
    """SSIM per image on RGB in [0, 1] (data_range 1, 11-px Gaussian window, σ = 1.5).

    The three channels are scored separately and averaged, as
    ``skimage.metrics.structural_similarity(..., channel_axis=-1, gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=1)`` does.

    Args:
        pred, target: RGB images of the same shape (see module docstring), H and W ≥ 11.

    Returns:
        (*,) SSIM in [-1, 1], 1 for identical images.
    """
    p, t = rgb_pair(pred, target)
    batch_shape = p.shape[:-3]
    values = ssim(p.reshape(-1, *p.shape[-3:]), t.reshape(-1, *t.shape[-3:]), data_range=1.0, reduction="none")
    return values.reshape(batch_shape)


def colorfulness(rgb) -> torch.Tensor:
    """Hasler & Süsstrunk (2003) colorfulness M per image.

    On 0-255 RGB: rg = R - G, yb = (R + G) / 2 - B,
    M = sqrt(σ_rg² + σ_yb²) + 0.3 · sqrt(μ_rg² + μ_yb²), with population standard deviations
    over the image's pixels. 0 for any gray image; ~15 "slightly", ~33 "moderately",
    ~59 "quite", ~82 "highly", ≥ 109 "extremely colorful" on the authors' scale.

    Args:
        rgb: RGB image(s) (see module docstring), [0, 1] floats (or uint8).

    Returns:
        (*,) M ≥ 0 in 0-255 units.
    """
    x = to_rgb_tensor(rgb) * 255.0
    r, g, b = x.unbind(-3)
    rg = (r - g).flatten(-2)
    yb = (0.5 * (r + g) - b).flatten(-2)
    std = torch.sqrt(rg.var(dim=-1, correction=0) + yb.var(dim=-1, correction=0))
    mean = torch.sqrt(rg.mean(dim=-1).square() + yb.mean(dim=-1).square())
    return std + 0.3 * mean


def mean_chroma(rgb) -> torch.Tensor:
    """Mean CIE chroma √(a*² + b*²) per image: (*,) in a*b* units, below 0.01 for any gray image.

    Args:
        rgb: RGB image(s) (see module docstring), [0, 1] floats (or uint8).
    """
    return rgb_to_lab(to_rgb_tensor(rgb))[..., 1:, :, :].norm(dim=-3).mean(dim=(-2, -1))


#: Pixels whose true CIE chroma is below this (a*b* units) count as neutral for `neutral_cast`:
#: white walls, gray pavement, black cloth, where any color a model adds is a cast.
NEUTRAL_CHROMA = 5.0


def neutral_cast(pred, target) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean a* and b* a colorization puts on the pixels that are neutral in the truth.

    Why: a model unsure of a scene tends to paint the average color of its training photos over
    it (a brown cast is +a*, +b*). Pixels whose true chroma is below `NEUTRAL_CHROMA` should stay
    near a* = b* = 0, so their mean predicted a*, b* measures the cast directly.

    Args:
        pred, target: RGB images of the same shape (see module docstring).

    Returns:
        ((*,), (*,)): mean a* and mean b* of ``pred`` over those pixels, NaN where there are none.
    """
    p, t = rgb_pair(pred, target)
    return _neutral_cast_lab(rgb_to_lab(p), rgb_to_lab(t))


def _neutral_cast_lab(pred_lab: torch.Tensor, target_lab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`neutral_cast` on CIE Lab images (*, 3, H, W) already converted."""
    pred_ab = pred_lab[..., 1:, :, :]
    neutral = (target_lab[..., 1:, :, :].norm(dim=-3) < NEUTRAL_CHROMA).to(pred_ab.dtype)
    count = neutral.sum(dim=(-2, -1))
    means = (pred_ab * neutral.unsqueeze(-3)).sum(dim=(-2, -1)) / count.unsqueeze(-1)
    return means[..., 0], means[..., 1]


def evaluate_pair(pred_rgb, target_rgb) -> dict[str, float]:
    """All metrics for one colorized image against its ground truth.

    Args:
        pred_rgb, target_rgb: one RGB image each, same size: torch (3, H, W) / (1, 3, H, W) in
            [0, 1] or uint8, or numpy (H, W, 3) uint8 / float in [0, 1].

    Returns:
        ``{"psnr": dB (≤ 100), "ssim": [-1, 1], "colorfulness": M of pred,
        "colorfulness_truth": M of target, "ciede2000": mean ΔE00, "cast_a", "cast_b": the mean
        a*, b* put on truly neutral pixels (`neutral_cast`)}`` as Python floats. "ssim" is NaN
        when the image is smaller than the 11-px SSIM window on either side, "cast_a" and
        "cast_b" when the truth has no neutral pixel.
    """
    images = []
    for image in (pred_rgb, target_rgb):
        x = to_rgb_tensor(image)
        if x.shape[:-3].numel() != 1:
            raise ValueError(f"evaluate_pair takes one image each, got a batch of shape {tuple(x.shape)}")
        images.append(x.reshape(1, *x.shape[-3:]))  # (3, H, W) and (1, 3, H, W) may be mixed
    p, t = rgb_pair(*images)
    with torch.no_grad():
        small = min(p.shape[-2:]) < SSIM_WINDOW
        p_lab, t_lab = rgb_to_lab(p), rgb_to_lab(t)  # once, for ΔE00 and the cast
        return {
            "psnr": float(psnr(p, t)),
            "ssim": math.nan if small else float(ssim_rgb(p, t)),
            "colorfulness": float(colorfulness(p)),
            "colorfulness_truth": float(colorfulness(t)),
            "ciede2000": float(ciede2000(p_lab, t_lab).mean()),
            **dict(zip(("cast_a", "cast_b"), (float(v) for v in _neutral_cast_lab(p_lab, t_lab)), strict=True)),
        }
