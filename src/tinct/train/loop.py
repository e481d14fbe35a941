"""`fit(config)`: the training loop behind `tinct train`, for one process or many under torchrun.

Only rank 0 writes (config.json, metrics.csv, loss.png, samples/, checkpoints/); every write is
atomic. Checkpoints are taken at the end of each epoch; `resume=True` continues from the last one
with the same data order, crops and hints as an uninterrupted run (all randomness is derived from
(seed, epoch)).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, DistributedSampler, Sampler
from tqdm import tqdm

from tinct.color.ab_bins import nearest_bin, rebalancing_weights
from tinct.color.lab import lab_to_rgb
from tinct.data.dataset import ColorDataset, read_file_list
from tinct.data.sampling import SourceBalancedSampler
from tinct.data.splits import carve_val
from tinct.device import pick_device
from tinct.io.images import list_images
from tinct.io.weights import load_weights
from tinct.losses import build_loss
from tinct.metrics import psnr
from tinct.models import create_model
from tinct.models.base import ColorizationModel
from tinct.train import dist
from tinct.train.args import TrainConfig
from tinct.train.checkpoint import load_resume_state
from tinct.train.run_folder import RunFolder

log = logging.getLogger(__name__)


def _datasets(
    cfg: TrainConfig, size: int, hints: bool, info: dist.DistInfo
) -> tuple[ColorDataset, ColorDataset | None, list[int]]:
    """The training set (DATA or --file-list, plus --extra-data, less the carved val photos), the
    val set (--val plus the `val_fraction` carved from each training folder) or None, and the source
    index (0: DATA, 1…: each --extra-data) of each training photo."""
    sources = [read_file_list(cfg.file_list)] if cfg.file_list else ([cfg.data] if cfg.data else [])
    if not sources:
        raise ValueError("no training data: give a folder or --file-list")
    all_sources = [*sources, *cfg.extra_data]
    if cfg.source_weights and len(cfg.source_weights) != len(all_sources):
        raise ValueError(
            f"--source-weights: {len(cfg.source_weights)} weight(s) for {len(all_sources)} training source(s) "
            "(DATA, then each --extra-data)"
        )
    train_paths, val_paths, source_of = [], [], {}
    for k, source in enumerate(all_sources):
        train_part, val_part = carve_val(source if isinstance(source, list) else list_images(source), cfg.val_fraction)
        train_paths += train_part
        val_paths += val_part
        source_of.update((Path(path), k) for path in train_part if Path(path) not in source_of)
    if cfg.val:
        val_paths = list_images(cfg.val) + val_paths

    def train_set() -> ColorDataset:
        return ColorDataset(
            train_paths, size, train=True, seed=cfg.seed, hints=hints, degrade=cfg.degrade, cache_dir=cfg.cache
        )

    if cfg.cache and info.enabled:  # one process builds the cache folder; the others then map it
        if info.is_main:
            train_set()
        dist.barrier(info)
    val = ColorDataset(val_paths, size, train=False, seed=cfg.seed, skip_gray=True) if val_paths else None
    train = train_set()
    return train, val, [source_of[Path(path)] for path in train.paths]


def _sampler(cfg: TrainConfig, train_set: ColorDataset, sources: list[int], info: dist.DistInfo) -> Sampler[int]:
    """Uniform over photos, or in the --source-weights shares. Either way every process count draws the
    same seeded global order, so a global batch holds the same photos with 1 or N processes and a
    resume may change the number of processes."""
    if not cfg.source_weights:
        return DistributedSampler(train_set, info.world_size, info.rank, shuffle=True, seed=cfg.seed)
    return SourceBalancedSampler(sources, cfg.source_weights, info.world_size, info.rank, cfg.seed)


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
    """Optimizer groups from the model's own (`ColorizationModel.parameter_group`): its pretrained
    encoder at lr × encoder_lr_scale, its hint layers at lr × hint_lr_scale, the rest at lr. A group
    whose scale is 1 joins the rest, so the optimizer's state (and a resume file) keeps one layout
    whatever the model; parameters keep the model's order within each group."""
    scales = {"encoder": cfg.encoder_lr_scale, "hints": cfg.hint_lr_scale, "rest": 1.0}
    groups: dict[str, list[nn.Parameter]] = {"encoder": [], "hints": [], "rest": []}
    for name, p in model.named_parameters():
        group = model.parameter_group(name)
        groups[group if scales[group] != 1.0 else "rest"].append(p)
    return [{"params": ps, "lr": cfg.lr * scales[k]} for k, ps in groups.items() if ps]


@torch.no_grad()
def _validate(model, loss_fn, loader, device) -> tuple[float, float, list[torch.Tensor]]:
    """Mean val loss, mean PSNR (dB, RGB at the crop size) and the first batch's RGB predictions."""
    model.eval()
    losses, psnrs, first = [], [], []
    for L, ab, *_ in loader:
        L, ab = L.to(device), ab.to(device)
        raw = model(L)
        losses.append(float(loss_fn(raw, ab, L)["loss"]) * len(L))
        pred_ab = nn.functional.interpolate(model.decode(raw), size=L.shape[-2:], mode="bilinear", align_corners=False)
        pred = lab_to_rgb(torch.cat((L, pred_ab), 1))
        truth = lab_to_rgb(torch.cat((L, ab), 1))
        psnrs.extend(psnr(pred, truth).tolist())
        if not first:
            first = [lab_to_rgb(torch.cat((L, torch.zeros_like(ab)), 1)), pred, truth]
    n = len(psnrs)
    return sum(losses) / n, sum(psnrs) / n, first


@dataclasses.dataclass
class FitResult:
    out: Path  #: the run folder
    model: ColorizationModel  #: the trained model (the EMA weights if --ema), unwrapped from DDP


@dataclasses.dataclass
class _Run:
    """What one training run carries from epoch to epoch; the resume file saves its state."""

    cfg: TrainConfig
    info: dist.DistInfo
    device: torch.device
    folder: RunFolder
    model: ColorizationModel
    loss_fn: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    ema: torch.optim.swa_utils.AveragedModel | None
    autocast_dtype: torch.dtype | None
    scaler: torch.amp.GradScaler | None
    train_set: ColorDataset
    sampler: DistributedSampler | SourceBalancedSampler
    val_loader: DataLoader | None
    micro_batch: int
    steps_per_epoch: int
    rows: list[dict] = dataclasses.field(default_factory=list)
    best_val: float = math.inf
    start_epoch: int = 0
    forward_model: nn.Module | None = None  #: the model, DDP-wrapped and compiled as asked
    ddp: nn.parallel.DistributedDataParallel | None = None
    wrapped_frozen: bool | None = None  #: the encoder freezing `forward_model` was built for

    @property
    def release_model(self) -> ColorizationModel:
        """The weights that are saved and evaluated: the EMA ones with --ema."""
        return self.ema.module if self.ema is not None else self.model


def fit(cfg: TrainConfig) -> FitResult:
    """Train a model as `cfg` says. See the module docstring."""
    info = dist.init_distributed()
    try:
        run = _start(cfg, info)
        for epoch in range(run.start_epoch, cfg.epochs):
            _epoch(run, epoch)
        return FitResult(run.folder.root, run.release_model)
    finally:
        dist.cleanup(info)


def _start(cfg: TrainConfig, info: dist.DistInfo) -> _Run:
    """Build the model, data, loss, optimizer and schedule, and restore them with --resume."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        device = pick_device(cfg.device, info.local_rank)
    except ValueError as err:
        raise ValueError(f"--device: {err}") from None
    folder = RunFolder(Path(cfg.out))
    resume = cfg.resume and folder.resume_path.exists()
    if cfg.resume and not resume and info.is_main:
        print(f"--resume: {folder.root} has no checkpoint yet, so the run starts from the beginning")
    if not cfg.resume and folder.resume_path.exists():
        raise ValueError(f"{folder.root} already holds a run; pass --resume to continue it or choose another --out")
    if cfg.batch_size % (info.world_size * cfg.grad_accum):
        raise ValueError(
            f"--batch-size {cfg.batch_size} must divide evenly over {info.world_size} process(es) × "
            f"{cfg.grad_accum} accumulation step(s)"
        )

    torch.manual_seed(cfg.seed)
    model = create_model(cfg.model, **cfg.model_args)
    if cfg.init_from and not resume:
        _init_from(model, cfg.init_from, info)
    size = cfg.size or model.default_size
    model.check_size(size, size)
    train_set, val_set, train_sources = _datasets(cfg, size, model.config.hints, info)

    loss_spec = cfg.loss or ("ce" if model.config.head == "classification" else "l2")
    class_weights = None
    if model.config.head == "classification":
        class_weights = rebalancing_weights(class_counts(train_set, model.bins), model.bins, lam=cfg.rebalance_lambda)
    loss_fn = build_loss(loss_spec, model.config.head, getattr(model, "bins", None), class_weights).to(device)
    model.to(device)

    param_groups = _param_groups(model, cfg)
    if cfg.optimizer == "sgd":
        optimizer = torch.optim.SGD(param_groups, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    else:
        optimizer = torch.optim.AdamW(param_groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train_set) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    # Step s of the run uses each group's own lr (cfg.lr × its scale) × _lr_factor(s). LambdaLR counts
    # optimizer steps (steps_per_epoch per epoch, as the batch size divides evenly over processes and
    # accumulation); its position travels in the resume state.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(cfg, step, total_steps))
    autocast_dtype, scaler = _mixed_precision(cfg, device)
    micro_batch = cfg.batch_size // (info.world_size * cfg.grad_accum)
    run = _Run(
        cfg=cfg,
        info=info,
        device=device,
        folder=folder,
        model=model,
        loss_fn=loss_fn,
        optimizer=optimizer,
        scheduler=scheduler,
        ema=_make_ema(model, cfg.ema) if cfg.ema else None,
        autocast_dtype=autocast_dtype,
        scaler=scaler,
        train_set=train_set,
        sampler=_sampler(cfg, train_set, train_sources, info),
        val_loader=DataLoader(val_set, batch_size=max(1, micro_batch), num_workers=cfg.workers) if val_set else None,
        micro_batch=micro_batch,
        steps_per_epoch=steps_per_epoch,
    )
    if resume:
        _restore(run, total_steps)
    if info.is_main:
        folder.prepare(cfg, samples=cfg.samples > 0, clean=resume)
        if train_set.skipped_unreadable:
            print(
                f"skipped {len(train_set.skipped_unreadable)} unreadable file(s):",
                *train_set.skipped_unreadable,
                sep="\n  ",
            )
    dist.barrier(info)
    return run


def _restore(run: _Run, total_steps: int) -> None:
    """Continue from the run folder's resume state: weights, optimizer, schedule, RNG, metrics."""
    state = load_resume_state(run.folder.resume_path)
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    if "scheduler" in state:
        run.scheduler.load_state_dict(state["scheduler"])
    else:  # a resume file written before the schedule was saved: its position follows from the epoch
        run.scheduler.last_epoch = int(state["epoch"]) * run.steps_per_epoch
        for group, base_lr in zip(run.optimizer.param_groups, run.scheduler.base_lrs, strict=True):
            group["lr"] = base_lr * _lr_factor(run.cfg, run.scheduler.last_epoch, total_steps)
    run.start_epoch = int(state["epoch"])
    run.rows = list(state["rows"])
    run.best_val = float(state["best_val"])
    torch.set_rng_state(state["torch_rng"])
    if run.ema is not None and "ema" in state:
        run.ema.load_state_dict(state["ema"])
    if run.scaler is not None and "scaler" in state:
        run.scaler.load_state_dict(state["scaler"])
    if run.start_epoch >= run.cfg.epochs:
        log.info("run already finished %d epoch(s)", run.start_epoch)


def _wrap(run: _Run, frozen: bool) -> nn.Module:
    """The module the training steps call: the model, under DDP with torchrun, compiled with --compile.
    DDP registers gradient hooks for the parameters that require grad when it is built, so it is
    rebuilt whenever freezing changes that set."""
    if frozen != run.wrapped_frozen:
        run.ddp = nn.parallel.DistributedDataParallel(run.model) if run.info.enabled else None
        run.forward_model = run.ddp if run.ddp is not None else run.model
        if run.cfg.compile:
            run.forward_model = torch.compile(run.forward_model)
        run.wrapped_frozen = frozen
    return run.forward_model


def _train_epoch(run: _Run, epoch: int) -> tuple[float, float]:
    """One pass over the training photos → (mean train loss over all processes, the lr of its last step)."""
    cfg, device = run.cfg, run.device
    t0 = time.time()
    run.train_set.set_epoch(epoch)
    run.sampler.set_epoch(epoch)
    loader = DataLoader(run.train_set, batch_size=run.micro_batch, sampler=run.sampler, num_workers=cfg.workers)
    frozen = epoch < cfg.freeze_encoder_epochs
    run.model.train()
    run.model.freeze_encoder(frozen)
    forward_model = _wrap(run, frozen)
    total, count, step_lr = 0.0, 0, run.optimizer.param_groups[-1]["lr"]
    show = run.info.is_main
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not show, leave=False, unit="batch")
    run.optimizer.zero_grad(set_to_none=True)
    for i, (L, ab, *maybe_hints) in enumerate(bar):
        L, ab = L.to(device, non_blocking=True), ab.to(device, non_blocking=True)
        hints = maybe_hints[0].to(device, non_blocking=True) if maybe_hints else None
        last_micro_step = (i + 1) % cfg.grad_accum == 0 or i + 1 == len(loader)
        # Under DDP, gradients are only all-reduced on the micro-batch that ends an accumulation.
        sync = run.ddp.no_sync() if run.ddp is not None and not last_micro_step else contextlib.nullcontext()
        with sync:
            with torch.autocast(device.type, dtype=run.autocast_dtype, enabled=run.autocast_dtype is not None):
                raw = forward_model(L, hints)
            parts = run.loss_fn(raw.float(), ab, L)
            scaled = parts["loss"] / cfg.grad_accum
            (run.scaler.scale(scaled) if run.scaler is not None else scaled).backward()
        if last_micro_step:
            step_lr = run.optimizer.param_groups[-1]["lr"]  # the lr logged for the epoch's last step
            if run.scaler is not None:
                run.scaler.step(run.optimizer)
                run.scaler.update()
            else:
                run.optimizer.step()
            run.scheduler.step()
            run.optimizer.zero_grad(set_to_none=True)
            if run.ema is not None:
                run.ema.update_parameters(run.model)
        total += float(parts["loss"].detach()) * len(L)
        count += len(L)
        if i % cfg.log_every == 0:
            bar.set_postfix(
                loss=f"{total / count:.4f}", img_s=f"{count * run.info.world_size / (time.time() - t0):.1f}"
            )
    bar.close()
    return float(dist.all_reduce_mean(torch.tensor(total / max(count, 1)), run.info)), step_lr


def _epoch(run: _Run, epoch: int) -> None:
    """Train one epoch, validate, and (rank 0) write the run folder and a line of progress."""
    t0 = time.time()
    train_loss, step_lr = _train_epoch(run, epoch)
    row = {
        "epoch": epoch + 1,
        "step": (epoch + 1) * run.steps_per_epoch,
        "lr": step_lr,
        "train_loss": round(train_loss, 6),
        "val_loss": "",
        "val_psnr": "",
    }
    samples = None
    if run.val_loader is not None and run.info.is_main:
        val_loss, val_psnr, samples = _validate(run.release_model, run.loss_fn, run.val_loader, run.device)
        row.update(val_loss=round(val_loss, 6), val_psnr=round(val_psnr, 3))
    row["seconds"] = round(time.time() - t0, 1)
    run.rows.append(row)
    dist.barrier(run.info)
    if run.info.is_main:
        _write_epoch(run, row, samples)
        msg = f"epoch {epoch + 1}/{run.cfg.epochs}: train loss {train_loss:.4f}"
        if row["val_loss"] != "":
            msg += f", val loss {row['val_loss']:.4f}, val PSNR {row['val_psnr']:.2f} dB"
        print(f"{msg} ({row['seconds']:.0f} s)", flush=True)
    dist.barrier(run.info)


def _write_epoch(run: _Run, row: dict, samples: list[torch.Tensor] | None) -> None:
    """Write the epoch's weights (best too, when val loss improved), resume state, metrics, plot and samples."""
    epoch = row["epoch"]
    improved = row["val_loss"] != "" and row["val_loss"] < run.best_val
    if improved:
        run.best_val = row["val_loss"]
    extra = {
        "epoch": epoch,
        "train_config": run.cfg.to_dict(),
        "val_loss": row["val_loss"],
        "val_psnr": row["val_psnr"],
    }
    run.folder.save_weights(run.release_model, best=improved, **extra)
    state = {
        "epoch": epoch,
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "rows": run.rows,
        "best_val": run.best_val,
        "torch_rng": torch.get_rng_state(),
        **({"ema": run.ema.state_dict()} if run.ema is not None else {}),
        **({"scaler": run.scaler.state_dict()} if run.scaler is not None else {}),
    }
    run.folder.save_epoch(state, run.rows, samples if run.cfg.samples else None, run.cfg.samples)
