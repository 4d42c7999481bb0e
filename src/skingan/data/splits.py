"""Train/val/test splits: stratified by target, grouped by patient and lesion, seeded.

Rows that share a patient_id, a lesion_id, an image_id or identical image bytes (sha256) form one group
(connected components), and a group never spans two splits. Groups are placed greedily, largest first
in a seeded random order, into the split whose per-class quota is furthest from full.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from skingan.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

SPLITS = ("train", "val", "test")
SPLIT_ALIASES = {
    "train": "train", "training": "train", "tr": "train",
    "val": "val", "valid": "val", "validation": "val", "dev": "val",
    "test": "test", "testing": "test", "holdout": "test",
}
GROUP_COLUMNS = ("patient_id", "lesion_id", "image_id", "sha256")


def group_ids(table: pd.DataFrame) -> np.ndarray:
    """One integer per row; rows linked by any shared patient, lesion, image id or sha256 share it."""
    parent = list(range(len(table)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for column in GROUP_COLUMNS:
        if column not in table.columns:
            continue
        first_row: dict[str, int] = {}
        for row, value in enumerate(table[column].astype(str)):
            if value in ("", "nan", "None", "<NA>"):
                continue
            if value in first_row:
                a, b = find(row), find(first_row[value])
                if a != b:
                    parent[a] = b
            else:
                first_row[value] = row
    roots = np.array([find(i) for i in range(len(table))], dtype=np.int64)
    _, dense = np.unique(roots, return_inverse=True)
    return dense


def greedy_group_split(groups: np.ndarray, targets: np.ndarray, fractions: dict[str, float],
                       rng: np.random.Generator) -> np.ndarray:
    """Assign every row a split name so that each split gets ≈ its fraction of each class, whole groups only."""
    names = [s for s, f in fractions.items() if f > 0]
    if not names or len(groups) == 0:
        return np.array([names[0] if names else "train"] * len(groups), dtype=object)
    unique = np.unique(groups)
    counts = np.zeros((len(unique), 2), dtype=np.int64)
    position = {g: i for i, g in enumerate(unique)}
    index = np.array([position[g] for g in groups])
    np.add.at(counts, (index, targets.astype(np.int64)), 1)
    totals = counts.sum(axis=0).astype(float)
    want = np.array([[fractions[s] * t for t in totals] for s in names])
    have = np.zeros_like(want)
    order = rng.permutation(len(unique))
    order = order[np.argsort(-counts[order].sum(axis=1), kind="stable")]
    chosen = np.empty(len(unique), dtype=np.int64)
    scale = np.maximum(totals, 1.0)
    for g in order:
        need = ((want - have) / scale) @ counts[g]
        best = int(np.argmax(need))
        chosen[g] = best
        have[best] += counts[g]
    return np.array([names[chosen[i]] for i in index], dtype=object)


def normalise_split_values(values: pd.Series, column: str) -> pd.Series:
    """'Training', 'valid', 'TEST' → train/val/test; empty stays empty; anything else is a user error."""
    cleaned = values.fillna("").astype(str).str.strip().str.lower()
    bad = sorted(set(cleaned) - set(SPLIT_ALIASES) - {""})
    if bad:
        raise UserError(f"--keep-split {column}: value(s) {', '.join(repr(b) for b in bad[:5])} are not splits; "
                        f"accepted: {', '.join(sorted(SPLIT_ALIASES))} (or empty to assign)")
    return cleaned.map(lambda v: SPLIT_ALIASES.get(v, ""))


def check_sizes(val_size: float, test_size: float) -> None:
    for flag, value in (("--val-size", val_size), ("--test-size", test_size)):
        if not 0.0 <= value < 1.0:
            raise UserError(f"{flag} {value}: must be a fraction in [0, 1)")
    if val_size + test_size >= 1.0:
        raise UserError(f"--val-size {val_size} + --test-size {test_size} must leave something to train on (< 1)")


def assign_splits(table: pd.DataFrame, *, val_size: float, test_size: float, seed: int,
                  kept: pd.Series | None = None, carve_missing: bool = True) -> tuple[np.ndarray, dict]:
    """Split names for every row, and a record of how they were made.

    `kept` holds given split names ('' = assign): those rows keep them. With `carve_missing`, a split the
    kept column lacks (e.g. ISIC 2017 has train/val only → no test) is carved, grouped, out of its train rows
    with the requested fraction of all rows.
    """
    check_sizes(val_size, test_size)
    rng = np.random.default_rng(seed)
    groups = group_ids(table)
    targets = table["target"].to_numpy(dtype=np.int64)
    sizes = {"val": val_size, "test": test_size}
    info: dict = {"seed": seed, "val_size": val_size, "test_size": test_size,
                  "grouped_by": [c for c in GROUP_COLUMNS if c in table.columns
                                 and (table[c].astype(str) != "").any()],
                  "groups": int(len(np.unique(groups)))}
    if kept is None:
        fractions = {"train": 1.0 - val_size - test_size, **sizes}
        info["method"] = "stratified by target, grouped, seeded"
        return greedy_group_split(groups, targets, fractions, rng), info

    split = kept.to_numpy(dtype=object).copy()
    present = {s for s in split if s}
    info["method"] = "kept given splits"
    carve = [s for s in ("val", "test") if carve_missing and s not in present and sizes[s] > 0]
    pool = np.flatnonzero(split == "train")
    if carve and len(pool):
        fractions = {s: sizes[s] * len(table) / len(pool) for s in carve}
        if sum(fractions.values()) >= 1.0:
            raise UserError(f"cannot carve {', '.join(carve)} ({sizes}) out of {len(pool)} train rows")
        fractions = {"train": 1.0 - sum(fractions.values()), **fractions}
        split[pool] = greedy_group_split(groups[pool], targets[pool], fractions, rng)
        info["carved_from_train"] = carve
    blank = np.flatnonzero(split == "")
    if len(blank):
        fractions = {"train": 1.0 - val_size - test_size, **sizes}
        split[blank] = greedy_group_split(groups[blank], targets[blank], fractions, rng)
        info["assigned_rows"] = int(len(blank))
    info["groups_across_splits"] = groups_across_splits(groups, split)
    return split, info


def groups_across_splits(groups: np.ndarray, split: np.ndarray) -> int:
    """How many groups have rows in more than one split (0 unless a kept split column mixes them)."""
    seen: dict[int, set] = {}
    for g, s in zip(groups.tolist(), split.tolist(), strict=True):
        seen.setdefault(g, set()).add(s)
    return sum(1 for names in seen.values() if len(names) > 1)
