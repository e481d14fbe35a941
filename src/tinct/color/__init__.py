"""Color math as pure tensor functions (imports nothing else from tinct)."""

from tinct.color.lab import lab_to_rgb, rgb_to_lab

__all__ = ["lab_to_rgb", "rgb_to_lab"]
