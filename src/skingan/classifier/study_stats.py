"""The study's statistics across seeds: mean ± t-interval per condition, and paired differences to the reference.

Every function reads the results table (one row per cell × test set, as `experiment.collect_results` builds
it) and returns a new table; nothing here trains or writes files (`study_delong` reads the predictions).

The t-interval and paired t-test measure seed-to-seed variation of training on a FIXED test set; the
test-set sampling error is what DeLong's test on the pooled predictions speaks to (`study_delong`).
Multiplicity: Holm's step-down adjustment within two families per study — the primary one is every AUC
comparison (all conditions × test sets × synthetic sources); balanced accuracy, sensitivity and specificity
together form a second, secondary family. DeLong's p-values are Holm-adjusted across the AUC comparisons
on their own.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from skingan.classifier import study_power

METRICS = ("auc", "balanced_accuracy", "sensitivity", "specificity")
PRIMARY_METRIC = "auc"
SEEDS_COLUMN = f"seeds_for_{study_power.TARGET_EFFECT:g}"
_DELONG_COLUMNS = ("delong_z", "delong_p", "delong_note")
PAIRED_COLUMNS = ("test_set", "condition", "reference", "metric", "family", "pairs", "difference", "ci_low",
                  "ci_high", "p_value", "p_adjusted", "mde", SEEDS_COLUMN, "delong_z", "delong_p",
                  "delong_p_adjusted", "delong_note")


@functools.lru_cache(maxsize=256)
def _t_quantile(q: float, df: int) -> float:
    return float(stats.t.ppf(q, df))


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and t-interval across seeds; (mean, nan, nan) with fewer than two values."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = float(_t_quantile((1 + level) / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
    return mean, mean - half, mean + half


def summarise(results: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    rows = []
    for (test_set, condition), group in results.groupby(["test_set", "condition"], sort=False):
        row: dict[str, Any] = {"test_set": test_set, "condition": condition, "seeds": len(group)}
        for metric in METRICS:
            mean, low, high = mean_ci(group[metric].to_numpy(dtype=float), level)
            row.update({metric: mean, f"{metric}_ci_low": low, f"{metric}_ci_high": high})
        rows.append(row)
    return pd.DataFrame(rows)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values of one family; NaN entries (no test possible) stay NaN and do not count."""
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        adjusted[finite] = multipletests(p[finite], method="holm")[1]
    return adjusted


def _family(metric: str) -> str:
    return "primary" if metric == PRIMARY_METRIC else "secondary"


def _paired_columns(a: np.ndarray, b: np.ndarray, level: float) -> list[dict[str, Any]]:
    """Per column (metric) of the (seeds × metrics) arrays, over the seed pairs where both values are finite."""
    finite = np.isfinite(a) & np.isfinite(b)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")  # columns with < 2 pairs or no spread: NaN, handled below
        p_values = np.atleast_1d(stats.ttest_rel(a, b, axis=0, nan_policy="omit").pvalue)
    alpha = 1 - level
    columns = []
    for k in range(a.shape[1]):
        diff = (a[:, k] - b[:, k])[finite[:, k]]
        mean, low, high = mean_ci(diff, level)
        sd = float(diff.std(ddof=1)) if len(diff) >= 2 else float("nan")
        p = float(p_values[k]) if len(diff) >= 2 and sd > 0 else float("nan")
        columns.append({"pairs": int(len(diff)), "difference": mean, "ci_low": low, "ci_high": high,
                        "p_value": p, "mde": study_power.minimum_detectable_difference(sd, len(diff), alpha),
                        SEEDS_COLUMN: study_power.seeds_needed(sd, len(diff), alpha)})
    return columns


def paired_differences(results: pd.DataFrame, reference: str, level: float = 0.95,
                       delong: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each condition minus the reference, paired by seed (only pairs where both values are finite): mean,
    t-interval, paired t-test p-value and its Holm adjustment within the metric's family, the minimum
    detectable difference at 80 % power and the seeds needed for ±0.02. `delong` (one row per test set ×
    condition with delong_z, delong_p, delong_note, from `study_delong.delong_table`) fills the DeLong
    columns of the AUC rows; without it they are NaN."""
    rows = []
    for test_set, block in results.groupby("test_set", sort=False):
        twice = block[block.duplicated(["seed", "condition"])]
        if len(twice):
            raise ValueError(f"the results hold two rows for condition '{twice['condition'].iloc[0]}', seed "
                             f"{twice['seed'].iloc[0]} on test set '{test_set}'; expected one per cell × test set")
        # seeds × (metric, condition); a seed one condition lacks is NaN there and pairs with nothing
        wide = block.pivot(index="seed", columns="condition", values=list(METRICS))
        b = (wide.xs(reference, level="condition", axis=1)[list(METRICS)].to_numpy(dtype=float)
             if reference in set(block["condition"]) else np.full((len(wide), len(METRICS)), np.nan))
        for condition in dict.fromkeys(block["condition"]):
            if condition == reference:
                continue
            a = wide.xs(condition, level="condition", axis=1)[list(METRICS)].to_numpy(dtype=float)
            for metric, stat in zip(METRICS, _paired_columns(a, b, level), strict=True):
                rows.append({"test_set": test_set, "condition": condition, "reference": reference,
                             "metric": metric, "family": _family(metric), **stat})
    paired = pd.DataFrame(rows, columns=[c for c in PAIRED_COLUMNS if c not in (
        "p_adjusted", "delong_z", "delong_p", "delong_p_adjusted", "delong_note")])
    paired = _with_delong(paired, delong)
    paired["p_adjusted"] = np.nan
    for name in ("primary", "secondary"):
        members = paired["family"] == name
        paired.loc[members, "p_adjusted"] = holm(paired.loc[members, "p_value"].to_numpy(dtype=float))
    auc = paired["metric"] == PRIMARY_METRIC
    paired["delong_p_adjusted"] = np.nan
    paired.loc[auc, "delong_p_adjusted"] = holm(paired.loc[auc, "delong_p"].to_numpy(dtype=float))
    return paired[list(PAIRED_COLUMNS)]


def _with_delong(paired: pd.DataFrame, delong: pd.DataFrame | None) -> pd.DataFrame:
    if delong is None or delong.empty:
        paired = paired.assign(delong_z=np.nan, delong_p=np.nan, delong_note="")
        return paired
    view = delong[["test_set", "condition", *_DELONG_COLUMNS]].assign(metric=PRIMARY_METRIC)
    merged = paired.merge(view, on=["test_set", "condition", "metric"], how="left")
    merged["delong_note"] = merged["delong_note"].fillna("")
    return merged
