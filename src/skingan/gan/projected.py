"""Projected GAN (Sauer et al. 2021, "Projected GANs converge faster"): D on the feature pyramid of a frozen
ImageNet EfficientNet-Lite0 through fixed random cross-channel and cross-scale mixing, one small discriminator
per scale, hinge loss, DiffAugment (colour, translation, cutout) before the feature network, and a FastGAN
generator (skip-layer excitation; `lite` for small sets). Networks: gan/projected_nets.py.

Conditional exactly when data.classes has both classes: class embedding in G (conditional batch norm),
projection conditioning in every per-scale D (the loss passes the labels to D).

Recipe (the reference's fastgan_lite): Adam(0.0, 0.99), lr 2e-4 for G and D, batch 64, EMA generator with
the reference's 20-kimg half-life at batch 64 (decay 0.998 per step). The frozen Lite0 is not in checkpoints
(`state_dict()` leaves it out; building D loads it from the offline package), only what trains and the random
mixing layers.

`feature_resolution` 0 (feed the native size) is the default at 64 and 128 px, unlike the paper's 224. Measured on
a shared 2-core CPU (one thread, batch 16, ISIC 2017 training melanomas, FD_lite0 of 314 fakes vs the 314 reals):
a training step costs 1.7 s native vs 5.4 s at 224 (64 px) and 3.7 vs 6.0 s (128 px); at equal CPU time
(~215 s) FD_lite0 was 147 native (120 steps) vs 258 at 224 (42 steps) at 64 px (step 0: 329), and 248 (60 steps)
vs 390 (37 steps) at 128 px (step 0: 335). Not measured on a GPU, where 224 may pay for itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skingan.config import setting
from skingan.gan.family import Family, NetSpec
from skingan.gan.losses import GANLoss, build_loss
from skingan.gan.projected_nets import FastGANGenerator, ProjectedDiscriminator

G_VARIANTS = ("lite", "full")
D_NORMS = ("batch", "none")


@dataclass
class ProjectedOptions:
    """The `projected:` config section."""

    g_variant: str = setting("lite", choices=G_VARIANTS,
                             help="FastGAN generator: lite (one conv per up-block, for small sets) or full "
                                  "(two convs and noise injection per block)")
    ngf: int = setting(32, min=4, max=512,
                       help="generator width: channels 16·ngf at 4×4, halving to 2·ngf at 64×64 and ngf at 128×128")
    ndf: int = setting(64, min=4, max=512,
                       help="per-scale discriminator width (channels at 64×64 maps, ×2 per halving, at most 8·ndf)")
    ccm_channels: int = setting(64, min=8, max=512,
                                help="random cross-channel mixing width c (c, 2c, 4c, 8c over the four scales)")
    feature_resolution: int = setting(0, min=0, max=512,
                                      help="resize D inputs (bilinear) to this before the feature network; 0: feed "
                                           "the image size (cheaper and better at equal CPU time; the paper: 224)")
    d_norm: str = setting("batch", choices=D_NORMS, help="batch norm in the per-scale discriminators")


def build_generator(spec: NetSpec, options: ProjectedOptions) -> FastGANGenerator:
    return FastGANGenerator(nz=spec.nz, ngf=options.ngf, image_size=spec.image_size, n_classes=spec.n_classes,
                            variant=options.g_variant)


def build_discriminator(spec: NetSpec, options: ProjectedOptions) -> ProjectedDiscriminator:
    return ProjectedDiscriminator(image_size=spec.image_size, n_classes=spec.n_classes, ndf=options.ndf,
                                  ccm_channels=options.ccm_channels, feature_resolution=options.feature_resolution,
                                  norm=options.d_norm)


def loss(config: Any) -> GANLoss:
    """train.loss (hinge by default) with the labels passed to D when conditional (projection conditioning)."""
    t = config.train
    return build_loss(t.loss, label_smoothing=t.label_smoothing, fake_label=t.fake_label, gp_lambda=t.gp_lambda,
                      conditional=False, labels_to_d=config.conditional)


def check(config: Any) -> None:
    if config.train.loss == "wasserstein":
        raise ValueError("model.arch=projected needs train.loss=hinge (or bce): the gradient penalty does not fit "
                         "a discriminator with batch norm and a frozen feature network")
    resolution = config.projected.feature_resolution
    if 0 < resolution < 32:
        raise ValueError(f"projected.feature_resolution={resolution}: the feature network downsamples 32×; "
                         "use 0 (the image size) or at least 32 (e.g. 224)")


FAMILY = Family(
    name="projected",
    summary="Projected GAN: frozen EfficientNet-Lite0 feature D, FastGAN G, hinge, DiffAugment",
    options=ProjectedOptions,
    build_generator=build_generator,
    build_discriminator=build_discriminator,
    sizes=(32, 64, 128),
    conditioning="classes",
    defaults={
        "train": {"lr_g": 0.0002, "lr_d": 0.0002, "betas": [0.0, 0.99], "loss": "hinge", "batch_size": 64,
                  "ema": True, "ema_decay": 0.998, "diffaugment": "color,translation,cutout"},
    },
    build_loss=loss,
    check=check,
)
