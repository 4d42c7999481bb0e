"""The study in words: the summary and paired tables as markdown, and a plain-language conclusion about AUC.

Both read the tables `study_stats` computes; the conclusion claims an effect only where the Holm-adjusted
p-value of the paired t-test across seeds is below alpha = 1 − study.ci, and otherwise says when the evidence
is insufficient (one seed, no reference runs) and how small an effect could still have been missed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skingan.classifier import study_power
from skingan.classifier.study_stats import METRICS, PRIMARY_METRIC, SEEDS_COLUMN

INTERVAL_MEANING = ("The t-intervals measure seed-to-seed variation of training on this fixed test set "
                    "(more seeds narrow them); test-set sampling error is what DeLong's test on the pooled "
                    "per-image predictions speaks to.")


def _fmt(mean: float, low: float, high: float) -> str:
    if not np.isfinite(mean):
        return "–"
    if not np.isfinite(low):
        return f"{mean:.3f}"
    return f"{mean:.3f} ± {(high - low) / 2:.3f}"


def _num(value: float, spec: str = ".3g") -> str:
    return format(value, spec) if np.isfinite(value) else "–"


def summary_markdown(summary: pd.DataFrame, level: float) -> str:
    lines = [f"Mean ± half-width of the {level:.0%} t-interval across seeds (seed-to-seed variation of "
             "training on a fixed test set).", ""]
    for test_set, block in summary.groupby("test_set", sort=False):
        lines += [f"### {test_set}", "", "| condition | seeds | AUC | balanced accuracy | sensitivity | specificity |",
                  "|---|---|---|---|---|---|"]
        for _, r in block.iterrows():
            cells = [_fmt(r[m], r[f"{m}_ci_low"], r[f"{m}_ci_high"]) for m in METRICS]
            lines.append(f"| {r['condition']} | {r['seeds']} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def paired_markdown(paired: pd.DataFrame, level: float) -> str:
    """paired.csv as markdown: one table per test set, every metric, p-values beside their Holm adjustment."""
    lines = ["## Paired differences to the reference", "",
             f"Condition minus reference, paired by seed: mean difference and {level:.0%} t-interval, paired "
             "t-test p and its Holm adjustment (family: every AUC comparison of the study; the secondary "
             "metrics form a second family), the minimum detectable difference (MDE, "
             f"{study_power.POWER:.0%} power, two-sided alpha {1 - level:.3g}) and the seeds needed for "
             f"±{study_power.TARGET_EFFECT:g}; for AUC, DeLong's test on the pooled test images (seeds "
             "combined), Holm-adjusted across the AUC comparisons.", ""]
    for test_set, block in paired.groupby("test_set", sort=False):
        lines += [f"### {test_set}", "", "| condition | metric | pairs | difference | CI | p | p (Holm) | MDE | "
                  f"seeds for ±{study_power.TARGET_EFFECT:g} | DeLong z | DeLong p | DeLong p (Holm) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for _, r in block.iterrows():
            ci = (f"{r['ci_low']:+.3f} to {r['ci_high']:+.3f}" if np.isfinite(r["ci_low"]) else "–")
            seeds = f"{int(r[SEEDS_COLUMN])}" if np.isfinite(r[SEEDS_COLUMN]) else "n/a"
            lines.append(f"| {r['condition']} | {r['metric']} | {int(r['pairs'])} | {_num(r['difference'], '+.3f')} "
                         f"| {ci} | {_num(r['p_value'])} | {_num(r['p_adjusted'])} | {_num(r['mde'], '.3f')} "
                         f"| {seeds} | {_num(r['delong_z'], '+.2f')} | {_num(r['delong_p'])} "
                         f"| {_num(r['delong_p_adjusted'])} |")
        lines.append("")
    return "\n".join(lines)


def claimed(paired: pd.DataFrame, level: float) -> pd.DataFrame:
    """The AUC rows whose Holm-adjusted paired t-test p-value is below alpha = 1 − level."""
    auc = paired[paired["metric"] == PRIMARY_METRIC]
    return auc[auc["p_adjusted"].to_numpy(dtype=float) < 1 - level]


def _delong_words(d: pd.Series) -> str:
    if np.isfinite(d["delong_p"]):
        return (f"; DeLong on the test images, seeds pooled: z = {d['delong_z']:+.2f}, "
                f"Holm p = {d['delong_p_adjusted']:.3g}")
    return f"; DeLong: n/a ({d['delong_note']})" if d["delong_note"] else ""


def _seeds_phrase(d: pd.Series) -> str:
    if not np.isfinite(d[SEEDS_COLUMN]):
        return ""
    return f"about {int(d[SEEDS_COLUMN])} seeds would detect ±{study_power.TARGET_EFFECT:g} at the observed spread"


def _power_words(d: pd.Series, level: float) -> str:
    if not np.isfinite(d["mde"]):
        return ""
    seeds = _seeds_phrase(d)
    seeds = f"; {seeds}" if seeds else ""
    return (f" An effect smaller than ±{d['mde']:.3f} cannot be excluded ({study_power.POWER:.0%} power at alpha "
            f"{1 - level:.3g} with {int(d['pairs'])} seeds{seeds}).")


def _delong_disagrees(d: pd.Series, alpha: float) -> str:
    """DeLong speaks to the test set, the t-test to training seeds: say so when only DeLong finds a difference."""
    if not (np.isfinite(d["delong_p_adjusted"]) and d["delong_p_adjusted"] < alpha):
        return ""
    return (f" DeLong's test on the pooled test images does find a difference (Holm p = "
            f"{d['delong_p_adjusted']:.3g}): on this test set the pooled predictions differ, but the seed-to-seed "
            "evidence does not carry it.")


def conclusion_text(paired: pd.DataFrame, summary: pd.DataFrame, reference: str, n_seeds: int,
                    level: float) -> str:
    """A plain-language paragraph per test set about AUC, saying when the evidence is insufficient."""
    paragraphs = []
    alpha = 1 - level
    clear_rows = claimed(paired, level)
    tested = int(np.isfinite(paired.loc[paired["metric"] == PRIMARY_METRIC, "p_value"].to_numpy(dtype=float)).sum())
    for test_set, block in summary.groupby("test_set", sort=False):
        diffs = paired[(paired["test_set"] == test_set) & (paired["metric"] == PRIMARY_METRIC)]
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
        clear = set(clear_rows.loc[clear_rows["test_set"] == test_set, "condition"])
        for _, d in diffs.iterrows():
            p = (f"p = {d['p_value']:.3g}, Holm p = {d['p_adjusted']:.3g}" if np.isfinite(d["p_value"])
                 else "p undefined")
            if not np.isfinite(d["p_value"]):
                text.append(f"'{d['condition']}': the same difference ({d['difference']:+.3f}) in every seed pair "
                            f"or too few pairs ({int(d['pairs'])}), so no interval or test exists"
                            f"{_delong_words(d)}.")
            elif d["condition"] in clear:
                direction = "raised" if d["difference"] > 0 else "lowered"
                text.append(f"'{d['condition']}' {direction} AUC by {abs(d['difference']):.3f} "
                            f"({level:.0%} CI {d['ci_low']:+.3f} to {d['ci_high']:+.3f}, {p}{_delong_words(d)}).")
            elif d["p_value"] < alpha:
                seeds = _seeds_phrase(d)
                text.append(f"'{d['condition']}': a difference of {d['difference']:+.3f} (CI {d['ci_low']:+.3f} to "
                            f"{d['ci_high']:+.3f}) that is significant before but not after the multiplicity "
                            f"correction ({p}, across {tested} AUC comparisons){_delong_words(d)}: suggestive, "
                            f"not established.{f' {seeds.capitalize()}.' if seeds else ''}"
                            f"{_delong_disagrees(d, alpha)}")
            else:
                text.append(f"'{d['condition']}': no detectable difference ({d['difference']:+.3f}, CI "
                            f"{d['ci_low']:+.3f} to {d['ci_high']:+.3f}, {p}{_delong_words(d)})."
                            f"{_power_words(d, level)}{_delong_disagrees(d, alpha)}")
        if not clear:
            text.append(f"Overall the evidence is insufficient to claim that any condition changes AUC relative to "
                        f"'{reference}' with {n_seeds} seeds.")
        if n_seeds < 3:
            text.append("Fewer than 3 seeds: treat this as a pilot, not a result.")
        paragraphs.append(" ".join(text))
    if not paragraphs:
        return "No cell has finished: there is nothing to conclude yet.\n"
    paragraphs.append(f"How to read this: an effect on AUC is claimed only where the paired t-test across seeds "
                      f"has a Holm-adjusted p below {alpha:.3g}, the family being all {tested} AUC comparisons of "
                      "this study (every condition, test set and synthetic source); balanced accuracy, "
                      "sensitivity and specificity are a separate, secondary family in paired.csv and are not "
                      f"used for claims. {INTERVAL_MEANING}")
    return "\n\n".join(paragraphs) + "\n"
