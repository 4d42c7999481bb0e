"""SNGAN (Miyato et al. 2018): spectral norm on every D convolution, no batch norm in D, hinge loss,
Adam(0.0, 0.9) with two time-scale learning rates (lr_d 4e-4, lr_g 1e-4)."""

from __future__ import annotations

from typing import Any

from skingan.gan.family import Family
from skingan.gan.nets import DCNetOptions, build_discriminator, build_generator, check_classic


def check(config: Any) -> None:
    check_classic(config)
    if not config.sngan.spectral_norm:
        raise ValueError("model.arch=sngan needs sngan.spectral_norm=true")


FAMILY = Family(
    name="sngan",
    summary="SNGAN: spectrally normalised D, hinge loss, TTUR learning rates",
    options=DCNetOptions,
    build_generator=build_generator,
    build_discriminator=build_discriminator,
    defaults={
        "sngan": {"d_norm": "none", "spectral_norm": True},
        "train": {"lr_g": 0.0001, "lr_d": 0.0004, "betas": [0.0, 0.9], "loss": "hinge"},
    },
    check=check,
)
