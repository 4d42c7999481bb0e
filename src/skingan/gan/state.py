"""Everything one training step touches, built from the config by the family registry."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from skingan.distributed import Dist
from skingan.gan.ema import build_ema
from skingan.gan.family import Augmenter
from skingan.gan.losses import GANLoss
from skingan.gan.precision import Precision, build_precision, use_channels_last
from skingan.gan.registry import build_discriminator, build_generator

log = logging.getLogger("skingan")


@dataclass
class GANState:
    """G/D are the plain modules (checkpointed); G_run/D_run may be DDP/compiled. `d_params` are D's
    trainable parameters: a family may keep a frozen network inside D, which is never optimised or unfrozen."""

    config: Any
    G: nn.Module
    D: nn.Module
    G_ema: nn.Module | None
    G_run: nn.Module
    D_run: nn.Module
    d_params: list[nn.Parameter]
    opt_G: torch.optim.Adam
    opt_D: torch.optim.Adam
    scaler: torch.amp.GradScaler
    precision: Precision
    loss: GANLoss
    augment: Augmenter
    noise: torch.Generator
    dist: Dist
    device: torch.device
    step: int = 0
    collapsed_steps: int = 0


def trainable(module: nn.Module) -> list[nn.Parameter]:
    return [p for p in module.parameters() if p.requires_grad]


def build_optimizers(config: Any, G: nn.Module, d_params: list[nn.Parameter]) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    t = config.train
    return (torch.optim.Adam(G.parameters(), lr=t.lr_g, betas=tuple(t.betas)),
            torch.optim.Adam(d_params, lr=t.lr_d, betas=tuple(t.betas)))


def build_state(config: Any, seed: int, device: torch.device, d: Dist) -> GANState:
    torch.manual_seed(seed)
    G, D = build_generator(config).to(device), build_discriminator(config).to(device)
    G_ema = build_ema(G) if config.train.ema else None
    memory = torch.channels_last if use_channels_last(config, device) else torch.preserve_format  # precision.py
    G, D = G.to(memory_format=memory), D.to(memory_format=memory)
    if G_ema is not None:
        G_ema = G_ema.to(memory_format=memory)
    d_params = trainable(D)
    opt_G, opt_D = build_optimizers(config, G, d_params)
    precision, scaler = build_precision(config, device)
    G_run, D_run = wrap_for_training(G, D, config, device, d)
    family = config.family
    return GANState(
        config=config, G=G, D=D, G_ema=G_ema, G_run=G_run, D_run=D_run, d_params=d_params, opt_G=opt_G,
        opt_D=opt_D, scaler=scaler, precision=precision, loss=family.build_loss(config),
        augment=family.build_augment(config, seed + 1, d.rank, d.world),
        noise=torch.Generator().manual_seed(seed + 2), dist=d, device=device,
    )


def wrap_for_training(G: nn.Module, D: nn.Module, config: Any, device: torch.device,
                      d: Dist) -> tuple[nn.Module, nn.Module]:
    """DDP (with synchronised batch norm) under torchrun; torch.compile on CUDA when asked."""
    G_run, D_run = G, D
    if d.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        if device.type == "cuda":
            G, D = nn.SyncBatchNorm.convert_sync_batchnorm(G), nn.SyncBatchNorm.convert_sync_batchnorm(D)
        elif any(isinstance(m, nn.BatchNorm2d) for m in [*G.modules(), *D.modules()]):
            log.info("DDP on CPU: batch-norm statistics are per process (SyncBatchNorm needs CUDA)")
        ids = [device.index] if device.type == "cuda" else None
        G_run, D_run = DDP(G, device_ids=ids), DDP(D, device_ids=ids)
    if config.train.compile:
        if device.type == "cuda":
            G_run, D_run = torch.compile(G_run), torch.compile(D_run)
        else:
            log.info("train.compile ignored on %s (used on CUDA only)", device)
    return G_run, D_run
