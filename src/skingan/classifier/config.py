"""The classifier's typed config (`configs/efficientnet.yaml`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from skingan.classifier.model import BACKBONES
from skingan.config import setting
from skingan.data.transforms import POLICIES


@dataclass
class ModelConfig:
    backbone: str = setting("efficientnet-lite0", choices=BACKBONES)
    pretrained: bool = True
    weights: str | None = None
    freeze_blocks: int = setting(0, min=0, max=40)
    bn_trainable: bool = True
    dropout: float = setting(0.3, min=0.0, max=0.95)


@dataclass
class DataConfig:
    image_size: int = setting(128, min=16, max=1024)
    workers: int = setting(0, min=0, max=64)
    synthetic_resolution: str = setting(
        "match", choices=("match", "refuse"),
        help="synthetic images smaller than image_size: match = real training images pass through the generator's "
             "size too (cache → generator size → image_size), refuse = stop with an error")
    matched_size: int | None = setting(
        None, min=8, max=1024,
        help="every training image passes through this size (down, then up to image_size); set by a study for "
             "all its conditions, or by hand for a real-only baseline of a matched run; null: image_size")

    def check(self) -> None:
        if self.matched_size is not None and self.matched_size > self.image_size:
            raise ValueError(f"data.matched_size={self.matched_size} is above data.image_size={self.image_size}: "
                             "it can only lower the training images' resolution (null: none)")


@dataclass
class AugmentConfig:
    policy: str = "light"

    def check(self) -> None:
        if self.policy not in POLICIES and not self.policy.endswith((".yaml", ".yml")):
            raise ValueError(f"augment.policy='{self.policy}' is not known; accepted: "
                             f"{', '.join(sorted(POLICIES))} or a path to a .yaml list of transforms")


@dataclass
class TrainConfig:
    epochs: int = setting(6, min=1, max=1000)
    batch_size: int = setting(32, min=1, max=4096)
    eval_batch_size: int = setting(64, min=1, max=4096)
    lr: float = setting(3e-4, min=0.0, max=1.0)
    weight_decay: float = setting(1e-4, min=0.0, max=1.0)
    warmup_epochs: float = setting(0.5, min=0.0, max=100.0)
    scheduler: str = setting("cosine", choices=("cosine", "plateau", "none"))
    plateau_factor: float = setting(0.5, min=0.01, max=0.99)
    plateau_patience: int = setting(1, min=0, max=100)
    patience: int = setting(3, min=0, max=1000, help="early stopping on validation AUC; 0 = off")
    sampler: str = setting("weighted_loss", choices=("imbalanced", "weighted_loss", "none"))
    amp: bool = True
    grad_clip: float = setting(0.0, min=0.0, max=1e6)


@dataclass
class SyntheticConfig:
    dir: str | None = None
    ratio: float = setting(0.0, min=0.0, max=100.0)
    balance: bool = False
    only: bool = False
    classes: str = setting("all", choices=("all", "benign", "malignant"))

    def check(self) -> None:
        modes = [name for name, on in (("synthetic.ratio", self.ratio > 0), ("synthetic.balance", self.balance),
                                       ("synthetic.only", self.only)) if on]
        if len(modes) > 1:
            raise ValueError(f"{' and '.join(modes)} cannot be combined: choose one way to use synthetic images")


@dataclass
class EvalConfig:
    bootstrap: int = setting(1000, min=0, max=100000)
    ci: float = setting(0.95, min=0.5, max=0.999)


@dataclass
class ClassifierConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def uses_synthetic(self) -> bool:
        return self.synthetic.ratio > 0 or self.synthetic.balance or self.synthetic.only
