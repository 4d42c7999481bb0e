"""AC-GAN (Odena et al. 2017): a class-conditional G (class embedding multiplied into z) and a D with an
adversarial and a class head; adversarial loss + cross-entropy class loss. Needs both classes."""

from __future__ import annotations

from skingan.gan.family import Family
from skingan.gan.nets import DCNetOptions, build_discriminator, build_generator, check_classic

FAMILY = Family(
    name="acgan",
    summary="AC-GAN: class-conditional G, D with a class head, hinge + cross-entropy (both classes)",
    options=DCNetOptions,
    build_generator=build_generator,
    build_discriminator=build_discriminator,
    conditioning="always",
    aux_classifier=True,
    defaults={
        "acgan": {"d_norm": "none", "spectral_norm": True},
        "data": {"classes": ["benign", "malignant"]},
        "train": {"lr_g": 0.0001, "lr_d": 0.0004, "betas": [0.0, 0.9], "loss": "hinge", "aux_weight": 1.0},
    },
    check=check_classic,
)
