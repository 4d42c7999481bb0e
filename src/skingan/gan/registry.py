"""The generator families by name. A new family is one module defining `FAMILY` and one line here."""

from __future__ import annotations

from typing import Any

from torch import nn

from skingan.gan import acgan, dcgan, projected, sngan, stylegan2, wgan
from skingan.gan.family import Family, NetSpec

FAMILIES: dict[str, Family] = {module.FAMILY.name: module.FAMILY for module in (dcgan, wgan, acgan, sngan, projected, stylegan2)}


def get_family(name: str) -> Family:
    if name not in FAMILIES:
        raise ValueError(f"model.arch '{name}' is not known; accepted: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def net_spec(config: Any) -> NetSpec:
    n_classes = len(config.data.classes) if config.conditional else 0
    return NetSpec(image_size=config.model.image_size, nz=config.model.nz, n_classes=n_classes)


def build_generator(config: Any) -> nn.Module:
    return config.family.build_generator(net_spec(config), config.options)


def build_discriminator(config: Any) -> nn.Module:
    return config.family.build_discriminator(net_spec(config), config.options)
