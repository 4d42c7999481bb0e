"""One precision path for GAN training: autocast and GradScaler are no-ops when AMP is off (always on CPU)."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import torch

log = logging.getLogger("skingan")


@dataclass
class Precision:
    enabled: bool
    dtype: torch.dtype
    device_type: str

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(device_type=self.device_type, dtype=self.dtype, enabled=self.enabled)


def build_precision(config: Any, device: torch.device) -> tuple[Precision, torch.amp.GradScaler]:
    t = config.train
    enabled = t.amp and device.type == "cuda"
    if t.amp and not enabled:
        log.info("train.amp ignored: mixed precision is used on CUDA only (device %s)", device)
    dtype = torch.bfloat16 if t.amp_dtype == "bf16" else torch.float16
    if enabled and dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        log.info("bf16 is not supported on this GPU; using fp16 with a gradient scaler")
        dtype = torch.float16
    scaler = torch.amp.GradScaler(device.type, enabled=enabled and dtype == torch.float16)
    return Precision(enabled, dtype, device.type), scaler
