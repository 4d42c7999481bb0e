"""The study's plan: its settings, the (condition, seed) cells they expand to, and which cells are done.

`plan_cells` turns an `ExperimentConfig` and the synthetic sources into cells, each an ordinary classifier
config run under `cells/<condition>/seed<k>/`. `check_plan` fails before any training when a cell could
not run; `fingerprint` names what must not change between an experiment and its resumption; `cell_done`
and `resumable` tell a re-run which cells to skip and which interrupted ones can continue.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skingan.classifier.config import ClassifierConfig
from skingan.config import setting, to_dict
from skingan.data.prepared import open_prepared
from skingan.errors import UserError
from skingan.runs import safe_torch_load

CONDITION_KINDS = ("real-noaug", "real-aug", "synthetic", "balanced", "synthetic-only")


@dataclass
class StudyConfig:
    seeds: int = setting(3, min=1, max=100)
    conditions: list[str] = setting(default_factory=lambda: list(CONDITION_KINDS), choices=CONDITION_KINDS)
    ratios: list[float] = setting(default_factory=lambda: [0.1, 0.5], min=0.0, max=100.0)
    augment_policy: str = "standard"
    noaug_policy: str = "none"
    reference: str = "real-aug"
    ci: float = setting(0.95, min=0.5, max=0.999)
    ood_split: str = setting("all", choices=("all", "test", "val", "train"))

    def check(self) -> None:
        from skingan.data.transforms import POLICIES

        for key in ("augment_policy", "noaug_policy"):
            value = getattr(self, key)
            if value not in POLICIES and not value.endswith((".yaml", ".yml")):
                raise ValueError(f"study.{key}='{value}' is not known; accepted: {', '.join(sorted(POLICIES))} "
                                 "or a path to a .yaml list of transforms")


@dataclass
class ExperimentConfig:
    study: StudyConfig = field(default_factory=StudyConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)


@dataclass
class Cell:
    condition: str
    kind: str
    source: str | None
    seed: int
    config: ClassifierConfig

    def folder(self, out: Path) -> Path:
        return out / "cells" / self.condition / f"seed{self.seed}"


# ------------------------------------------------------------------------------------------ plan
def source_labels(sources: list[Path]) -> list[str]:
    """Short unique names for synthetic folders (their folder names, numbered on clashes)."""
    labels: list[str] = []
    for path in sources:
        name = path.resolve().name or "synthetic"
        labels.append(name if name not in labels else f"{name}-{len(labels)}")
    return labels


SYNTHETIC_KINDS = ("synthetic", "balanced", "synthetic-only")


def study_resolution(config: ExperimentConfig, sources: list[Path]) -> dict:
    """The size every training image of EVERY condition passes through: the smallest of the classifier's input,
    classifier.data.matched_size and the sources' generator sizes (each folder's PNG size). One fact for the
    whole study, so conditions differ only by their synthetic images; refused under synthetic_resolution=refuse
    when a generator is smaller than the classifier's input."""
    from skingan.classifier.synthetic import generator_size, resolution_refusal
    from skingan.data.samples import read_manifest

    data = config.classifier.data
    size, floor = data.image_size, data.matched_size or data.image_size
    used = any(kind in config.study.conditions for kind in SYNTHETIC_KINDS)
    sizes: dict[str, int] = {}
    for label, path in zip(source_labels(sources), sources, strict=True) if used else ():
        sizes[label] = generator_size(read_manifest(path))
        if sizes[label] < floor and data.synthetic_resolution == "refuse":
            raise UserError(resolution_refusal(path, sizes[label], size, key="classifier.data"))
    matched = min([floor, *sizes.values()])
    return {"policy": data.synthetic_resolution, "classifier_size": size, "generator_sizes": sizes,
            "matched_size": matched, "applied": matched < size,
            "conditions": "all (the real-only ones too): every cell's data.matched_size" if matched < size
            else "none: every training image is read at the classifier's size"}


def plan_cells(config: ExperimentConfig, sources: list[Path], seeds: list[int]) -> list[Cell]:
    """Every (condition, seed) cell, with the classifier config each one trains with (all of them with the
    study's matched size, `study_resolution`)."""
    study, base = config.study, config.classifier
    resolution = study_resolution(config, sources)
    if resolution["applied"]:
        base = dataclasses.replace(base, data=dataclasses.replace(base.data, matched_size=resolution["matched_size"]))

    def variant(policy: str, **synthetic: Any) -> ClassifierConfig:
        syn = dataclasses.replace(base.synthetic, dir=None, ratio=0.0, balance=False, only=False)
        syn = dataclasses.replace(syn, **synthetic)
        return dataclasses.replace(base, augment=dataclasses.replace(base.augment, policy=policy), synthetic=syn)

    specs: list[tuple[str, str, str | None, ClassifierConfig]] = []
    if "real-noaug" in study.conditions:
        specs.append(("real-noaug", "real-noaug", None, variant(study.noaug_policy)))
    if "real-aug" in study.conditions:
        specs.append(("real-aug", "real-aug", None, variant(study.augment_policy)))
    for label, path in zip(source_labels(sources), sources, strict=True):
        suffix = f"@{label}" if len(sources) > 1 else ""
        if "synthetic" in study.conditions:
            for ratio in study.ratios:
                specs.append((f"synthetic-{ratio:g}{suffix}", "synthetic", label,
                              variant(study.augment_policy, dir=str(path), ratio=ratio)))
        if "balanced" in study.conditions:
            specs.append((f"balanced{suffix}", "balanced", label,
                          variant(study.augment_policy, dir=str(path), balance=True)))
        if "synthetic-only" in study.conditions:
            specs.append((f"synthetic-only{suffix}", "synthetic-only", label,
                          variant(study.augment_policy, dir=str(path), only=True)))
    return [Cell(name, kind, label, seed, cfg) for name, kind, label, cfg in specs for seed in seeds]


def check_plan(cells: list[Cell], data: Path, ood: list[Path], image_size: int, ood_split: str) -> None:
    """Fail before any training: leakage, too few synthetic images, missing cache sizes."""
    from skingan.classifier.train_data import select_synthetic

    prepared = open_prepared(data)
    prepared.images(image_size)
    for path in ood:
        other = open_prepared(path)
        other.images(image_size)
        if other.hash == prepared.hash and ood_split in ("all", "train"):
            raise UserError(f"--ood '{path}' is the training prepared set itself: with study.ood_split="
                            f"{ood_split} it would score training images; give another set or set "
                            "study.ood_split=test")
    checked: set[str] = set()
    for cell in cells:
        if cell.condition not in checked:
            select_synthetic(cell.config, prepared, cell.seed)
            checked.add(cell.condition)


def fingerprint(config: ExperimentConfig, prepared_hash: str, sources: list[Path], ood: list[Path]) -> str:
    """What must not change between an experiment and its resumption (the seed count may grow)."""
    settings = to_dict(config)
    settings["study"].pop("seeds")
    payload = {"config": settings, "prepared": prepared_hash, "sources": [str(p.resolve()) for p in sources],
               "ood": [str(p.resolve()) for p in ood]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------ what is done
def cell_done(cell: Cell, out: Path, ood_names: list[str]) -> bool:
    folder = cell.folder(out)
    return (folder / "metrics.json").is_file() and all(
        (folder / f"ood-{name}-metrics.json").is_file() for name in ood_names)


def resumable(folder: Path) -> bool:
    """Whether an unfinished cell can continue from checkpoints/last.pt: it loads and best.pt holds the epoch
    last.pt names as best. A kill between an epoch's two checkpoint writes breaks that (best.pt behind, ahead
    or missing, whichever is written first); such a cell is trained again rather than scored from a wrong
    best.pt."""
    last, best = folder / "checkpoints" / "last.pt", folder / "checkpoints" / "best.pt"
    if not last.is_file():
        return True  # nothing to resume: training starts at epoch 1
    try:
        return best.is_file() and safe_torch_load(best)["epoch"] == safe_torch_load(last)["best_epoch"]
    except (UserError, KeyError, TypeError):
        return False
