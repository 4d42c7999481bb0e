"""Albumentations pipelines for the classifier, named in the config or read from a YAML file.

A policy is a list of `{TransformName: {param: value}}` entries. The pipeline is always

    policy transforms → Resize (a no-op at the cache size) → CoarseDropout (standard) → Normalize

so Cutout/CoarseDropout acts on the network's input size (the original study cut holes at full
resolution before squashing, which changed their size from image to image).

Normalize uses the statistics the backbone's weights were trained with (a `Normalization`): ImageNet
mean/std for `efficientnet_pytorch` b0…b7, (x − 127) / 128 for EfficientNet-Lite (its TF training
preprocessing, roughly [-1, 1]); `classifier.model.backbone_normalization` picks one per backbone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skingan.errors import UserError

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
# EfficientNet-Lite (TF reference preprocessing): (x - 127) / 128 on 0…255 pixels, i.e. roughly [-1, 1].
LITE_MEAN: tuple[float, float, float] = (127 / 255,) * 3
LITE_STD: tuple[float, float, float] = (128 / 255,) * 3


@dataclass(frozen=True)
class Normalization:
    """Per-channel (x / 255 − mean) / std applied to uint8 RGB pixels before a network sees them."""

    name: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def describe(self) -> dict[str, Any]:
        """What records hold (checkpoint meta, metrics.json, evaluation protocols)."""
        return {"name": self.name, "mean": list(self.mean), "std": list(self.std)}


IMAGENET = Normalization("imagenet", IMAGENET_MEAN, IMAGENET_STD)
LITE = Normalization("lite", LITE_MEAN, LITE_STD)
NORMALIZATIONS: dict[str, Normalization] = {n.name: n for n in (IMAGENET, LITE)}


def normalization_from_values(mean: Any, std: Any, *, name: str | None = None,
                              source: str = "the record") -> Normalization:
    """A recorded mean/std (three finite numbers each, std > 0) as a Normalization; named after the known
    statistics it equals (else `name`, else 'recorded'). Anything else is a UserError naming `source`."""
    values = []
    for key, triple in (("mean", mean), ("std", std)):
        try:
            numbers = tuple(float(v) for v in triple)
        except (TypeError, ValueError):
            numbers = ()
        if len(numbers) != 3 or not all(math.isfinite(v) for v in numbers) or (
                key == "std" and min(numbers) <= 0):
            raise UserError(f"{source}: normalization {key}={triple!r} is not three finite numbers"
                            f"{' > 0' if key == 'std' else ''}")
        values.append(numbers)
    for known in NORMALIZATIONS.values():
        if all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) for a, b in
               zip((*known.mean, *known.std), (*values[0], *values[1]), strict=True)):
            return known
    return Normalization(name or "recorded", values[0], values[1])

# The original study's list (Transpose, RandomContrast, VerticalFlip, Flip, Cutout, ShiftScaleRotate,
# RandomBrightnessContrast, HueSaturationValue), in albumentations 2 names, Cutout moved after the resize.
POLICIES: dict[str, list[dict[str, dict[str, Any]]]] = {
    "none": [],
    "light": [
        {"HorizontalFlip": {"p": 0.5}},
        {"VerticalFlip": {"p": 0.5}},
        {"RandomRotate90": {"p": 0.5}},
    ],
    "standard": [
        {"Transpose": {"p": 0.5}},
        {"VerticalFlip": {"p": 0.5}},
        {"HorizontalFlip": {"p": 0.5}},
        {"Affine": {"translate_percent": [-0.0625, 0.0625], "scale": [0.9, 1.1], "rotate": [-45, 45],
                    "border_mode": 4, "p": 0.5}},  # 4 = cv2.BORDER_REFLECT_101, as ShiftScaleRotate
        {"RandomBrightnessContrast": {"brightness_limit": 0.2, "contrast_limit": 0.2, "p": 0.75}},
        {"HueSaturationValue": {"hue_shift_limit": 10, "sat_shift_limit": 20, "val_shift_limit": 10, "p": 0.5}},
    ],
}

# Applied after the resize, by policy name.
AFTER_RESIZE: dict[str, list[dict[str, dict[str, Any]]]] = {
    "standard": [
        {"CoarseDropout": {"num_holes_range": [1, 8], "hole_height_range": [0.05, 0.125],
                           "hole_width_range": [0.05, 0.125], "fill": 0, "p": 0.5}},
    ],
}


def policy_names() -> list[str]:
    return sorted(POLICIES)


def read_policy_file(path: Path) -> list[dict[str, dict[str, Any]]]:
    """A YAML list of `{Name: {params}}` entries (or a mapping with key `transforms:` holding that list)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise UserError(f"augment.policy file '{path}' cannot be read as YAML: {error}") from error
    if isinstance(data, dict) and "transforms" in data:
        data = data["transforms"]
    if not isinstance(data, list) or not all(isinstance(e, dict) and len(e) == 1 for e in data):
        raise UserError(f"augment.policy file '{path}' must be a list of {{TransformName: {{params}}}} entries")
    return data


def resolve_policy(policy: str) -> tuple[list[dict], list[dict]]:
    """(before-resize entries, after-resize entries) for a policy name or a YAML file path."""
    if policy in POLICIES:
        return POLICIES[policy], AFTER_RESIZE.get(policy, [])
    path = Path(policy).expanduser()
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return read_policy_file(path), []
    raise UserError(f"augment.policy '{policy}' is not known; accepted: {', '.join(policy_names())} "
                    "or the path of a YAML file listing albumentations transforms")


def build_transform_entry(entry: dict[str, dict[str, Any]]) -> Any:
    import albumentations as A

    (name, params), = entry.items()
    cls = getattr(A, name, None)
    if cls is None or not isinstance(cls, type):
        raise UserError(f"augmentation '{name}' is not an albumentations transform")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in (params or {}).items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:
        raise UserError(f"augmentation '{name}' does not accept {kwargs}: {str(error).splitlines()[0]}") from error


def build_transform(policy: str, image_size: int, *, seed: int | None = None,
                    normalization: Normalization = IMAGENET) -> Any:
    """The albumentations Compose for `policy`, ending with `normalization` (float32 HWC)."""
    import albumentations as A

    before, after = resolve_policy(policy)
    steps = [build_transform_entry(e) for e in before]
    steps.append(A.Resize(image_size, image_size, interpolation=3, p=1.0))  # 3 = cv2.INTER_AREA
    steps.extend(build_transform_entry(e) for e in after)
    steps.append(A.Normalize(mean=normalization.mean, std=normalization.std, max_pixel_value=255.0))
    return A.Compose(steps, seed=seed)


def build_eval_transform(image_size: int, normalization: Normalization = IMAGENET) -> Any:
    return build_transform("none", image_size, seed=0, normalization=normalization)


def to_chw_tensor(image: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
