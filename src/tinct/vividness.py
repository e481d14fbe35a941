"""The vividness knob: how saturated a colorization is (torch-free, shared by every layer).

Vividness v in [0, 1] is the one user-facing knob for how saturated the result is.
Classification heads map it to the annealed-mean temperature T = 1 − 0.9·v (v = 0: the mean of
the predicted distribution, dull; v = 1: T = 0.1, near the mode, vivid). Regression heads scale
the predicted chroma by 0.5 + v (v = 0.5 leaves the prediction unchanged).
"""

from __future__ import annotations

__all__ = ["VIVIDNESS_RANGE", "check_vividness", "vividness_to_temperature"]

VIVIDNESS_RANGE = (0.0, 1.0)


def check_vividness(vividness: float) -> None:
    """Raise ValueError unless ``vividness`` is in [0, 1]."""
    if not VIVIDNESS_RANGE[0] <= vividness <= VIVIDNESS_RANGE[1]:
        raise ValueError(f"vividness must be in [0, 1], got {vividness}")


def vividness_to_temperature(vividness: float) -> float:
    """Vividness in [0, 1] (checked by the caller) → annealed-mean temperature in [0.1, 1]."""
    return 1.0 - 0.9 * vividness
