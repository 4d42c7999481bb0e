"""One epoch of classifier training, and what it needs: the loss, the optimiser and the learning-rate schedule.

`train_one_epoch` is one pass over the training loader under mixed precision when asked; it stops the
run on a non-finite loss. Validation happens elsewhere (`inference.evaluate`), once per epoch. Model and
inputs take the memory format measured faster for the backbone and device (`model.apply_memory_format`).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from skingan.classifier.config import ClassifierConfig
from skingan.classifier.model import apply_memory_format
from skingan.errors import UserError


def build_criterion(config: ClassifierConfig, train_targets: np.ndarray, device: str) -> nn.Module:
    """BCE-with-logits; with `weighted_loss`, positives weigh n_neg / n_pos (training split counts)."""
    if config.train.sampler != "weighted_loss":
        return nn.BCEWithLogitsLoss()
    n_pos = int(train_targets.sum())
    n_neg = len(train_targets) - n_pos
    return nn.BCEWithLogitsLoss(pos_weight=torch.tensor(n_neg / max(n_pos, 1), device=device))


def build_optimizer(model: nn.Module, config: ClassifierConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=config.train.lr, weight_decay=config.train.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, config: ClassifierConfig, steps_per_epoch: int) -> Any:
    """Per-step warm-up + cosine (LambdaLR), per-epoch ReduceLROnPlateau on val AUC, or none."""
    if config.train.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=config.train.plateau_factor, patience=config.train.plateau_patience)
    if config.train.scheduler == "none":
        return None
    total = max(config.train.epochs * steps_per_epoch, 1)
    warmup = int(round(config.train.warmup_epochs * steps_per_epoch))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(total - warmup, 1)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_one_epoch(model: nn.Module, criterion: nn.Module, optimizer: torch.optim.Optimizer, loader: Any,
                    device: str, *, scaler: Any, scheduler: Any = None, amp: bool = False,
                    grad_clip: float = 0.0, desc: str = "train", progress: bool = True,
                    channels_last: bool | None = None) -> dict[str, float]:
    """One pass over the training loader; stops the run on a non-finite loss.

    `channels_last`: the memory format of model and inputs (None: the measured choice for backbone and device).
    """
    from tqdm import tqdm

    memory = apply_memory_format(model, device, channels_last)
    model.train()
    total, count, steps = 0.0, 0, 0
    start = time.perf_counter()
    for images, targets in tqdm(loader, desc=desc, leave=False, disable=not progress, unit="batch"):
        images = images.to(device, non_blocking=True, memory_format=memory)
        targets = targets.to(device, non_blocking=True)
        with torch.autocast(device_type="cuda" if device.startswith("cuda") else "cpu", enabled=amp):
            loss = criterion(model(images).float(), targets)
        if not torch.isfinite(loss):
            raise UserError(f"training loss became {loss.item()} at {desc}; lower train.lr or check the data")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if grad_clip > 0:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()
        if scheduler is not None and not isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step()
        total += loss.item() * len(targets)
        count += len(targets)
        steps += 1
    seconds = time.perf_counter() - start
    return {"train_loss": total / max(count, 1), "seconds": seconds, "s_per_iteration": seconds / max(steps, 1),
            "images_per_s": count / max(seconds, 1e-9)}
