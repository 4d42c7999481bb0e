"""The study in words: the summary table as markdown, and a plain-language conclusion about AUC.

Both read the tables `study_stats` computes; the conclusion says when the evidence is insufficient
(one seed, no reference runs, intervals that include zero) rather than reading noise as an effect.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skingan.classifier.study_stats import METRICS


def _fmt(mean: float, low: float, high: float) -> str:
    if not np.isfinite(mean):
        return "–"
    if not np.isfinite(low):
        return f"{mean:.3f}"
    return f"{mean:.3f} ± {(high - low) / 2:.3f}"


def summary_markdown(summary: pd.DataFrame, level: float) -> str:
    lines = [f"Mean ± half-width of the {level:.0%} t-interval across seeds.", ""]
    for test_set, block in summary.groupby("test_set", sort=False):
        lines += [f"### {test_set}", "", "| condition | seeds | AUC | balanced accuracy | sensitivity | specificity |",
                  "|---|---|---|---|---|---|"]
        for _, r in block.iterrows():
            cells = [_fmt(r[m], r[f"{m}_ci_low"], r[f"{m}_ci_high"]) for m in METRICS]
            lines.append(f"| {r['condition']} | {r['seeds']} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def conclusion_text(paired: pd.DataFrame, summary: pd.DataFrame, reference: str, n_seeds: int,
                    level: float) -> str:
    """A plain-language paragraph per test set about AUC, saying when the evidence is insufficient."""
    paragraphs = []
    for test_set, block in summary.groupby("test_set", sort=False):
        diffs = paired[(paired["test_set"] == test_set) & (paired["metric"] == "auc")]
        ref_row = block[block["condition"] == reference]
        if ref_row.empty:
            paragraphs.append(f"**{test_set}**: the reference condition '{reference}' has no finished runs, "
                              "so no comparison can be made.")
            continue
        text = [f"**{test_set}**: the reference '{reference}' reached a mean ROC-AUC of "
                f"{ref_row['auc'].iloc[0]:.3f} over {int(ref_row['seeds'].iloc[0])} seed(s)."]
        if n_seeds < 2:
            text.append("With a single seed per condition no confidence interval exists: the evidence is "
                        "insufficient to say whether any condition helps or hurts.")
            paragraphs.append(" ".join(text))
            continue
        clear = []
        for _, d in diffs.iterrows():
            p = f"p = {d['p_value']:.3g}" if np.isfinite(d["p_value"]) else "p undefined"
            if not np.isfinite(d["p_value"]):
                text.append(f"'{d['condition']}': the same difference ({d['difference']:+.3f}) in every seed pair "
                            f"or too few pairs ({int(d['pairs'])}), so no interval or test exists.")
            elif d["p_value"] < 1 - level and (d["ci_low"] > 0 or d["ci_high"] < 0):
                clear.append(d["condition"])
                direction = "raised" if d["difference"] > 0 else "lowered"
                text.append(f"'{d['condition']}' {direction} AUC by {abs(d['difference']):.3f} "
                            f"({level:.0%} CI {d['ci_low']:+.3f} to {d['ci_high']:+.3f}, {p}).")
            else:
                bound = np.nanmax(np.abs([d["ci_low"], d["ci_high"]]))
                text.append(f"'{d['condition']}': no detectable difference ({d['difference']:+.3f}, CI "
                            f"{d['ci_low']:+.3f} to {d['ci_high']:+.3f}, {p}); an effect of up to "
                            f"±{bound:.3f} cannot be excluded.")
        if not clear:
            text.append(f"Overall the evidence is insufficient to claim that any condition changes AUC relative to "
                        f"'{reference}' with {n_seeds} seeds; more seeds or a larger test set would narrow the "
                        "intervals.")
        if n_seeds < 3:
            text.append("Fewer than 3 seeds: treat this as a pilot, not a result.")
        paragraphs.append(" ".join(text))
    if not paragraphs:
        return "No cell has finished: there is nothing to conclude yet.\n"
    return "\n\n".join(paragraphs) + "\n"
