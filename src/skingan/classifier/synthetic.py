"""Synthetic images from `skingan sample` folders, added to the TRAINING split only.

A sample folder (its contract: `skingan.data.samples`) is read through `read_manifest`. Its images are
refused unless the GAN was trained on the `train` split of the very prepared set the classifier uses
(same content hash): otherwise validation or test images may have shaped the generator.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from skingan.data.prepared import CLASS_NAMES
from skingan.data.samples import DEFAULT_SEARCH_ROOT, newest_sample_dir, read_manifest

__all__ = ["DEFAULT_SEARCH_ROOT", "check_no_leakage", "choose_synthetic", "newest_sample_dir", "read_manifest",
           "used_table"]
from skingan.errors import UserError

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
