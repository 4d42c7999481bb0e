"""The DCGAN-style networks shared by the four classic families (dcgan, wgan, acgan, sngan) at 32, 64, 128 px.

One family of networks covers the four models: a DCGAN-style generator (transposed convolutions, or
resize-convolutions that avoid checkerboard artefacts) and a DCGAN-style discriminator whose normalisation,
spectral norm, dropout and class head are options. Discriminators return logits (and class logits when
conditional); losses apply the numerically stable forms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils import spectral_norm

from skingan.config import setting
from skingan.gan.family import NetSpec

SIZES = (32, 64, 128)
UPSAMPLE = ("convt", "resize")
D_NORMS = ("batch", "none")


@dataclass
class DCNetOptions:
    """The config section of a classic family (named after it: `dcgan:`, `wgan:`, `acgan:`, `sngan:`)."""

    ngf: int = setting(64, min=4, max=1024, help="generator width (channels of the last block)")
    ndf: int = setting(64, min=4, max=1024, help="discriminator width (channels of the first block)")
    g_upsample: str = setting("resize", choices=UPSAMPLE, help="convt (DCGAN) or resize (upsample+conv, no checkerboard)")
    g_norm: str = setting("batch", choices=D_NORMS, help="batch norm in G (none: e.g. for CPU DDP runs)")
    d_norm: str = setting("none", choices=D_NORMS, help="batch norm in D (none for a WGAN-GP critic)")
    spectral_norm: bool = setting(True, help="spectral norm on every D convolution")
    d_dropout: float = setting(0.0, min=0.0, max=0.9, help="Dropout2d after each D stage (AC-GAN)")


def n_blocks(image_size: int) -> int:
    """Stride-2 stages between 4×4 and the image: 3 at 32 px, 4 at 64, 5 at 128."""
    if image_size not in SIZES:
        raise ValueError(f"image size {image_size} is not supported; accepted: {', '.join(map(str, SIZES))}")
    return int(math.log2(image_size // 4))


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation: conv/linear weights N(0, 0.02), BatchNorm weights N(1, 0.02), biases 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
        weight = getattr(module, "weight_orig", module.weight)
        nn.init.normal_(weight, 0.0, 0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def up_block(c_in: int, c_out: int, upsample: str, bias: bool = False) -> list[nn.Module]:
    if upsample == "convt":
        return [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=bias)]
    return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, 1, 1, bias=bias)]


class Generator(nn.Module):
    """z (B, nz) [+ class labels] → image (B, 3, S, S) in [-1, 1].

    Starts at ngf·S/8 channels on a 4×4 map (512 at 64 px, 1024 at 128 px with ngf 64) and halves the
    channels at every doubling, as in the DCGAN tutorial. A conditional generator multiplies z by a
    learned class embedding (the PyTorch-GAN AC-GAN conditioning).
    """

    def __init__(self, nz: int = 100, ngf: int = 64, image_size: int = 64, n_classes: int = 0,
                 upsample: str = "convt", norm: str = "batch") -> None:
        super().__init__()
        if norm not in D_NORMS:
            raise ValueError(f"norm '{norm}' is not known; accepted: {', '.join(D_NORMS)}")
        if upsample not in UPSAMPLE:
            raise ValueError(f"upsample '{upsample}' is not known; accepted: {', '.join(UPSAMPLE)}")
        self.nz, self.image_size, self.n_classes = nz, image_size, n_classes
        self.embed = nn.Embedding(n_classes, nz) if n_classes else None
        blocks = n_blocks(image_size)
        channels = ngf * image_size // 8
        def bn(c: int) -> list[nn.Module]:
            return [nn.BatchNorm2d(c)] if norm == "batch" else []

        layers: list[nn.Module] = [nn.ConvTranspose2d(nz, channels, 4, 1, 0, bias=norm == "none"), *bn(channels),
                                   nn.ReLU(True)]
        for _ in range(blocks - 1):
            layers += [*up_block(channels, channels // 2, upsample, bias=norm == "none"), *bn(channels // 2),
                       nn.ReLU(True)]
            channels //= 2
        if upsample == "convt":
            layers += [nn.ConvTranspose2d(channels, 3, 4, 2, 1, bias=False)]
        else:
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(channels, 3, 3, 1, 1, bias=False)]
        layers.append(nn.Tanh())
        self.main = nn.Sequential(*layers)
        self.apply(init_weights)
        if norm == "none":  # without batch norm, N(0, 0.02) weights would shrink the signal to ~0
            for m in self.main:
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m is not self.main[-2]:
                    nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, 1.0, 0.02)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            if labels is None:
                raise ValueError("a conditional generator needs class labels")
            z = z * self.embed(labels)
        return self.main(z.view(z.shape[0], self.nz, 1, 1))


class Discriminator(nn.Module):
    """image (B, 3, S, S) → (adversarial logits (B,), class logits (B, K) or None).

    DCGAN layout: Conv(3→ndf) k4 s2, then k4 s2 stages doubling the channels down to 4×4, then a 4×4
    convolution to one logit. `norm="none"` gives the WGAN-GP critic; `sn=True` wraps every convolution in
    spectral norm (SNGAN); `dropout` adds Dropout2d after each stage (the AC-GAN discriminator).
    """

    def __init__(self, ndf: int = 64, image_size: int = 64, n_classes: int = 0, norm: str = "batch",
                 sn: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        if norm not in D_NORMS:
            raise ValueError(f"norm '{norm}' is not known; accepted: {', '.join(D_NORMS)}")
        wrap = spectral_norm if sn else (lambda m: m)
        blocks = n_blocks(image_size)
        layers: list[nn.Module] = [wrap(nn.Conv2d(3, ndf, 4, 2, 1, bias=norm == "none")), nn.LeakyReLU(0.2, True)]
        if dropout:
            layers.append(nn.Dropout2d(dropout))
        channels = ndf
        for _ in range(blocks - 1):
            layers.append(wrap(nn.Conv2d(channels, channels * 2, 4, 2, 1, bias=norm == "none")))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(channels * 2))
            layers.append(nn.LeakyReLU(0.2, True))
            if dropout:
                layers.append(nn.Dropout2d(dropout))
            channels *= 2
        self.features = nn.Sequential(*layers)
        self.adv = wrap(nn.Conv2d(channels, 1, 4, 1, 0, bias=norm == "none"))
        self.cls = wrap(nn.Conv2d(channels, n_classes, 4, 1, 0)) if n_classes else None
        self.apply(init_weights)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`labels` are not used: a conditional D here classifies (AC-GAN) rather than conditions."""
        h = self.features(x)
        adv = self.adv(h).flatten()
        cls = self.cls(h).flatten(1) if self.cls is not None else None
        return adv, cls


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_generator(spec: NetSpec, options: DCNetOptions) -> Generator:
    return Generator(nz=spec.nz, ngf=options.ngf, image_size=spec.image_size, n_classes=spec.n_classes,
                     upsample=options.g_upsample, norm=options.g_norm)


def build_discriminator(spec: NetSpec, options: DCNetOptions) -> Discriminator:
    return Discriminator(ndf=options.ndf, image_size=spec.image_size, n_classes=spec.n_classes,
                         norm=options.d_norm, sn=options.spectral_norm, dropout=options.d_dropout)


def check_classic(config: Any) -> None:
    """Rules every classic family shares: the gradient penalty is per sample, so no batch norm in D."""
    if config.train.loss == "wasserstein" and config.options.d_norm != "none":
        raise ValueError(f"train.loss=wasserstein needs {config.model.arch}.d_norm=none "
                         "(gradient penalty with batch norm)")
