"""Folder datasets of color photos yielding L* and a*b* crops."""

from tinct.data.dataset import ColorDataset, read_file_list
from tinct.data.transforms import center_crop_box, random_resized_crop_box

__all__ = ["ColorDataset", "center_crop_box", "random_resized_crop_box", "read_file_list"]
