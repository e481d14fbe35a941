"""A training run's folder: what `tinct train` writes, all of it atomically and from rank 0 only.

config.json                 the resolved recipe
metrics.csv, loss.png       one row per epoch, and its loss curves
samples/epoch_NNN.png       val photos: gray | prediction | truth (unless --samples 0)
checkpoints/last.safetensors, best.safetensors   release weights (tinct.io.weights)
checkpoints/last.resume.pt  the exact-resume state, written last in each epoch
"""

from __future__ import annotations

import csv
import importlib.util
import io
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tinct.io.images import atomic_write_bytes, temp_file_target
from tinct.models.base import ColorizationModel
from tinct.models.loading import save_model
from tinct.train.args import TrainConfig
from tinct.train.checkpoint import save_resume_state

log = logging.getLogger(__name__)

METRIC_FIELDS = ("epoch", "step", "lr", "train_loss", "val_loss", "val_psnr", "seconds")


class RunFolder:
    """The files of one run under ``root`` (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.checkpoints = root / "checkpoints"
        self.resume_path = self.checkpoints / "last.resume.pt"

    def prepare(self, cfg: TrainConfig, samples: bool, clean: bool) -> None:
        """Create the folders and write config.json; with ``clean`` (a resume), first delete what a
        kill during an atomic write leaves behind: its hidden temporary file, never a partial target.
        Only rank 0 writes here, so any such file anywhere in the run folder is ours."""
        if clean:
            for leftover in self.root.rglob(".*.tmp"):
                if temp_file_target(leftover.name) is not None:
                    leftover.unlink(missing_ok=True)
        if samples:
            (self.root / "samples").mkdir(parents=True, exist_ok=True)
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        cfg.save(self.root / "config.json")

    def save_weights(self, model: ColorizationModel, best: bool, **metadata: Any) -> None:
        """checkpoints/last.safetensors, and best.safetensors too when ``best``."""
        save_model(self.checkpoints / "last.safetensors", model, **metadata)
        if best:
            save_model(self.checkpoints / "best.safetensors", model, **metadata)

    def save_epoch(
        self, state: dict[str, Any], rows: list[dict], samples: list[torch.Tensor] | None, sample_count: int
    ) -> None:
        """The resume state (after the weights: if it exists, everything it refers to is complete),
        then metrics.csv, loss.png and, given val ``samples`` (gray, prediction, truth batches of
        (N, 3, H, W) sRGB in [0, 1]), samples/epoch_NNN.png with ``sample_count`` rows."""
        save_resume_state(self.resume_path, state)
        _write_metrics(self.root / "metrics.csv", rows)
        if importlib.util.find_spec("matplotlib") is not None:  # the `train` extra; metrics.csv has the numbers
            _plot_losses(self.root / "loss.png", rows)
        elif len(rows) == 1:
            log.warning("loss.png not drawn: it needs matplotlib (pip install 'tinct[train]'); see metrics.csv")
        if samples:
            _save_samples(self.root / "samples" / f"epoch_{state['epoch']:03d}.png", samples, sample_count)


def _save_samples(path: Path, gray_pred_truth: list[torch.Tensor], count: int) -> None:
    """A grid: one row per photo, columns gray | prediction | truth."""
    from PIL import Image

    rows = [torch.cat([t[i] for t in gray_pred_truth], dim=-1) for i in range(min(count, len(gray_pred_truth[0])))]
    grid = torch.cat(rows, dim=-2)
    array = (grid.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def _plot_losses(path: Path, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, [r["train_loss"] for r in rows], marker="o", label="train")
    val = [(r["epoch"], r["val_loss"]) for r in rows if r.get("val_loss") not in (None, "")]
    if val:
        ax.plot(*zip(*val, strict=True), marker="o", label="val")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def _write_metrics(path: Path, rows: list[dict]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=METRIC_FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, text.getvalue().encode())
