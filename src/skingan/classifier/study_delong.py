"""DeLong's test per test set: each condition against the reference on the SAME test images, seeds pooled.

`study_stats.paired_differences` compares seeds (training randomness on a fixed test set); this compares the
pooled per-image predictions, so its p-value speaks to test-set sampling. For one condition and K seeds the
tested quantity is the mean over seeds of AUC(condition, seed k) − AUC(reference, seed k), with DeLong's
covariance of all 2K AUCs: every model scored the same images, so the seeds' z values are correlated and
are not combined as if independent (no Stouffer/Fisher).

Each results row names its predictions file (`predictions`, relative to the study folder: the cell's
`predictions.csv`, whose `split == "test"` rows are the in-distribution test set, or its
`ood-<name>-predictions.csv`). A missing or unreadable file gives NaN with a note naming it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from skingan.classifier.delong import paired_mean_test

log = logging.getLogger("skingan")

PREDICTION_COLUMNS = ("image_id", "target", "probability")


def read_predictions(path: Path) -> pd.DataFrame:
    """A cell's per-image predictions (test rows only when the file has a `split` column), indexed by image_id.

    Raises ValueError naming the file and what is wrong."""
    try:
        frame = pd.read_csv(path, dtype={"image_id": str})
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise ValueError(f"{path.name}: unreadable ({' '.join(str(error).split())[:80]})") from error
    missing = [c for c in PREDICTION_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path.name}: lacks column(s) {', '.join(missing)} "
                         f"(expected {', '.join(PREDICTION_COLUMNS)})")
    if "split" in frame.columns:
        frame = frame[frame["split"] == "test"]
    probability = pd.to_numeric(frame["probability"], errors="coerce").to_numpy(dtype=float)
    target = pd.to_numeric(frame["target"], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(probability).all() or not np.isin(target, (0, 1)).all():
        raise ValueError(f"{path.name}: probabilities must be finite numbers and targets 0 or 1")
    if frame["image_id"].duplicated().any():
        raise ValueError(f"{path.name}: image_id '{frame['image_id'][frame['image_id'].duplicated()].iloc[0]}' "
                         "appears twice")
    return pd.DataFrame({"target": target.astype(np.int64), "probability": probability},
                        index=frame["image_id"].to_numpy())


def delong_table(results: pd.DataFrame, out: Path, reference: str) -> pd.DataFrame:
    """One row per test set × non-reference condition: delong_seeds, delong_z, delong_p, delong_note."""
    cache: dict[str, pd.DataFrame | str] = {}
    rows = []
    for test_set, block in results.groupby("test_set", sort=False):
        ref = block[block["condition"] == reference].set_index("seed")
        for condition, group in block.groupby("condition", sort=False):
            if condition == reference:
                continue
            group = group.set_index("seed")
            seeds = sorted(set(group.index) & set(ref.index))
            row = _pooled_test(seeds, group, ref, out, cache)
            if row["delong_note"]:
                log.warning("DeLong %s on %s: %s", condition, test_set, row["delong_note"])
            rows.append({"test_set": test_set, "condition": condition, **row})
    return pd.DataFrame(rows, columns=["test_set", "condition", "delong_seeds", "delong_z", "delong_p",
                                       "delong_note"])


def _load(entry: Any, out: Path, cache: dict[str, pd.DataFrame | str]) -> pd.DataFrame | str:
    """The predictions a results row names, or a one-line reason why there are none."""
    if not isinstance(entry, str) or not entry:
        return "no predictions file recorded for this cell"
    if entry not in cache:
        path = out / entry
        if not path.is_file():
            cache[entry] = f"{entry} is missing"
        else:
            try:
                cache[entry] = read_predictions(path)
            except ValueError as error:
                cache[entry] = f"{entry}: {str(error).split(': ', 1)[-1]}"
    return cache[entry]


def _pooled_test(seeds: list[int], group: pd.DataFrame, ref: pd.DataFrame, out: Path,
                 cache: dict[str, pd.DataFrame | str]) -> dict[str, Any]:
    nan = {"delong_seeds": 0, "delong_z": float("nan"), "delong_p": float("nan")}
    pairs, problems = [], []
    for seed in seeds:
        a, b = (_load(frame.at[seed, "predictions"] if "predictions" in frame.columns else None, out, cache)
                for frame in (group, ref))
        bad = [x for x in (a, b) if isinstance(x, str)]
        if bad:
            problems.append(f"seed {seed}: {'; '.join(bad)}")
        else:
            pairs.append((seed, a, b))
    if not pairs:
        return {**nan, "delong_note": "; ".join(problems) or "no seed pair to compare"}
    ids = pairs[0][1].index
    for _, a, b in pairs:
        ids = ids.intersection(a.index).intersection(b.index)
    labels = pairs[0][1].loc[ids, "target"].to_numpy()
    for seed, a, b in pairs:
        if not (np.array_equal(a.loc[ids, "target"].to_numpy(), labels)
                and np.array_equal(b.loc[ids, "target"].to_numpy(), labels)):
            return {**nan, "delong_note": f"seed {seed}: the targets of the same images disagree between files"}
    if len(np.unique(labels)) < 2:
        return {**nan, "delong_note": f"the {len(ids)} images common to every file hold one class only"}
    largest = max(max(len(a), len(b)) for _, a, b in pairs)
    if len(ids) < largest:
        problems.append(f"{largest - len(ids)} image(s) not scored by every model were left out")
    result = paired_mean_test(labels, np.vstack([a.loc[ids, "probability"].to_numpy() for _, a, _ in pairs]),
                              np.vstack([b.loc[ids, "probability"].to_numpy() for _, _, b in pairs]))
    if len(pairs) < len(seeds):
        problems.insert(0, f"over {len(pairs)} of {len(seeds)} seed pairs")
    if not np.isfinite(result.p_value):
        problems.append("the difference has zero DeLong variance on these images, so no z exists")
    return {"delong_seeds": len(pairs), "delong_z": result.z, "delong_p": result.p_value,
            "delong_note": "; ".join(problems)}
