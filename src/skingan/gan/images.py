"""Generator output as pictures: [-1, 1] tensors → uint8 arrays, PNG files and fixed-noise grids."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from skingan.runs import atomic_path

GRID_SEED_OFFSET = 0x5EED


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [-1, 1] → uint8 (B, H, W, 3): (x + 1) · 127.5, rounded, clipped to 0–255.

    The full range is used: -1 → 0, 0 → 128, +1 → 255 (the original study clamped negatives to black).
    """
    x = (images.detach().float().cpu() + 1.0) * 127.5
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def save_png(array: np.ndarray, path: Path) -> None:
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


@torch.no_grad()
def fixed_noise_grid(G: nn.Module, *, n: int, nz: int, n_classes: int, seed: int,
                     device: torch.device) -> np.ndarray:
    """A grid from fixed noise (rows per class when `n_classes` > 0); uint8 HWC. G is left as it was."""
    from torchvision.utils import make_grid

    g = torch.Generator().manual_seed(seed + GRID_SEED_OFFSET)
    z = torch.randn(n, nz, generator=g).to(device)
    y = (torch.arange(n) * n_classes // n).to(device) if n_classes else None
    was_training = G.training
    G.eval()
    images = G(z, y).float()
    G.train(was_training)
    grid = make_grid(images.cpu(), nrow=int(math.ceil(math.sqrt(n))), padding=2, pad_value=1.0)
    return to_uint8(grid.unsqueeze(0))[0]
