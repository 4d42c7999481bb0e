"""The standard FID Inception-v3 (the TensorFlow 2015-12-05 graph ported by pytorch-fid), pool3 → 2048-d.

Only the architecture lives here; the weights file (`pt_inception-2015-12-05-6726825d.pth`, the one
pytorch-fid downloads) must already be on disk — nothing is ever downloaded.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import inception as tv_inception

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_FILE)


def _avg_pool_tf(x: torch.Tensor) -> torch.Tensor:
    # TensorFlow's average pool ignores the zero padding; torchvision's default counts it.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(tv_inception.InceptionA):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), branch5x5, branch3x3dbl, self.branch_pool(_avg_pool_tf(x))], 1)


class FIDInceptionC(tv_inception.InceptionC):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        dbl = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            dbl = layer(dbl)
        return torch.cat([self.branch1x1(x), branch7x7, dbl, self.branch_pool(_avg_pool_tf(x))], 1)


class FIDInceptionE(tv_inception.InceptionE):
    """Mixed_7b (average pool, TF style) and Mixed_7c (max pool — a quirk of the TF graph)."""

    def __init__(self, in_channels: int, max_pool: bool) -> None:
        super().__init__(in_channels)
        self.max_pool = max_pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        branch3x3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branch3x3dbl = torch.cat([self.branch3x3dbl_3a(dbl), self.branch3x3dbl_3b(dbl)], 1)
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _avg_pool_tf(x)
        return torch.cat([self.branch1x1(x), branch3x3, branch3x3dbl, self.branch_pool(pooled)], 1)


class FIDInceptionV3(nn.Module):
    """Input: (B, 3, 299, 299) scaled to [-1, 1]. Output: (B, 2048) pool3 features."""

    num_features = 2048

    def __init__(self) -> None:
        super().__init__()
        net = tv_inception.Inception3(num_classes=1008, aux_logits=False, init_weights=False)
        net.Mixed_5b = FIDInceptionA(192, pool_features=32)
        net.Mixed_5c = FIDInceptionA(256, pool_features=64)
        net.Mixed_5d = FIDInceptionA(288, pool_features=64)
        net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        net.Mixed_7b = FIDInceptionE(1280, max_pool=False)
        net.Mixed_7c = FIDInceptionE(2048, max_pool=True)
        self.net = net

    def load_fid_weights(self, state_dict: dict) -> None:
        """Load pytorch-fid's state dict; raises ValueError when the keys or shapes do not match."""
        try:
            result = self.net.load_state_dict(state_dict, strict=False)
        except RuntimeError as error:  # shape mismatch
            raise ValueError(str(error).splitlines()[0]) from error
        # Files saved by older torch versions lack the BatchNorm step counters; nothing else may be missing.
        missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
        if missing or result.unexpected_keys:
            raise ValueError(f"missing keys {missing[:3]}, unexpected keys {result.unexpected_keys[:3]}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = n.Conv2d_2b_3x3(n.Conv2d_2a_3x3(n.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = n.Conv2d_4a_3x3(n.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (n.Mixed_5b, n.Mixed_5c, n.Mixed_5d, n.Mixed_6a, n.Mixed_6b, n.Mixed_6c, n.Mixed_6d,
                      n.Mixed_6e, n.Mixed_7a, n.Mixed_7b, n.Mixed_7c):
            x = block(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)
