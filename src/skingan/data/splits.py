"""Train/val/test splits: stratified by target, grouped by patient and lesion, seeded.

Rows that share a patient_id, a lesion_id, an image_id or identical image bytes (sha256) form one group
(connected components), and a group never spans two splits. Groups are placed greedily, largest first
in a seeded random order, into the split whose per-class quota is furthest from full.

A kept split (--keep-split, --splits-from, or a source's own official split) that puts one group in two
splits is refused (`split_leak_message`); with `regroup` each such group moves whole into the split that
holds most of its images, ties broken by the seed (`regroup_spanning`). Unassigned rows of a group that
has a kept split join that split.
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
                  kept: pd.Series | None = None, carve_missing: bool = True, regroup: bool = False,
                  flag: str = "--keep-split", method: str = "kept given splits") -> tuple[np.ndarray, dict]:
    """Split names for every row, and a record of how they were made.

    `kept` holds given split names ('' = assign): those rows keep them. A group (patient, lesion) whose kept
    rows sit in two splits is refused, naming `flag`; with `regroup` it moves whole (`regroup_spanning`).
    With `carve_missing`, a split the kept column lacks (e.g. ISIC 2017 has train/val only → no test) is
    carved, grouped, out of its train rows with the requested fraction of all rows.
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
    info["method"] = method
    spanning = spanning_groups(groups, split)
    if spanning and not regroup:
        raise UserError(split_leak_message(table, groups, split, spanning, flag))
    if regroup:
        split, info["regrouped"] = regroup_spanning(table, groups, split, spanning, seed)
    joined = join_group_split(groups, split)
    if joined:
        info["joined_group_split"] = joined
    present = {s for s in split if s}
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


def group_splits(groups: np.ndarray, split: np.ndarray) -> dict[int, dict[str, int]]:
    """For every group, how many of its rows each (non-empty) split holds."""
    held: dict[int, dict[str, int]] = {}
    for g, s in zip(groups.tolist(), split.tolist(), strict=True):
        if s:
            held.setdefault(g, {}).setdefault(s, 0)
            held[g][s] += 1
    return held


def spanning_groups(groups: np.ndarray, split: np.ndarray) -> list[int]:
    """The groups whose rows sit in more than one (non-empty) split, in group order."""
    return sorted(g for g, held in group_splits(groups, split).items() if len(held) > 1)


def group_name(table: pd.DataFrame, rows: np.ndarray) -> str:
    """'patient P1' (or 'lesion L1', or 'image I1' when the group has neither) for messages and records."""
    for column, word in (("patient_id", "patient"), ("lesion_id", "lesion"), ("image_id", "image")):
        if column in table.columns:
            values = [v for v in table[column].iloc[rows].astype(str) if v not in ("", "nan", "None", "<NA>")]
            if values:
                return f"{word} {sorted(set(values))[0]}"
    return f"row {int(rows[0])}"


def split_leak_message(table: pd.DataFrame, groups: np.ndarray, split: np.ndarray, spanning: list[int],
                       flag: str) -> str:
    """One line: how many groups span splits, the first few with their splits, and the fix."""
    examples = []
    for g in spanning[:3]:
        rows = np.flatnonzero(groups == g)
        names = [s for s in SPLITS if s in set(split[rows].tolist())]
        examples.append(f"{group_name(table, rows)} ({'+'.join(names)})")
    more = f" and {len(spanning) - 3} more" if len(spanning) > 3 else ""
    return (f"{flag}: {len(spanning)} patient/lesion group(s) have images in more than one split, e.g. "
            f"{', '.join(examples)}{more}; their images would leak between train, val and test. Pass --regroup "
            "to move each whole group into the split holding most of its images (ties broken by --seed)")


REGROUP_RULE = "each group spanning splits moves whole into the split holding most of its images; ties by seed"


def regroup_spanning(table: pd.DataFrame, groups: np.ndarray, split: np.ndarray, spanning: list[int],
                     seed: int) -> tuple[np.ndarray, dict]:
    """Move every spanning group into its majority split (ties: a seeded choice); and the record of it.

    The majority rule moves the fewest images, so a kept (often official) split changes as little as it can.
    Ties use their own generator from the seed, so the later carving and assignment draw the same numbers
    whether or not a tie occurred.
    """
    rng = np.random.default_rng([seed, 14])
    held = group_splits(groups, split)
    split = split.copy()
    moved: list[dict] = []
    images = 0
    for g in spanning:
        counts = held[g]
        most = max(counts.values())
        tied = [s for s in SPLITS if counts.get(s) == most]
        target = tied[int(rng.integers(len(tied)))] if len(tied) > 1 else tied[0]
        rows = np.flatnonzero((groups == g) & (split != "") & (split != target))
        images += len(rows)
        split[rows] = target
        moved.append({"group": group_name(table, np.flatnonzero(groups == g)), "to": target,
                      "from": {s: n for s, n in counts.items() if s != target}, "tie": len(tied) > 1})
    record = {"rule": REGROUP_RULE, "seed": seed, "groups_moved": len(moved), "images_moved": int(images),
              "moved": moved[:50]}
    return split, record


def join_group_split(groups: np.ndarray, split: np.ndarray) -> int:
    """Rows without a split whose group has one (a single kept split) take it, in place; how many did."""
    held = group_splits(groups, split)
    joined = 0
    for row in np.flatnonzero(split == ""):
        names = held.get(int(groups[row]), {})
        if len(names) == 1:
            split[row] = next(iter(names))
            joined += 1
    return joined
