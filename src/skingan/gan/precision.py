"""One precision path for GAN training: autocast and GradScaler are no-ops when AMP is off (always on CPU),
and the memory format of G, D and the batches.

Memory format: on CUDA `train.channels_last` as configured; on a CPU the per-family choice measured side by side
(`scripts/bench_gan.py --modes fp32_nchw,fp32_cl`, alternating, in one run; README "Training GANs" → Measured),
CPU_CHANNELS_LAST, whatever the config says (its key is documented as CUDA's). Either way only speed changes:
results agree to float32 rounding, and a resumed run continues bitwise because it takes the same format again.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import torch

log = logging.getLogger("skingan")

# Family (model.arch) → channels_last on a CPU. Measured 64-px fp32 steps, channels_last / NCHW images/s, best of
# 2 alternating repeats on a shared 2-core machine (1 thread): dcgan 1.07 (dcgan64; convt dcgan64-seed 1.00, 1.04),
# sngan 1.29, acgan 1.01 and 1.14, stylegan2 1.34 → channels_last; wgan 0.98 and 0.95, projected 0.88 and 1.03
# (no gain) → NCHW.
CPU_CHANNELS_LAST: dict[str, bool] = {"dcgan": True, "sngan": True, "wgan": False, "acgan": True,
                                      "projected": False, "stylegan2": True}


@dataclass
class Precision:
    enabled: bool
    dtype: torch.dtype
    device_type: str
    channels_last: bool = False

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(device_type=self.device_type, dtype=self.dtype, enabled=self.enabled)

    @property
    def memory_format(self) -> torch.memory_format:
        """What G, D and the batches use (`preserve_format` leaves a module as built)."""
        return torch.channels_last if self.channels_last else torch.preserve_format


def use_channels_last(config: Any, device: torch.device) -> bool:
    """CUDA: train.channels_last. CPU: CPU_CHANNELS_LAST[model.arch] (measured). Other devices: as configured."""
    if device.type == "cpu":
        chosen = CPU_CHANNELS_LAST.get(config.model.arch, False)
        if chosen != config.train.channels_last:
            log.debug("train.channels_last=%s is for CUDA; on CPU %s uses %s (measured faster)",
                      config.train.channels_last, config.model.arch, "channels_last" if chosen else "NCHW")
        return chosen
    return bool(config.train.channels_last)


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
    return Precision(enabled, dtype, device.type, use_channels_last(config, device)), scaler
