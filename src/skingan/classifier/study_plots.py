"""The study's figure: ROC-AUC per condition and test set, one dot per seed and the mean with its interval."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def plot_experiment(results: pd.DataFrame, summary: pd.DataFrame, path: Path) -> None:
    """AUC per condition and test set: one dot per seed, the mean with its CI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(dict.fromkeys(results["test_set"]))
    fig, axes = plt.subplots(1, max(len(sets), 1), figsize=(4.5 * max(len(sets), 1), 3.8), squeeze=False)
    for ax, test_set in zip(axes[0], sets, strict=False):
        block = summary[summary["test_set"] == test_set].reset_index(drop=True)
        for i, row in block.iterrows():
            seeds = results[(results["test_set"] == test_set) & (results["condition"] == row["condition"])]
            ax.scatter(np.full(len(seeds), i) + np.linspace(-0.12, 0.12, len(seeds)), seeds["auc"], s=14,
                       color="grey", zorder=2)
            low = row["auc"] - row["auc_ci_low"] if np.isfinite(row["auc_ci_low"]) else 0
            ax.errorbar(i, row["auc"], yerr=[[low], [low]], fmt="o", color="C0", capsize=4, zorder=3)
        shown = np.r_[results.loc[results["test_set"] == test_set, "auc"], block["auc_ci_low"], block["auc_ci_high"]]
        shown = shown[np.isfinite(shown)]
        ax.set_ylim(max(0.0, shown.min() - 0.03) if len(shown) else 0.0, min(1.01, shown.max() + 0.03)
                    if len(shown) else 1.01)  # AUC lives in [0, 1] even when a 2-seed interval does not
        ax.axhline(0.5, color="grey", linestyle=":", linewidth=0.8)
        ax.set_xticks(range(len(block)), block["condition"], rotation=35, ha="right")
        ax.set(title=test_set, ylabel="ROC-AUC")
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
