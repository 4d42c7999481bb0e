"""WGAN-GP (Gulrajani et al. 2017): a critic without normalisation, the Wasserstein loss with a gradient
penalty, five critic updates per generator update, Adam(0.0, 0.9)."""

from __future__ import annotations

from typing import Any

from skingan.gan.family import Family
from skingan.gan.nets import DCNetOptions, build_discriminator, build_generator, check_classic


def check(config: Any) -> None:
    check_classic(config)
    if config.wgan.d_norm != "none":
        raise ValueError("model.arch=wgan needs wgan.d_norm=none (the gradient penalty is per sample; "
                         "batch norm mixes samples)")
    if config.train.loss != "wasserstein":
        raise ValueError("model.arch=wgan needs train.loss=wasserstein")


FAMILY = Family(
    name="wgan",
    summary="WGAN-GP: unnormalised critic, Wasserstein loss + gradient penalty, n_critic 5",
    options=DCNetOptions,
    build_generator=build_generator,
    build_discriminator=build_discriminator,
    defaults={
        "wgan": {"d_norm": "none", "spectral_norm": False},
        "train": {"lr_g": 0.0001, "lr_d": 0.0001, "betas": [0.0, 0.9], "n_critic": 5, "loss": "wasserstein",
                  "gp_lambda": 10.0},
    },
    check=check,
)
