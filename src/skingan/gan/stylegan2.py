"""StyleGAN2 with adaptive discriminator augmentation (Karras et al. 2020, "Analyzing and improving the image
quality of StyleGAN" and "Training generative adversarial networks with limited data"), plain PyTorch ops.

The family: mapping network, modulated/demodulated convolutions with noise inputs, skip generator and
residual discriminator (gan/stylegan2_nets.py); the non-saturating logistic loss with lazy R1 on the reals;
an EMA generator; ADA (gan/ada.py) driving the augmentation probability p from r_t = E[sign D(real)], with
p and its accumulator in the checkpoint so that `--resume` continues exactly. Conditional (data.classes has
both classes): a class embedding concatenated to z in the mapping network, projection conditioning in D.

Choices against stylegan2-ada's `auto` config (documented here, checked by tests/test_gan_stylegan2.py):
- widths: channels min(channel_base / resolution, channel_max) with 8192 / 256 (the original: 16384 / 512 at
  these sizes), w_dim 256 and 2 mapping layers (auto's `map=2`): a quarter of the compute, for CPUs and
  10-minute GPU runs;
- R1 γ: `r1_gamma: -1` means auto, 0.0002 · S² / batch (64 px, batch 32: 0.0256; 128 px: 0.1024), applied
  every `r1_interval` = 16 D steps with weight γ/2 · 16; no path-length regulariser, no style mixing, no
  lazy-regularisation correction of Adam's lr and betas (the loop owns the optimisers);
- Adam lr 0.0025 for G and D, betas (0, 0.99), batch 32, EMA decay 0.998 per step (auto's half-life of
  10k images at batch 32: 0.5^(32/10000) = 0.9978);
- ADA: target 0.6, interval 4 D steps, `ada_kimg` 100 (the original 500: our runs are short; p can move
  from 0 to 1 in 100k real images), the `bgc` pipeline;
- no tanh on G's output (as the original); sample images are clipped to [-1, 1] when written.

The loss is the family's own: `train.loss` must be `bce` (the same non-saturating logistic loss written as
softplus), `train.label_smoothing` and `train.fake_label` must be 0, and `train.gp_lambda` is not used (R1's
weight is `stylegan2.r1_gamma`). ADA and DiffAugment both augment D's inputs: with `stylegan2.ada: true`,
`train.diffaugment` must be `none` (the recipe's default); with `stylegan2.ada: false` DiffAugment runs with
`train.diffaugment` (none by default: no augmentation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from skingan.config import setting
from skingan.gan.ada import AdaptiveAugment, parse_ops
from skingan.gan.augment import DiffAugment, parse_policy
from skingan.gan.family import Augmenter, Family, NetSpec
from skingan.gan.losses import DCallable, GANLoss, Scalars
from skingan.gan.stylegan2_nets import Discriminator, Generator, channels_at


@dataclass
class StyleGAN2Options:
    """The `stylegan2:` config section."""

    w_dim: int = setting(256, min=8, max=1024, help="intermediate latent (w) size")
    mapping_layers: int = setting(2, min=1, max=8, help="FC layers in the mapping network (G; D's class map)")
    mapping_lr_mul: float = setting(0.01, min=1e-4, max=1.0, help="learning-rate multiplier of the mapping")
    channel_base: int = setting(8192, min=16, max=65536, help="channels at resolution r: min(base / r, max)")
    channel_max: int = setting(256, min=4, max=1024, help="channel cap (G and D)")
    mbstd_group: int = setting(4, min=1, max=64, help="minibatch-stddev group size (largest divisor of the batch ≤ this)")
    mbstd_channels: int = setting(1, min=0, max=16, help="minibatch-stddev feature maps (0: no layer)")
    r1_gamma: float = setting(-1.0, min=-1.0, max=1000.0,
                              help="R1 weight γ; -1: auto, 0.0002 · image_size² / batch (stylegan2-ada); 0: no R1")
    r1_interval: int = setting(16, min=1, max=1000, help="lazy R1: every this many D steps, weighted by it")
    ada: bool = setting(True, help="adaptive discriminator augmentation (then train.diffaugment must be none)")
    ada_ops: str = setting("bgc", help="ADA pipeline: bgc | bg | blit | bgcc, or a comma list of operations")
    ada_target: float = setting(0.6, min=0.0, max=1.0, help="target of r_t = E[sign D(real)]")
    ada_interval: int = setting(4, min=1, max=1000, help="D steps between adjustments of p")
    ada_kimg: float = setting(100.0, min=0.001, max=100000.0,
                              help="thousands of real images for p to move by 1 (the original: 500)")
    ada_p_init: float = setting(0.0, min=0.0, max=0.999, help="initial augmentation probability")
    ada_adjust: bool = setting(True, help="adapt p (false: a fixed p = ada_p_init)")


def r1_gamma(config: Any) -> float:
    """γ as configured, or stylegan2-ada's auto value 0.0002 · S² / batch."""
    gamma = config.stylegan2.r1_gamma
    if gamma >= 0:
        return float(gamma)
    return 0.0002 * config.model.image_size ** 2 / config.train.batch_size


class StyleGAN2Loss(GANLoss):
    """Non-saturating logistic loss: D: softplus(D(fake)) + softplus(−D(real)); G: softplus(−D(G(z))).

    Lazy R1 (`penalty`): on D steps with step % interval == 0, ‖∇_x D(x)‖² on the real images (through the
    augmentation: the gradient is taken w.r.t. the un-augmented reals, as stylegan2-ada), with its own D
    forward in fp32 outside autocast; the loop adds it with weight γ/2 · interval. The metrics column `r1`
    holds the last value computed (nan until the first R1 step of a process). `d_real_sign` (the mean of
    sign D(real)) is reported for ADA.
    """

    name = "stylegan2"
    penalty_name = "r1"

    def __init__(self, *, gamma: float, interval: int, labels_to_d: bool = False) -> None:
        super().__init__(gp_lambda=gamma / 2 * interval, labels_to_d=labels_to_d)
        self.gamma, self.interval = gamma, interval
        self._y_real: torch.Tensor | None = None
        self._last_r1: torch.Tensor = torch.tensor(float("nan"))

    def d_adversarial(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return F.softplus(fake).mean() + F.softplus(-real).mean()

    def g_adversarial(self, fake: torch.Tensor) -> torch.Tensor:
        return F.softplus(-fake).mean()

    def extra_scalars(self, real_logits: torch.Tensor) -> Scalars:
        return {"d_real_sign": real_logits.float().sign().mean()}

    def d_loss(self, D: DCallable, real: torch.Tensor, fake: torch.Tensor, y_real: torch.Tensor | None = None,
               y_fake: torch.Tensor | None = None, step: int = 0) -> tuple[torch.Tensor, Scalars]:
        self._y_real = y_real  # R1's own D forward needs the real labels (projection conditioning)
        try:
            loss, scalars = super().d_loss(D, real, fake, y_real, y_fake, step=step)
        finally:
            self._y_real = None
        if self.penalty_name in scalars:
            self._last_r1 = scalars[self.penalty_name]
        else:
            scalars[self.penalty_name] = self._last_r1
        return loss, scalars

    def penalty(self, D: DCallable, real: torch.Tensor, fake: torch.Tensor, step: int) -> torch.Tensor | None:
        if self.gamma <= 0 or step % self.interval:
            return None
        with torch.autocast(device_type=real.device.type, enabled=False):
            x = real.detach().float().requires_grad_(True)
            out, _ = self.call_d(D, x, self._y_real)
            (grad,) = torch.autograd.grad(out.float().sum(), x, create_graph=True)
        return grad.square().sum(dim=(1, 2, 3)).mean()


def build_generator(spec: NetSpec, options: StyleGAN2Options) -> Generator:
    return Generator(nz=spec.nz, image_size=spec.image_size, n_classes=spec.n_classes, w_dim=options.w_dim,
                     mapping_layers=options.mapping_layers, mapping_lr_mul=options.mapping_lr_mul,
                     channel_base=options.channel_base, channel_max=options.channel_max)


def build_discriminator(spec: NetSpec, options: StyleGAN2Options) -> Discriminator:
    return Discriminator(image_size=spec.image_size, n_classes=spec.n_classes, channel_base=options.channel_base,
                         channel_max=options.channel_max, mbstd_group=options.mbstd_group,
                         mbstd_channels=options.mbstd_channels, mapping_layers=options.mapping_layers,
                         mapping_lr_mul=options.mapping_lr_mul)


def build_loss(config: Any) -> GANLoss:
    return StyleGAN2Loss(gamma=r1_gamma(config), interval=config.stylegan2.r1_interval,
                         labels_to_d=config.conditional)


def build_augment(config: Any, seed: int, rank: int, world: int) -> Augmenter:
    o = config.stylegan2
    if not o.ada:
        return DiffAugment(config.train.diffaugment, seed=seed, rank=rank, world=world)
    return AdaptiveAugment(o.ada_ops, p=o.ada_p_init, target=o.ada_target, interval=o.ada_interval,
                           kimg=o.ada_kimg, batch_size=config.train.batch_size, adjust=o.ada_adjust, seed=seed,
                           rank=rank, world=world)


def check(config: Any) -> None:
    o, t = config.stylegan2, config.train
    if t.loss != "bce":
        raise ValueError(f"model.arch=stylegan2 trains with its own loss, the non-saturating logistic loss "
                         f"(train.loss=bce) with lazy R1 (stylegan2.r1_gamma); got train.loss={t.loss}")
    if t.label_smoothing or t.fake_label:
        raise ValueError("model.arch=stylegan2 does not use label smoothing: set train.label_smoothing=0 and "
                         "train.fake_label=0")
    if o.ada and parse_policy(t.diffaugment):
        raise ValueError(f"stylegan2.ada=true and train.diffaugment={t.diffaugment} would both augment D's "
                         "inputs; set train.diffaugment=none (ADA alone) or stylegan2.ada=false (DiffAugment alone)")
    c4 = channels_at(4, o.channel_base, o.channel_max)
    if o.mbstd_channels and c4 % o.mbstd_channels:
        raise ValueError(f"stylegan2.mbstd_channels={o.mbstd_channels} must divide the {c4} channels at 4×4")
    try:
        parse_ops(o.ada_ops)
    except ValueError as error:
        raise ValueError(f"stylegan2.ada_ops: {error}") from None


FAMILY = Family(
    name="stylegan2",
    summary="StyleGAN2-ADA: mapping network, modulated convolutions, lazy R1, adaptive augmentation",
    options=StyleGAN2Options,
    build_generator=build_generator,
    build_discriminator=build_discriminator,
    sizes=(32, 64, 128),
    conditioning="classes",
    defaults={
        "train": {"lr_g": 0.0025, "lr_d": 0.0025, "betas": [0.0, 0.99], "batch_size": 32, "loss": "bce",
                  "diffaugment": "none", "ema": True, "ema_decay": 0.998, "n_critic": 1},
    },
    build_loss=build_loss,
    build_augment=build_augment,
    check=check,
)
