"""Structural similarity (SSIM, Wang et al. 2004) on (N, C, H, W) tensors.

The result equals ``skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=..., channel_axis=...)``: scikit-image filters with
``mode='reflect'`` and then averages only over the interior that lies at least
``(win_size - 1) // 2`` pixels from every border. Every interior pixel's window lies entirely
inside the image, so the padding never reaches it and that average is exactly the mean of a
'valid' (unpadded) convolution, which is what we compute. This holds whenever the window size
equals scikit-image's Gaussian footprint ``2 * int(3.5 * sigma + 0.5) + 1`` (11 for sigma=1.5,
7 for sigma=0.8).

Everything is differentiable, so ``1 - ssim(...)`` works as a loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

K1 = 0.01
K2 = 0.03


def gaussian_window(
    size: int = 11,
    sigma: float = 1.5,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """1-D Gaussian window normalised to sum 1.

    Args:
        size: number of taps, odd and ≥ 1.
        sigma: standard deviation in pixels, > 0.

    Returns:
        (size,) tensor; the 2-D window is its outer product with itself (the filter is separable).
    """
    if size < 1 or size % 2 != 1:
        raise ValueError(f"window size must be a positive odd integer, got {size}")
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    # Build in float64 and cast once, so float32/float16 windows are correctly rounded and
    # sum to 1 as closely as their dtype allows.
    r = (size - 1) // 2
    x = torch.arange(-r, r + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (x / sigma) ** 2)
    w = w / w.sum()
    return w.to(device=device, dtype=dtype if dtype is not None else torch.get_default_dtype())


def _filter_valid(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable depthwise 'valid' convolution of (N, C, H, W) with a 1-D window."""
    c = x.shape[1]
    k = window.numel()
    x = F.conv2d(x, window.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)
    return F.conv2d(x, window.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)


def ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    data_range: float,
    window_size: int = 11,
    sigma: float = 1.5,
    reduction: str = "mean",
) -> torch.Tensor:
    """Mean structural similarity with a Gaussian window, population (co)variances, K1=0.01, K2=0.03.

    Args:
        x, y: (N, C, H, W) float tensors of the same shape, dtype and device; H and W ≥ window_size.
            Channels are compared independently and averaged (like scikit-image's channel_axis).
        data_range: max - min of the values' scale, e.g. 1.0 for images in [0, 1], 255 for 0-255,
            100 for L*. Sets the stabilising constants C1 = (K1 R)^2, C2 = (K2 R)^2.
        window_size: Gaussian window taps (odd). Matches scikit-image when it equals
            2 * int(3.5 * sigma + 0.5) + 1 (the default 11 with sigma 1.5 does).
        sigma: Gaussian standard deviation in pixels.
        reduction: 'mean' -> scalar averaged over the batch; 'none' -> (N,) one value per image,
            averaged over channels and pixels.

    Returns:
        SSIM in [-1, 1] (1 for identical images), on the inputs' device and dtype.
    """
    if x.dim() != 4 or x.shape != y.shape:
        raise ValueError(
            f"expected two (N, C, H, W) tensors of the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    if min(x.shape[-2:]) < window_size:
        raise ValueError(f"images of size {tuple(x.shape[-2:])} are smaller than the {window_size}-px window")
    if not x.is_floating_point():
        raise TypeError(f"expected floating point tensors, got {x.dtype}")

    c = x.shape[1]
    window = gaussian_window(window_size, sigma, device=x.device, dtype=x.dtype)
    # One grouped convolution for all five statistics instead of five separate passes.
    stats = _filter_valid(torch.cat((x, y, x * x, y * y, x * y), dim=1), window)
    mu_x, mu_y, e_xx, e_yy, e_xy = stats.split(c, dim=1)
    var_x = e_xx - mu_x * mu_x
    var_y = e_yy - mu_y * mu_y
    cov_xy = e_xy - mu_x * mu_y

    c1 = (K1 * data_range) ** 2
    c2 = (K2 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    per_image = s.mean(dim=(1, 2, 3))
    return per_image if reduction == "none" else per_image.mean()
