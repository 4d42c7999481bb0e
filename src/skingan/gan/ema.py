"""Exponential moving average of generator weights, with the decay warm-up min(decay, (1+t)/(10+t))."""

from __future__ import annotations

import copy

import torch
from torch import nn


def build_ema(model: nn.Module) -> nn.Module:
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema


def ema_decay(step: int, decay: float) -> float:
    """Early steps average over few updates, so the EMA is not dominated by the random initialisation."""
    return min(decay, (1.0 + step) / (10.0 + step))


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, step: int, decay: float) -> None:
    d = ema_decay(step, decay)
    # one fused launch instead of one per tensor; lists of different lengths raise, as zip(strict=True) did
    torch._foreach_lerp_(list(ema.parameters()), [p.detach() for p in model.parameters()], 1.0 - d)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)
