"""Differentiable tensor operations shared across packages (no state, no I/O)."""

from tinct.ops.hints import pool_hints
from tinct.ops.ssim import gaussian_window, ssim

__all__ = ["gaussian_window", "pool_hints", "ssim"]
