"""GAN losses as small objects: each computes D and G losses from a discriminator callable.

A loss knows nothing of the loop: it calls `D(images) -> (adversarial logits, class logits | None)`, or
`D(images, labels)` when the discriminator conditions on the class (`labels_to_d`, projection conditioning),
returns a scalar loss and a dict of detached scalars to log (D(x), D(G(z)), penalty, auxiliary loss).
The loop owns backward, optimiser steps, AMP and scheduling.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

DOutput = tuple[torch.Tensor, torch.Tensor | None]
DCallable = Callable[..., DOutput]
Scalars = dict[str, torch.Tensor]


class GANLoss:
    """Base: adversarial terms are defined by subclasses; the auxiliary class loss (AC-GAN) is shared."""

    name = "base"
    penalty_name = "gp"  # the metrics.csv column of the penalty, when there is one

    def __init__(self, *, label_smoothing: float = 0.0, fake_label: float = 0.0, gp_lambda: float = 10.0,
                 aux_weight: float = 1.0, conditional: bool = False, labels_to_d: bool = False) -> None:
        self.labels_to_d = labels_to_d
        self.real_label = 1.0 - label_smoothing
        self.fake_label = fake_label
        self.gp_lambda = gp_lambda
        self.aux_weight = aux_weight
        self.conditional = conditional

    def d_adversarial(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def call_d(self, D: DCallable, x: torch.Tensor, labels: torch.Tensor | None) -> DOutput:
        return D(x, labels) if self.labels_to_d else D(x)

    def extra_scalars(self, real_logits: torch.Tensor) -> Scalars:
        """More detached values from D's real logits for the log or an augmenter (e.g. ADA's sign mean)."""
        return {}

    def g_adversarial(self, fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def penalty(self, D: DCallable, real: torch.Tensor, fake: torch.Tensor, step: int) -> torch.Tensor | None:
        """A regulariser added as gp_lambda · penalty; `step` (the generator step being trained) lets a
        lazy regulariser run every k-th step only. None: no penalty on this step."""
        return None

    def d_loss(self, D: DCallable, real: torch.Tensor, fake: torch.Tensor, y_real: torch.Tensor | None = None,
               y_fake: torch.Tensor | None = None, step: int = 0) -> tuple[torch.Tensor, Scalars]:
        real_adv, real_cls = self.call_d(D, real, y_real)
        fake_adv, fake_cls = self.call_d(D, fake, y_fake)
        loss = self.d_adversarial(real_adv.float(), fake_adv.float())
        scalars: Scalars = {"d_real": real_adv.detach().float().mean(), "d_fake": fake_adv.detach().float().mean()}
        scalars.update(self.extra_scalars(real_adv.detach()))
        gp = self.penalty(D, real, fake, step)
        if gp is not None:
            loss = loss + self.gp_lambda * gp
            scalars[self.penalty_name] = gp.detach()
        if self.conditional:
            aux = aux_class_loss(real_cls, y_real) + aux_class_loss(fake_cls, y_fake)
            loss = loss + self.aux_weight * aux
            scalars["aux_d"] = aux.detach()
        scalars["loss_d"] = loss.detach()
        return loss, scalars

    def g_loss(self, D: DCallable, fake: torch.Tensor,
               y_fake: torch.Tensor | None = None) -> tuple[torch.Tensor, Scalars]:
        fake_adv, fake_cls = self.call_d(D, fake, y_fake)
        loss = self.g_adversarial(fake_adv.float())
        scalars: Scalars = {}
        if self.conditional:
            aux = aux_class_loss(fake_cls, y_fake)
            loss = loss + self.aux_weight * aux
            scalars["aux_g"] = aux.detach()
        scalars["loss_g"] = loss.detach()
        return loss, scalars


def aux_class_loss(logits: torch.Tensor | None, labels: torch.Tensor | None) -> torch.Tensor:
    """Cross-entropy of the class head (on logits: no softmax before it, unlike the original study)."""
    if logits is None or labels is None:
        raise ValueError("a conditional loss needs class logits from D and labels")
    return F.cross_entropy(logits.float(), labels)


class BCELoss(GANLoss):
    """Non-saturating GAN loss with BCE-with-logits; label smoothing lowers the real target (one-sided)
    and `fake_label` raises the fake target (two-sided, as the AC-GAN of the original study)."""

    name = "bce"

    def d_adversarial(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return (F.binary_cross_entropy_with_logits(real, torch.full_like(real, self.real_label))
                + F.binary_cross_entropy_with_logits(fake, torch.full_like(fake, self.fake_label)))

    def g_adversarial(self, fake: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


class HingeLoss(GANLoss):
    name = "hinge"

    def d_adversarial(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()

    def g_adversarial(self, fake: torch.Tensor) -> torch.Tensor:
        return -fake.mean()


class WassersteinGPLoss(GANLoss):
    """WGAN-GP: critic −E D(x) + E D(G(z)) + λ E (‖∇D(x̂)‖ − 1)², x̂ on lines between real and fake."""

    name = "wasserstein"

    def d_adversarial(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return fake.mean() - real.mean()

    def g_adversarial(self, fake: torch.Tensor) -> torch.Tensor:
        return -fake.mean()

    def penalty(self, D: DCallable, real: torch.Tensor, fake: torch.Tensor, step: int) -> torch.Tensor:
        # fp32 outside autocast: double backward through half precision is fragile and needs grad scaling.
        with torch.autocast(device_type=real.device.type, enabled=False):
            alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, generator=None)
            mixed = (alpha * real.float() + (1 - alpha) * fake.detach().float()).requires_grad_(True)
            out, _ = D(mixed)
            (grad,) = torch.autograd.grad(out.float().sum(), mixed, create_graph=True)
        return ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


LOSSES: dict[str, type[GANLoss]] = {"bce": BCELoss, "hinge": HingeLoss, "wasserstein": WassersteinGPLoss}


def build_loss(name: str, **options: float | bool) -> GANLoss:
    if name not in LOSSES:
        raise ValueError(f"loss '{name}' is not known; accepted: {', '.join(LOSSES)}")
    return LOSSES[name](**options)  # type: ignore[arg-type]
