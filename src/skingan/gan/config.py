"""The GAN stage's typed config: model, data and training sections (YAML under configs/, `--set a.b=v`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from skingan.config import setting
from skingan.data.prepared import CLASS_NAMES
from skingan.gan.augment import parse_policy
from skingan.gan.losses import LOSSES
from skingan.gan.nets import D_NORMS, SIZES, UPSAMPLE

ARCHS = ("dcgan", "wgan", "acgan", "sngan")


@dataclass
class ModelConfig:
    arch: str = setting("sngan", choices=ARCHS, help="dcgan | wgan (WGAN-GP critic) | acgan (conditional) | sngan")
    image_size: int = setting(64, choices=SIZES)
    nz: int = setting(128, min=1, max=4096, help="latent size")
    ngf: int = setting(64, min=4, max=1024, help="generator width (channels of the last block)")
    ndf: int = setting(64, min=4, max=1024, help="discriminator width (channels of the first block)")
    g_upsample: str = setting("resize", choices=UPSAMPLE, help="convt (DCGAN) or resize (upsample+conv, no checkerboard)")
    g_norm: str = setting("batch", choices=D_NORMS, help="batch norm in G (none: e.g. for CPU DDP runs)")
    d_norm: str = setting("none", choices=D_NORMS, help="batch norm in D (none for a WGAN-GP critic)")
    spectral_norm: bool = setting(True, help="spectral norm on every D convolution")
    d_dropout: float = setting(0.0, min=0.0, max=0.9, help="Dropout2d after each D stage (AC-GAN)")

    @property
    def conditional(self) -> bool:
        return self.arch == "acgan"

    def check(self) -> None:
        if self.arch == "wgan" and self.d_norm != "none":
            raise ValueError("model.arch=wgan needs model.d_norm=none (the gradient penalty is per sample; "
                             "batch norm mixes samples)")
        if self.arch == "sngan" and not self.spectral_norm:
            raise ValueError("model.arch=sngan needs model.spectral_norm=true")


@dataclass
class DataConfig:
    classes: list[str] = setting(default_factory=lambda: ["malignant"],
                                 help="classes to learn: [malignant] (unconditional) or both (AC-GAN)")
    split: str = setting("train", help="always train: a GAN must never see validation or test images")

    def check(self) -> None:
        if self.split != "train":
            raise ValueError(f"data.split={self.split!r} is not accepted: a GAN may only train on the 'train' "
                             "split (validation/test images would leak into the synthetic data)")
        if not self.classes:
            raise ValueError("data.classes is empty; accepted: [malignant], [benign] or [benign, malignant]")
        for name in self.classes:
            if name not in CLASS_NAMES:
                raise ValueError(f"data.classes: '{name}' is not known; accepted: {', '.join(CLASS_NAMES)}")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"data.classes {self.classes} lists a class twice")


@dataclass
class TrainConfig:
    steps: int = setting(10000, min=1, help="generator updates")
    batch_size: int = setting(64, min=1, help="global batch (split over DDP processes)")
    lr_g: float = setting(2e-4, min=0.0)
    lr_d: float = setting(2e-4, min=0.0)
    betas: tuple[float, float] = (0.0, 0.9)
    n_critic: int = setting(1, min=1, max=100, help="D updates per G update")
    loss: str = setting("hinge", choices=tuple(LOSSES))
    label_smoothing: float = setting(0.0, min=0.0, max=0.5, help="real target = 1 - this (0.1 → 0.9)")
    fake_label: float = setting(0.0, min=0.0, max=0.5, help="fake target (0.1 = two-sided smoothing)")
    gp_lambda: float = setting(10.0, min=0.0)
    aux_weight: float = setting(1.0, min=0.0, help="weight of the AC-GAN class loss")
    ema: bool = setting(True, help="keep an EMA generator (used for samples)")
    ema_decay: float = setting(0.999, min=0.0, max=1.0)
    diffaugment: str = setting("color,translation,cutout", help="DiffAugment policy, or none")
    amp: bool = setting(False, help="mixed precision on CUDA (ignored on CPU)")
    amp_dtype: str = setting("bf16", choices=("bf16", "fp16"))
    channels_last: bool = setting(False, help="NHWC memory format (CUDA)")
    compile: bool = setting(False, help="torch.compile G and D (CUDA)")
    checkpoint_every: int = setting(1000, min=1)
    sample_every: int = setting(500, min=1)
    log_every: int = setting(10, min=1)
    grid_size: int = setting(64, min=1, max=256, help="images in each sample grid")
    collapse_patience: int = setting(500, min=0, help="stop after this many collapsed steps in a row (0: never)")

    def check(self) -> None:
        try:
            parse_policy(self.diffaugment)
        except ValueError as error:
            raise ValueError(f"train.diffaugment: {error}") from None


@dataclass
class GANConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def check(self) -> None:
        if self.model.arch == "acgan" and len(self.data.classes) < 2:
            raise ValueError("model.arch=acgan is class-conditional: data.classes needs both classes, "
                             "e.g. [benign, malignant]")
        if self.model.arch == "wgan" and self.train.loss != "wasserstein":
            raise ValueError("model.arch=wgan needs train.loss=wasserstein")
        if self.train.loss == "wasserstein" and self.model.d_norm != "none":
            raise ValueError("train.loss=wasserstein needs model.d_norm=none (gradient penalty with batch norm)")
