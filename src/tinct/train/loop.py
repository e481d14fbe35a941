"""`fit(config)`: the training loop behind `tinct train`, for one process or many under torchrun.

Only rank 0 writes (config.json, metrics.csv, loss.png, samples/, checkpoints/); every write is
atomic. Checkpoints are taken at the end of each epoch; `resume=True` continues from the last one
with the same data order, crops and hints as an uninterrupted run (all randomness is derived from
(seed, epoch)).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import importlib.util
import io
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from tinct.color.ab_bins import nearest_bin, rebalancing_weights
from tinct.color.lab import lab_to_rgb
from tinct.data.dataset import ColorDataset, read_file_list
from tinct.device import pick_device
from tinct.io.images import atomic_write_bytes, list_images, temp_file_target
from tinct.io.weights import load_weights
from tinct.losses import build_loss
from tinct.metrics import psnr
from tinct.models import create_model
from tinct.models.base import ColorizationModel
from tinct.models.loading import save_model
from tinct.train import dist
from tinct.train.args import TrainConfig
from tinct.train.checkpoint import load_resume_state, save_resume_state

log = logging.getLogger(__name__)

METRIC_FIELDS = ("epoch", "step", "lr", "train_loss", "val_loss", "val_psnr", "seconds")


def _datasets(cfg: TrainConfig, size: int, hints: bool) -> tuple[ColorDataset, ColorDataset | None]:
    source = read_file_list(cfg.file_list) if cfg.file_list else cfg.data
    if not source:
        raise ValueError("no training data: give a folder or --file-list")
    if cfg.extra_data:
        source = (source if isinstance(source, list) else list_images(source)) + [
            path for folder in cfg.extra_data for path in list_images(folder)
        ]
    train = ColorDataset(source, size, train=True, seed=cfg.seed, hints=hints, degrade=cfg.degrade)
    val = ColorDataset(cfg.val, size, train=False, seed=cfg.seed, skip_gray=True) if cfg.val else None
    if val is None and cfg.val_fraction > 0:
        n_val = max(1, round(len(train) * cfg.val_fraction))
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg.seed)).tolist()
        held_out = ColorDataset([train.paths[i] for i in order[:n_val]], size, train=False, skip_gray=True)
        train = ColorDataset(
            [train.paths[i] for i in order[n_val:]], size, train=True, seed=cfg.seed, hints=hints, degrade=cfg.degrade
        )
        val = held_out
    return train, val


def class_counts(dataset: ColorDataset, bins: torch.Tensor, side: int = 64) -> torch.Tensor:
    """How often each a*b* bin is the nearest one over the training photos (at `side` px)."""
    from PIL import Image

    from tinct.color.lab import rgb_to_lab

    counts = torch.zeros(len(bins), dtype=torch.float64)
    for i in range(len(dataset)):
        image = Image.fromarray(dataset.rgb(i)).resize((side, side), Image.BILINEAR)
        rgb = torch.from_numpy(np.array(image)).permute(2, 0, 1).float().div(255)
        idx = nearest_bin(rgb_to_lab(rgb)[None, 1:], bins)
        counts += torch.bincount(idx.flatten(), minlength=len(bins)).double()
    return counts


def _init_from(model: ColorizationModel, path: str, info: dist.DistInfo) -> None:
    """Copy weights from a .safetensors file; keys the file lacks keep their initialisation."""
    state, _ = load_weights(path)
    own = model.state_dict()
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(k for k in state if k in own and state[k].shape != own[k].shape)
    if unexpected or mismatched:
        raise ValueError(f"--init-from {path}: unexpected keys {unexpected[:5]}, shape mismatches {mismatched[:5]}")
    missing = sorted(set(own) - set(state))
    model.load_state_dict(state, strict=False)
    if info.is_main:
        print(f"initialised from {path}; {len(missing)} tensor(s) kept fresh: {', '.join(missing[:8])}")


def _make_ema(model: ColorizationModel, decay: float) -> torch.optim.swa_utils.AveragedModel:
    """An exponential moving average of the weights (and BN statistics), updated every optimizer step."""
    if not 0 < decay < 1:
        raise ValueError(f"--ema: decay must be in (0, 1), got {decay}")
    return torch.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(decay), use_buffers=True
    )


def _eval_model(model: ColorizationModel, ema) -> ColorizationModel:
    return ema.module if ema is not None else model


def _mixed_precision(cfg: TrainConfig, device: torch.device) -> tuple[torch.dtype | None, torch.amp.GradScaler | None]:
    """Autocast dtype and grad scaler: bf16 on CUDA where supported, fp16 + scaler otherwise; off on CPU/MPS
    (CPU autocast is slower than float32 for these convolutions)."""
    if cfg.amp == "off" or device.type != "cuda":
        if cfg.amp in ("bf16", "fp16") and device.type != "cuda":
            raise ValueError(f"--amp {cfg.amp} needs a CUDA device")
        return None, None
    if cfg.amp == "bf16" or (cfg.amp == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16, None
    return torch.float16, torch.amp.GradScaler("cuda")


def _lr_factor(cfg: TrainConfig, step: int, total_steps: int) -> float:
    """The lr multiplier at optimizer step ``step`` (0-based) of ``total_steps``: a linear warmup
    over ``cfg.warmup_steps``, then 1 or a cosine decay to 0 (``cfg.schedule``)."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "cosine":
        progress = (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return 1.0


def _param_groups(model: ColorizationModel, cfg: TrainConfig) -> list[dict]:
    """Optimizer groups: the pretrained encoder at lr × encoder_lr_scale, the hint layers at
    lr × hint_lr_scale, everything else at lr. Empty groups are dropped."""
    encoder = getattr(model, "encoder", None)
    enc_ids = {id(p) for p in encoder.parameters()} if encoder is not None else set()
    groups: dict[str, list] = {"encoder": [], "hints": [], "rest": []}
    for name, p in model.named_parameters():
        if id(p) in enc_ids and cfg.encoder_lr_scale != 1.0:
            groups["encoder"].append(p)
        elif name.startswith(("hint_stem.", "hint_adapters.")) and cfg.hint_lr_scale != 1.0:
            groups["hints"].append(p)
        else:
            groups["rest"].append(p)
    scales = {"encoder": cfg.encoder_lr_scale, "hints": cfg.hint_lr_scale, "rest": 1.0}
    return [{"params": ps, "lr_scale": scales[k]} for k, ps in groups.items() if ps]


def _set_encoder_frozen(model: ColorizationModel, frozen: bool) -> None:
    encoder = getattr(model, "encoder", None)
    if encoder is None:
        return
    for p in encoder.parameters():
        p.requires_grad_(not frozen)
    if frozen:
        encoder.eval()  # keep ImageNet batch-norm statistics while the decoder settles


@torch.no_grad()
def _validate(model, loss_fn, loader, device) -> tuple[float, float, list[torch.Tensor]]:
    """Mean val loss, mean PSNR (dB, RGB at the crop size) and the first batch's RGB predictions."""
    model.eval()
    losses, psnrs, first = [], [], []
    for L, ab, *_ in loader:
        L, ab = L.to(device), ab.to(device)
        raw = model(L, torch.zeros(L.shape[0], 3, *L.shape[-2:], device=device) if model.config.hints else None)
        losses.append(float(loss_fn(raw, ab, L)["loss"]) * len(L))
        pred_ab = nn.functional.interpolate(model.decode(raw), size=L.shape[-2:], mode="bilinear", align_corners=False)
        pred = lab_to_rgb(torch.cat((L, pred_ab), 1))
        truth = lab_to_rgb(torch.cat((L, ab), 1))
        psnrs.extend(psnr(pred, truth).tolist())
        if not first:
            first = [lab_to_rgb(torch.cat((L, torch.zeros_like(ab)), 1)), pred, truth]
    n = len(psnrs)
    return sum(losses) / n, sum(psnrs) / n, first


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


@dataclasses.dataclass
class FitResult:
    out: Path  #: the run folder
    model: ColorizationModel  #: the trained model (the EMA weights if --ema), unwrapped from DDP


def fit(cfg: TrainConfig) -> FitResult:
    """Train a model as `cfg` says. See the module docstring."""
    info = dist.init_distributed()
    try:
        return _fit(cfg, info)
    finally:
        dist.cleanup(info)


def _fit(cfg: TrainConfig, info: dist.DistInfo) -> FitResult:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        device = pick_device(cfg.device, info.local_rank)
    except ValueError as err:
        raise ValueError(f"--device: {err}") from None
    out = Path(cfg.out)
    resume_path = out / "checkpoints" / "last.resume.pt"
    if cfg.resume and not resume_path.exists():
        raise ValueError(f"--resume: {resume_path} does not exist")
    if not cfg.resume and resume_path.exists():
        raise ValueError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    if cfg.batch_size % (info.world_size * cfg.grad_accum):
        raise ValueError(
            f"--batch-size {cfg.batch_size} must divide evenly over {info.world_size} process(es) × "
            f"{cfg.grad_accum} accumulation step(s)"
        )
    micro_batch = cfg.batch_size // (info.world_size * cfg.grad_accum)

    torch.manual_seed(cfg.seed)
    model = create_model(cfg.model, **cfg.model_args)
    if cfg.init_from and not cfg.resume:
        _init_from(model, cfg.init_from, info)
    size = cfg.size or model.default_size
    model.check_size(size, size)
    train_set, val_set = _datasets(cfg, size, model.config.hints)

    loss_spec = cfg.loss or ("ce" if model.config.head == "classification" else "l2")
    class_weights = None
    if model.config.head == "classification":
        class_weights = rebalancing_weights(class_counts(train_set, model.bins), model.bins, lam=cfg.rebalance_lambda)
    loss_fn = build_loss(loss_spec, model.config.head, getattr(model, "bins", None), class_weights).to(device)
    model.to(device)

    groups = _param_groups(model, cfg)
    param_groups = [{"params": g["params"], "lr": cfg.lr * g["lr_scale"]} for g in groups]
    if cfg.optimizer == "sgd":
        optimizer = torch.optim.SGD(param_groups, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    else:
        optimizer = torch.optim.AdamW(param_groups, lr=cfg.lr, weight_decay=cfg.weight_decay)

    # Every process count uses DistributedSampler's seeded permutation, so a global batch holds the
    # same photos with 1 or N processes and a resume may change the number of processes.
    sampler = DistributedSampler(train_set, info.world_size, info.rank, shuffle=True, seed=cfg.seed)
    ema = _make_ema(model, cfg.ema) if cfg.ema else None
    autocast_dtype, scaler = _mixed_precision(cfg, device)
    steps_per_epoch = math.ceil(len(train_set) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    # Step s of the run uses each group's own lr (cfg.lr × its scale) × _lr_factor(s). LambdaLR counts
    # optimizer steps (steps_per_epoch per epoch, as the batch size divides evenly over processes and
    # accumulation); its position travels in the resume state.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(cfg, step, total_steps))

    rows: list[dict] = []
    start_epoch = 0
    best_val = math.inf
    if cfg.resume:
        if info.is_main:
            # A kill during an atomic write leaves its hidden temporary file behind, never a partial
            # target. Only rank 0 writes here, so any such file anywhere in the run folder is ours.
            for leftover in out.rglob(".*.tmp"):
                if temp_file_target(leftover.name) is not None:
                    leftover.unlink(missing_ok=True)
        state = load_resume_state(resume_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if "scheduler" in state:
            scheduler.load_state_dict(state["scheduler"])
        else:  # a resume file written before the schedule was saved: its position follows from the epoch
            scheduler.last_epoch = int(state["epoch"]) * steps_per_epoch
            for group, base_lr in zip(optimizer.param_groups, scheduler.base_lrs, strict=True):
                group["lr"] = base_lr * _lr_factor(cfg, scheduler.last_epoch, total_steps)
        start_epoch = int(state["epoch"])
        rows = list(state["rows"])
        best_val = float(state["best_val"])
        torch.set_rng_state(state["torch_rng"])
        if ema is not None and "ema" in state:
            ema.load_state_dict(state["ema"])
        if scaler is not None and "scaler" in state:
            scaler.load_state_dict(state["scaler"])
        if start_epoch >= cfg.epochs:
            log.info("run already finished %d epoch(s)", start_epoch)
    if info.is_main:
        (out / "samples").mkdir(parents=True, exist_ok=True)
        (out / "checkpoints").mkdir(parents=True, exist_ok=True)
        cfg.save(out / "config.json")
        if train_set.skipped_unreadable:
            print(
                f"skipped {len(train_set.skipped_unreadable)} unreadable file(s):",
                *train_set.skipped_unreadable,
                sep="\n  ",
            )
    dist.barrier(info)

    forward_model, ddp, wrapped_frozen = model, None, None
    val_loader = (
        DataLoader(val_set, batch_size=max(1, micro_batch), shuffle=False, num_workers=cfg.workers) if val_set else None
    )

    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.time()
        train_set.set_epoch(epoch)
        sampler.set_epoch(epoch)
        loader = DataLoader(train_set, batch_size=micro_batch, sampler=sampler, num_workers=cfg.workers)
        frozen = epoch < cfg.freeze_encoder_epochs
        model.train()
        _set_encoder_frozen(model, frozen)
        if frozen != wrapped_frozen:
            # DDP registers gradient hooks for the parameters that require grad when it is built,
            # so it is rebuilt whenever freezing changes that set.
            ddp = nn.parallel.DistributedDataParallel(model) if info.enabled else None
            forward_model = ddp if ddp is not None else model
            if cfg.compile:
                forward_model = torch.compile(forward_model)
            wrapped_frozen = frozen
        total, count = 0.0, 0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not info.is_main, leave=False, unit="batch")
        optimizer.zero_grad(set_to_none=True)
        for i, (L, ab, *maybe_hints) in enumerate(bar):
            L, ab = L.to(device, non_blocking=True), ab.to(device, non_blocking=True)
            hints = maybe_hints[0].to(device, non_blocking=True) if maybe_hints else None
            last_micro_step = (i + 1) % cfg.grad_accum == 0 or i + 1 == len(loader)
            # Under DDP, gradients are only all-reduced on the micro-batch that ends an accumulation.
            sync = ddp.no_sync() if ddp is not None and not last_micro_step else contextlib.nullcontext()
            with sync:
                with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                    raw = forward_model(L, hints)
                parts = loss_fn(raw.float(), ab, L)
                scaled = parts["loss"] / cfg.grad_accum
                (scaler.scale(scaled) if scaler is not None else scaled).backward()
            if last_micro_step:
                step_lr = optimizer.param_groups[-1]["lr"]  # the lr logged for the epoch's last step
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                if ema is not None:
                    ema.update_parameters(model)
            total += float(parts["loss"].detach()) * len(L)
            count += len(L)
            if i % cfg.log_every == 0:
                bar.set_postfix(
                    loss=f"{total / count:.4f}", img_s=f"{count * info.world_size / (time.time() - t0):.1f}"
                )
        bar.close()
        train_loss = float(dist.all_reduce_mean(torch.tensor(total / max(count, 1)), info))
        row = {
            "epoch": epoch + 1,
            "step": (epoch + 1) * steps_per_epoch,
            "lr": step_lr,
            "train_loss": round(train_loss, 6),
            "val_loss": "",
            "val_psnr": "",
        }
        samples = None
        if val_loader is not None and info.is_main:
            val_loss, val_psnr, samples = _validate(_eval_model(model, ema), loss_fn, val_loader, device)
            row.update(val_loss=round(val_loss, 6), val_psnr=round(val_psnr, 3))
        row["seconds"] = round(time.time() - t0, 1)
        rows.append(row)
        dist.barrier(info)
        if info.is_main:
            _write_epoch(out, model, ema, scaler, optimizer, scheduler, cfg, epoch + 1, rows, row, samples, best_val)
            if row["val_loss"] != "" and row["val_loss"] < best_val:
                best_val = row["val_loss"]
            msg = f"epoch {epoch + 1}/{cfg.epochs}: train loss {train_loss:.4f}"
            if row["val_loss"] != "":
                msg += f", val loss {row['val_loss']:.4f}, val PSNR {row['val_psnr']:.2f} dB"
            print(f"{msg} ({row['seconds']:.0f} s)", flush=True)
        dist.barrier(info)
    return FitResult(out, _eval_model(model, ema))


def _write_epoch(out, model, ema, scaler, optimizer, scheduler, cfg, epoch, rows, row, samples, best_val) -> None:
    """Write the epoch's weights (the EMA ones if enabled), resume state, metrics, plot and samples."""
    ckpt = out / "checkpoints"
    extra = {"epoch": epoch, "train_config": cfg.to_dict(), "val_loss": row["val_loss"], "val_psnr": row["val_psnr"]}
    release = _eval_model(model, ema)
    save_model(ckpt / "last.safetensors", release, **extra)
    if row["val_loss"] != "" and row["val_loss"] < best_val:
        save_model(ckpt / "best.safetensors", release, **extra)
    # The resume file is written last: if it exists, everything it refers to is complete.
    save_resume_state(
        ckpt / "last.resume.pt",
        {
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rows": rows,
            "best_val": min(best_val, row["val_loss"]) if row["val_loss"] != "" else best_val,
            "torch_rng": torch.get_rng_state(),
            **({"ema": ema.state_dict()} if ema is not None else {}),
            **({"scaler": scaler.state_dict()} if scaler is not None else {}),
        },
    )
    _write_metrics(out / "metrics.csv", rows)
    if importlib.util.find_spec("matplotlib") is not None:  # the `train` extra; metrics.csv has the numbers
        _plot_losses(out / "loss.png", rows)
    elif epoch == 0:
        log.warning("loss.png not drawn: it needs matplotlib (pip install 'tinct[train]'); metrics.csv has the losses")
    if samples:
        _save_samples(out / "samples" / f"epoch_{epoch:03d}.png", samples, cfg.samples)
