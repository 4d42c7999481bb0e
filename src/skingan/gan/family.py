"""What a generator family is, as the one training loop sees it.

A family (dcgan, wgan, acgan, sngan, projected, stylegan2) is one module under `gan/` that defines a
`Family` and is listed in `gan/registry.py`. It owns:

- `options`: the dataclass of its config section (the YAML section named after the family);
- `defaults`: its recommended recipe, as values beneath any YAML (`{"train": {...}, "<family>": {...}}`),
  so a config file is a small delta (`model: {arch: sngan, image_size: 128}` is a whole config);
- `build_generator(spec, options)` and `build_discriminator(spec, options)`;
- optionally `build_loss(config)` (default: `train.loss` with the shared options) and
  `build_augment(config, seed, rank, world)` (default: DiffAugment with `train.diffaugment`);
- `check(config)`: rules across sections (e.g. WGAN-GP needs the wasserstein loss).

Per-step work a family adds goes through two small interfaces the loop calls, never through the loop itself:
the loss (`GANLoss.d_loss(..., step=...)`, where a lazy regulariser decides on which steps it runs) and the
augmenter (`Augmenter`: applied to every D input, told the D outputs after each D step through `observe`,
logged through `scalars`, checkpointed through `state_dict`). A frozen network inside D (the projected
family's feature pyramid) keeps `requires_grad=False`: the loop optimises and toggles only parameters that
require gradients when D is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from skingan.gan.augment import DiffAugment
from skingan.gan.losses import GANLoss, build_loss


@dataclass(frozen=True)
class NetSpec:
    """What every network needs to know besides its family's options."""

    image_size: int
    nz: int
    n_classes: int  # 0: unconditional


class Augmenter(Protocol):
    """Differentiable augmentation before D, with its state in the checkpoint (DiffAugment, ADA)."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...

    def observe(self, scalars: dict[str, torch.Tensor]) -> None:
        """Called once after every D update with the loss's detached scalars (ADA reads d_real_sign)."""

    def scalars(self) -> dict[str, float]:
        """Values to log with the losses (ADA's p); empty for a fixed policy."""


def default_loss(config: Any) -> GANLoss:
    t = config.train
    return build_loss(t.loss, label_smoothing=t.label_smoothing, fake_label=t.fake_label, gp_lambda=t.gp_lambda,
                      aux_weight=t.aux_weight, conditional=config.family.aux_classifier)


def default_augment(config: Any, seed: int, rank: int, world: int) -> Augmenter:
    return DiffAugment(config.train.diffaugment, seed=seed, rank=rank, world=world)


def no_check(config: Any) -> None:
    return None


@dataclass(frozen=True)
class Family:
    name: str
    summary: str
    options: type
    build_generator: Callable[[NetSpec, Any], nn.Module]
    build_discriminator: Callable[[NetSpec, Any], nn.Module]
    sizes: tuple[int, ...] = (32, 64, 128)
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    # "never": unconditional whatever data.classes says (one G for the chosen classes, as DCGAN);
    # "always": needs two classes (AC-GAN); "classes": conditional exactly when data.classes has two.
    conditioning: str = "never"
    # AC-GAN style: D has a class head trained with a cross-entropy loss (else conditioning, if any, is by
    # projection inside D and the loss sees only adversarial logits).
    aux_classifier: bool = False
    build_loss: Callable[[Any], GANLoss] = default_loss
    build_augment: Callable[[Any, int, int, int], Augmenter] = default_augment
    check: Callable[[Any], None] = no_check

    def is_conditional(self, n_classes: int) -> bool:
        return self.conditioning == "always" or (self.conditioning == "classes" and n_classes > 1)
