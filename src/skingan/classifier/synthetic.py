"""Synthetic images from `skingan sample` folders, added to the TRAINING split only.

A sample folder (its contract: `skingan.data.samples`) is read through `read_manifest`. Its images are
refused unless the GAN was trained on the `train` split of the very prepared set the classifier uses
(same content hash): otherwise validation or test images may have shaped the generator.

Resolution: a generator smaller than the classifier's input (a 64-px GAN, a 128-px classifier) gives images
that, upscaled, are blurrier than the real training images, a shortcut the classifier can learn. With
data.synthetic_resolution=match (the default) `training_resolution` sends the run's REAL TRAINING images
through the generator's size too (cache → generator size → classifier size, Lanczos both ways, as the
synthetic upscaling); val/test stay as cached. `refuse` stops instead. A study fixes the matched size for all
its conditions through data.matched_size (skingan.classifier.study_plan).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from skingan.data.prepared import CLASS_NAMES
from skingan.data.samples import DEFAULT_SEARCH_ROOT, newest_sample_dir, read_manifest

__all__ = ["DEFAULT_SEARCH_ROOT", "check_no_leakage", "choose_synthetic", "generator_size", "newest_sample_dir",
           "read_manifest", "resolution_refusal", "training_resolution", "used_table"]
from skingan.errors import UserError

if TYPE_CHECKING:
    from skingan.classifier.config import ClassifierConfig

log = logging.getLogger("skingan")


def check_no_leakage(manifest: pd.DataFrame, prepared_hash: str, folder: str | Path) -> None:
    """Refuse images from a GAN trained on another prepared set or on a split other than train."""
    hashes = sorted(set(manifest["prepared_hash"]))
    if hashes != [prepared_hash]:
        raise UserError(
            f"synthetic images in '{folder}' come from a GAN trained on prepared set {', '.join(hashes)[:60]}, "
            f"not on this one ({prepared_hash[:16]}…): its training data may include this set's "
            "validation/test images; sample from a GAN trained on this prepared set's train split"
        )
    splits = sorted(set(manifest["train_split"]))
    if splits != ["train"]:
        raise UserError(
            f"synthetic images in '{folder}' come from a GAN trained on split(s) {', '.join(splits)}; "
            "only a GAN trained on the 'train' split may feed the classifier (no leakage into val/test)"
        )


def _draw(pool: pd.DataFrame, n: int, rng: np.random.Generator, what: str, folder: str) -> pd.DataFrame:
    if n > len(pool):
        raise UserError(f"{what} needs {n} synthetic image(s) but '{folder}' has only {len(pool)}; "
                        "sample more with 'skingan sample --n' or lower the amount")
    return pool.iloc[np.sort(rng.choice(len(pool), size=n, replace=False))]


def choose_synthetic(manifest: pd.DataFrame, real_counts: dict[int, int], *, ratio: float = 0.0,
                     balance: bool = False, only: bool = False, classes: str = "all",
                     seed: int = 0) -> pd.DataFrame:
    """Which synthetic images join the training split.

    ratio:   round(ratio × real training images) extra images, drawn from the pool (the original "+10 %")
    balance: enough images of the minority class to match the majority class
    only:    every image in the pool (train on synthetic, test on real)
    """
    folder = str(manifest["source_dir"].iloc[0])
    pool = manifest if classes == "all" else manifest[manifest["class"] == classes]
    rng = np.random.default_rng(seed)
    if only:
        if pool["target"].nunique() < 2:
            raise UserError(f"synthetic-only training needs both classes, but '{folder}' holds only "
                            f"{', '.join(sorted(set(pool['class'])))}; sample with 'skingan sample --class all'")
        return pool
    if balance:
        minority = min(real_counts, key=lambda t: real_counts[t])
        need = max(real_counts.values()) - real_counts[minority]
        candidates = pool[pool["target"] == minority]
        return _draw(candidates, need, rng, f"--balance ({CLASS_NAMES[minority]})", folder)
    if ratio > 0:
        need = int(round(ratio * sum(real_counts.values())))
        return _draw(pool, need, rng, f"--synthetic-ratio {ratio}", folder)
    return pool.iloc[0:0]


def used_table(chosen: pd.DataFrame) -> pd.DataFrame:
    """What `synthetic_used.csv` records: one row per synthetic training image."""
    keep = [c for c in ("path", "file", "class", "target", "seed", "index", "checkpoint", "step", "arch",
                        "prepared_hash", "source_dir") if c in chosen.columns]
    return chosen[keep].reset_index(drop=True)


def generator_size(manifest: pd.DataFrame) -> int:
    """The side in px of a sample folder's images: its first PNG's (the contract: PNGs at the generator's size),
    which the manifest's image_size column, where present, must agree with."""
    from PIL import Image, UnidentifiedImageError

    folder, first = manifest["source_dir"].iloc[0], manifest["path"].iloc[0]
    try:
        with Image.open(first) as image:
            width, height = image.size
    except (OSError, UnidentifiedImageError) as error:
        raise UserError(f"synthetic image '{first}' cannot be read: {error}") from error
    if width != height:
        raise UserError(f"synthetic image '{first}' is {width}×{height} px; a 'skingan sample' folder holds square "
                        "images at the generator's size")
    if "image_size" in manifest.columns:
        listed = sorted({str(v).strip() for v in manifest["image_size"]} - {"", "nan"})
        try:
            sizes = sorted({int(float(v)) for v in listed})
        except ValueError:
            raise UserError(f"'{Path(folder) / 'manifest.csv'}': image_size {listed[:3]} is not a number of "
                            "pixels") from None
        if len(sizes) > 1 or (sizes and sizes[0] != width):
            raise UserError(f"'{Path(folder) / 'manifest.csv'}' lists image_size {', '.join(map(str, sizes))} but "
                            f"'{first}' is {width} px; one folder holds one generator's images at its size")
    return width


def resolution_refusal(folder: str | Path, generator: int, size: int, key: str = "data") -> str:
    """The one-line error of data.synthetic_resolution=refuse."""
    return (f"synthetic folder '{folder}' holds {generator}-px images but the classifier reads {size} px: upscaled, "
            "they would be blurrier than the real training images (a shortcut). Set "
            f"{key}.synthetic_resolution=match (real training images then pass through {generator} px too), "
            f"sample from a {size}-px generator, or set {key}.image_size={generator}")


def training_resolution(config: ClassifierConfig, rows: pd.DataFrame | None) -> dict:
    """The size every training image of this run passes through, and the record of it (metrics.json's
    "synthetic_resolution"). Refuses a smaller generator under data.synthetic_resolution=refuse."""
    data = config.data
    size, floor = data.image_size, data.matched_size or data.image_size
    generator = generator_size(rows) if rows is not None and len(rows) else None
    if generator is not None and generator < floor and data.synthetic_resolution == "refuse":
        raise UserError(resolution_refusal(rows["source_dir"].iloc[0], generator, size))
    matched = min(floor, generator or size)
    if matched < size:
        log.info("training images pass through %d px (cache %d → %d → %d, Lanczos) to match the synthetic "
                 "images' resolution; val/test are read at %d px", matched, size, matched, size, size)
    return {"policy": data.synthetic_resolution, "classifier_size": size, "generator_size": generator,
            "study_matched_size": data.matched_size, "matched_size": matched, "applied": matched < size,
            "real_train": f"cache {size} px → {matched} → {size} (Lanczos)" if matched < size else f"cache {size} px",
            "val_test": f"cache {size} px"}
