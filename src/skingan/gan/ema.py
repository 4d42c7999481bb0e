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
    ema_params, params = list(ema.parameters()), [p.detach() for p in model.parameters()]
    if len(ema_params) != len(params):
        raise ValueError(f"EMA copy has {len(ema_params)} parameters, the generator {len(params)}")
    torch._foreach_lerp_(ema_params, params, 1.0 - d)  # one fused launch instead of one per tensor
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)
