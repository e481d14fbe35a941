"""Differentiable tensor operations shared by losses and metrics (no state, no I/O)."""

from tinct.ops.ssim import gaussian_window, ssim

__all__ = ["gaussian_window", "ssim"]
