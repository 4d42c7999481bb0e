"""The study's statistics across seeds: mean ± t-interval per condition, and paired differences to the reference.

Every function reads the results table (one row per cell × test set, as `experiment.collect_results` builds
it) and returns a new table; nothing here trains, reads folders or writes files.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

METRICS = ("auc", "balanced_accuracy", "sensitivity", "specificity")


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and t-interval across seeds; (mean, nan, nan) with fewer than two values."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf((1 + level) / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
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


def paired_differences(results: pd.DataFrame, reference: str, level: float = 0.95) -> pd.DataFrame:
    """Each condition minus the reference, paired by seed: mean, t-interval, paired t-test p-value."""
    rows = []
    for test_set, block in results.groupby("test_set", sort=False):
        ref = block[block["condition"] == reference].set_index("seed")
        for condition, group in block.groupby("condition", sort=False):
            if condition == reference:
                continue
            group = group.set_index("seed")
            common = sorted(set(group.index) & set(ref.index))
            for metric in METRICS:
                a = group.loc[common, metric].to_numpy(dtype=float)
                b = ref.loc[common, metric].to_numpy(dtype=float)
                diff = a - b
                mean, low, high = mean_ci(diff, level)
                p = float("nan")
                if len(common) >= 2 and np.nanstd(diff) > 0:
                    p = float(stats.ttest_rel(a, b, nan_policy="omit").pvalue)
                rows.append({"test_set": test_set, "condition": condition, "reference": reference,
                             "metric": metric, "pairs": len(common), "difference": mean, "ci_low": low,
                             "ci_high": high, "p_value": p})
    return pd.DataFrame(rows, columns=["test_set", "condition", "reference", "metric", "pairs", "difference",
                                       "ci_low", "ci_high", "p_value"])
