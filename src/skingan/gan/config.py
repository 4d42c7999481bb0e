"""The GAN stage's typed config: model, data and train sections, plus one section per generator family.

A config file is a delta over its family's recommended recipe (`Family.defaults`): the loader layers
family defaults < YAML file < `--set` overrides, so `model: {arch: sngan, image_size: 128}` is a whole config.
Only the active family's section appears in a resolved config. Checkpoints and YAML files written before
families had sections kept the classic network options under `model:` (`model.ngf`, ...); they are moved
into the family's section on load, and `--set model.ngf=...` still works.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields, make_dataclass
from typing import Any

from skingan.config import from_dict, setting
from skingan.data.prepared import CLASS_NAMES
from skingan.gan.augment import parse_policy
from skingan.gan.family import Family
from skingan.gan.losses import LOSSES
from skingan.gan.nets import DCNetOptions
from skingan.gan.registry import FAMILIES, get_family

ARCHS = tuple(FAMILIES)
SIZES = tuple(sorted({size for family in FAMILIES.values() for size in family.sizes}))
DEFAULT_ARCH = "sngan"
# Where the classic network options lived before each family had its own section.
LEGACY_MODEL_KEYS = tuple(f.name for f in fields(DCNetOptions))


@dataclass
class ModelConfig:
    arch: str = setting(DEFAULT_ARCH, choices=ARCHS,
                        help=" | ".join(f"{name} ({family.summary})" for name, family in FAMILIES.items()))
    image_size: int = setting(64, choices=SIZES)
    nz: int = setting(128, min=1, max=4096, help="latent size")


@dataclass
class DataConfig:
    classes: list[str] = setting(default_factory=lambda: ["malignant"],
                                 help="classes to learn: [malignant] (unconditional) or both (conditional)")
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
    max_minutes: float = setting(0.0, min=0.0, help="stop cleanly with a checkpoint after this wall time (0: no limit)")
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


# ------------------------------------------------------------------------------------- the assembled config
def _fill_family_section(self: Any) -> None:
    """The active family's section exists in every config (its defaults when the file gives none)."""
    family = FAMILIES.get(self.model.arch)
    if family is not None and getattr(self, family.name) is None:
        setattr(self, family.name, family.options())


def _check(self: Any) -> None:
    family = self.family
    for name in FAMILIES:
        if name != family.name and getattr(self, name) is not None:
            raise ValueError(f"section '{name}' is for model.arch={name}, but model.arch={family.name}; "
                             f"remove it (or rename it to '{family.name}')")
    if self.model.image_size not in family.sizes:
        raise ValueError(f"model.arch={family.name} supports model.image_size "
                         f"{', '.join(map(str, family.sizes))}; got {self.model.image_size}")
    if family.conditioning == "always" and len(self.data.classes) < 2:
        raise ValueError(f"model.arch={family.name} is class-conditional: data.classes needs both classes, "
                         "e.g. [benign, malignant]")
    family.check(self)


def _family(self: Any) -> Family:
    return get_family(self.model.arch)


def _options(self: Any) -> Any:
    return getattr(self, self.model.arch)


def _conditional(self: Any) -> bool:
    """One generator for several classes, told which class to draw (AC-GAN, or projection conditioning)."""
    return self.family.is_conditional(len(self.data.classes))


def _layer_defaults(data: dict, overrides: list[str]) -> dict:
    """family defaults < file: the recipe of the arch that the file (or a --set model.arch=) names."""
    data = migrate_legacy(data)
    file_arch = (data.get("model") or {}).get("arch", DEFAULT_ARCH) if isinstance(data.get("model"), dict) else None
    arch = file_arch
    for override in overrides:
        key, _, value = override.partition("=")
        if key.strip() == "model.arch":
            arch = value.strip()
    if arch not in FAMILIES:
        return data  # the strict loader names the bad value
    if arch != file_arch:  # the --set arch's recipe, and the file's network options where they fit it
        data.setdefault("model", {})["arch"] = arch
        if file_arch in FAMILIES and FAMILIES[file_arch].options is FAMILIES[arch].options and file_arch in data:
            data[arch] = data.pop(file_arch)
    return deep_merge(FAMILIES[arch].defaults, data)


def _legacy_key(config: Any, key: str) -> str:
    """`model.ngf` (before families had sections) → `<arch>.ngf`."""
    section, _, name = key.partition(".")
    if section == "model" and name in LEGACY_MODEL_KEYS and name in {f.name for f in fields(config.options)}:
        return f"{config.model.arch}.{name}"
    return key


def migrate_legacy(data: dict) -> dict:
    """A copy with the classic network options moved out of `model:` into the family's own section."""
    data = copy.deepcopy(data)
    model = data.get("model")
    if not isinstance(model, dict):
        return data
    moved = {key: model.pop(key) for key in LEGACY_MODEL_KEYS if key in model}
    if moved:
        arch = model.get("arch", DEFAULT_ARCH)
        section = data.setdefault(str(arch), {})
        if isinstance(section, dict):
            for key, value in moved.items():
                section.setdefault(key, value)
    return data


def deep_merge(base: dict, top: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


GANConfig = make_dataclass(
    "GANConfig",
    [("model", ModelConfig, field(default_factory=ModelConfig)),
     ("data", DataConfig, field(default_factory=DataConfig)),
     ("train", TrainConfig, field(default_factory=TrainConfig)),
     *[(name, family.options | None, field(default=None, metadata={"omit_none": True}))
       for name, family in FAMILIES.items()]],
    namespace={
        "__doc__": "model, data, train and the active family's section (named after it).",
        "__module__": __name__,
        "__post_init__": _fill_family_section,
        "check": _check,
        "family": property(_family),
        "options": property(_options),
        "conditional": property(_conditional),
        "layer_defaults": staticmethod(_layer_defaults),
        "legacy_key": staticmethod(_legacy_key),
    },

)


def config_from_saved(data: dict, origin: str) -> Any:
    """A resolved config as a checkpoint stores it (older layouts migrated)."""
    return from_dict(GANConfig, migrate_legacy(data), origin=origin)
