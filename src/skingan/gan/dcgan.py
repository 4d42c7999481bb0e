"""DCGAN (Radford et al. 2015): the DCGAN-tutorial networks, non-saturating BCE loss, Adam(0.5, 0.999).

Recommended recipe: resize-convolution G (no checkerboard), batch norm in D, one-sided label smoothing
0.1, DiffAugment and an EMA generator. The original study's settings are configs/dcgan64-seed.yaml.
"""

from __future__ import annotations

from skingan.gan.family import Family
from skingan.gan.nets import DCNetOptions, build_discriminator, build_generator, check_classic

FAMILY = Family(
    name="dcgan",
    summary="DCGAN: transposed/resize-convolution G, batch-norm D, BCE loss",
    options=DCNetOptions,
    build_generator=build_generator,
    build_discriminator=build_discriminator,
    defaults={
        "dcgan": {"g_upsample": "resize", "d_norm": "batch", "spectral_norm": False},
        "train": {"lr_g": 0.0002, "lr_d": 0.0002, "betas": [0.5, 0.999], "loss": "bce", "label_smoothing": 0.1},
    },
    check=check_classic,
)
