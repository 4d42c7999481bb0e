"""The augmentation study: conditions × seeds on the same splits and epochs → a table with CIs.

Conditions: `real-noaug`, `real-aug` (the reference), and for every synthetic source
`synthetic-<ratio>` (+ratio × real training images), `balanced` and `synthetic-only` (TSTR). Each
(condition, seed) cell is an ordinary classifier run under `cells/<condition>/seed<k>/`; a re-run skips
finished cells and resumes an interrupted one. Across seeds: mean ± t-interval, and each condition's
paired difference to the reference with a paired t-test.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from skingan.classifier.config import ClassifierConfig
from skingan.config import setting, to_dict
from skingan.data.prepared import open_prepared
from skingan.errors import UserError
from skingan.runs import atomic_write_json, atomic_write_text, attach_log_file, init_run_dir, safe_torch_load

log = logging.getLogger("skingan")

CONDITION_KINDS = ("real-noaug", "real-aug", "synthetic", "balanced", "synthetic-only")
METRICS = ("auc", "balanced_accuracy", "sensitivity", "specificity")
RESULT_COLUMNS = ("condition", "kind", "source", "seed", "test_set", "auc", "auc_ci_low", "auc_ci_high", "pr_auc",
                  "balanced_accuracy", "sensitivity", "specificity", "f1", "threshold", "n", "n_pos",
                  "best_epoch", "train_images", "synthetic_images", "train_seconds")


@dataclass
class StudyConfig:
    seeds: int = setting(3, min=1, max=100)
    conditions: list[str] = setting(default_factory=lambda: list(CONDITION_KINDS), choices=CONDITION_KINDS)
    ratios: list[float] = setting(default_factory=lambda: [0.1, 0.5], min=0.0, max=100.0)
    augment_policy: str = "standard"
    noaug_policy: str = "none"
    reference: str = "real-aug"
    ci: float = setting(0.95, min=0.5, max=0.999)
    ood_split: str = setting("all", choices=("all", "test", "val", "train"))

    def check(self) -> None:
        from skingan.data.transforms import POLICIES

        for key in ("augment_policy", "noaug_policy"):
            value = getattr(self, key)
            if value not in POLICIES and not value.endswith((".yaml", ".yml")):
                raise ValueError(f"study.{key}='{value}' is not known; accepted: {', '.join(sorted(POLICIES))} "
                                 "or a path to a .yaml list of transforms")


@dataclass
class ExperimentConfig:
    study: StudyConfig = field(default_factory=StudyConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)


@dataclass
class Cell:
    condition: str
    kind: str
    source: str | None
    seed: int
    config: ClassifierConfig

    def folder(self, out: Path) -> Path:
        return out / "cells" / self.condition / f"seed{self.seed}"


# ------------------------------------------------------------------------------------------ plan
def source_labels(sources: list[Path]) -> list[str]:
    """Short unique names for synthetic folders (their folder names, numbered on clashes)."""
    labels: list[str] = []
    for path in sources:
        name = path.resolve().name or "synthetic"
        labels.append(name if name not in labels else f"{name}-{len(labels)}")
    return labels


def plan_cells(config: ExperimentConfig, sources: list[Path], seeds: list[int]) -> list[Cell]:
    """Every (condition, seed) cell, with the classifier config each one trains with."""
    study, base = config.study, config.classifier

    def variant(policy: str, **synthetic: Any) -> ClassifierConfig:
        syn = dataclasses.replace(base.synthetic, dir=None, ratio=0.0, balance=False, only=False)
        syn = dataclasses.replace(syn, **synthetic)
        return dataclasses.replace(base, augment=dataclasses.replace(base.augment, policy=policy), synthetic=syn)

    specs: list[tuple[str, str, str | None, ClassifierConfig]] = []
    if "real-noaug" in study.conditions:
        specs.append(("real-noaug", "real-noaug", None, variant(study.noaug_policy)))
    if "real-aug" in study.conditions:
        specs.append(("real-aug", "real-aug", None, variant(study.augment_policy)))
    for label, path in zip(source_labels(sources), sources, strict=True):
        suffix = f"@{label}" if len(sources) > 1 else ""
        if "synthetic" in study.conditions:
            for ratio in study.ratios:
                specs.append((f"synthetic-{ratio:g}{suffix}", "synthetic", label,
                              variant(study.augment_policy, dir=str(path), ratio=ratio)))
        if "balanced" in study.conditions:
            specs.append((f"balanced{suffix}", "balanced", label,
                          variant(study.augment_policy, dir=str(path), balance=True)))
        if "synthetic-only" in study.conditions:
            specs.append((f"synthetic-only{suffix}", "synthetic-only", label,
                          variant(study.augment_policy, dir=str(path), only=True)))
    return [Cell(name, kind, label, seed, cfg) for name, kind, label, cfg in specs for seed in seeds]


def check_plan(cells: list[Cell], data: Path, ood: list[Path], image_size: int, ood_split: str) -> None:
    """Fail before any training: leakage, too few synthetic images, missing cache sizes."""
    from skingan.classifier.train import select_synthetic

    prepared = open_prepared(data)
    prepared.images(image_size)
    for path in ood:
        other = open_prepared(path)
        other.images(image_size)
        if other.hash == prepared.hash and ood_split in ("all", "train"):
            raise UserError(f"--ood '{path}' is the training prepared set itself: with study.ood_split="
                            f"{ood_split} it would score training images; give another set or set "
                            "study.ood_split=test")
    checked: set[str] = set()
    for cell in cells:
        if cell.condition not in checked:
            select_synthetic(cell.config, prepared, cell.seed)
            checked.add(cell.condition)


def fingerprint(config: ExperimentConfig, prepared_hash: str, sources: list[Path], ood: list[Path]) -> str:
    """What must not change between an experiment and its resumption (the seed count may grow)."""
    settings = to_dict(config)
    settings["study"].pop("seeds")
    payload = {"config": settings, "prepared": prepared_hash, "sources": [str(p.resolve()) for p in sources],
               "ood": [str(p.resolve()) for p in ood]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------- run
def cell_done(cell: Cell, out: Path, ood_names: list[str]) -> bool:
    folder = cell.folder(out)
    return (folder / "metrics.json").is_file() and all(
        (folder / f"ood-{name}-metrics.json").is_file() for name in ood_names)


def resumable(folder: Path) -> bool:
    """Whether an unfinished cell can continue from checkpoints/last.pt: it loads and best.pt holds the epoch
    last.pt names as best. A kill between an epoch's two checkpoint writes breaks that (best.pt behind, ahead
    or missing, whichever is written first); such a cell is trained again rather than scored from a wrong
    best.pt."""
    last, best = folder / "checkpoints" / "last.pt", folder / "checkpoints" / "best.pt"
    if not last.is_file():
        return True  # nothing to resume: training starts at epoch 1
    try:
        return best.is_file() and safe_torch_load(best)["epoch"] == safe_torch_load(last)["best_epoch"]
    except (UserError, KeyError, TypeError):
        return False


def run_cell(cell: Cell, data: Path, out: Path, ood: dict[str, Path], device: str, study: StudyConfig) -> None:
    """Train one cell (resuming if it was interrupted) and score it on every OOD set."""
    from skingan.classifier.evaluate import evaluate_checkpoint
    from skingan.classifier.train import fit

    folder = cell.folder(out)
    if not (folder / "metrics.json").is_file():
        if not resumable(folder):
            log.warning("cell %s seed %d: its checkpoints disagree (stopped between two writes); training it "
                        "again from the start", cell.condition, cell.seed)
            shutil.rmtree(folder)
        fit(cell.config, data, folder, seed=cell.seed, device=device, resume=(folder / "config.yaml").is_file())
    for name, path in ood.items():
        target = folder / f"ood-{name}-metrics.json"
        if not target.is_file():
            evaluate_checkpoint(folder / "checkpoints" / "best.pt", path, split=study.ood_split, out=folder,
                                prefix=f"ood-{name}-", bootstrap=cell.config.eval.bootstrap, seed=cell.seed,
                                device=device)


def collect_results(cells: list[Cell], out: Path, ood_names: list[str]) -> pd.DataFrame:
    """One row per finished cell × test set (in-distribution 'test' and every OOD set)."""
    rows = []
    for cell in cells:
        folder = cell.folder(out)
        if not (folder / "metrics.json").is_file():
            continue
        main = json.loads((folder / "metrics.json").read_text())
        extras = {k: main.get(k) for k in ("best_epoch", "train_images", "synthetic_images", "train_seconds")}
        sets = {"test": main}
        for name in ood_names:
            path = folder / f"ood-{name}-metrics.json"
            if path.is_file():
                sets[f"ood:{name}"] = json.loads(path.read_text())
        for test_set, metrics in sets.items():
            row = {"condition": cell.condition, "kind": cell.kind, "source": cell.source or "", "seed": cell.seed,
                   "test_set": test_set, **{k: metrics.get(k) for k in RESULT_COLUMNS[5:16]}, **extras}
            rows.append(row)
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


# ------------------------------------------------------------------------------------ statistics
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


# ---------------------------------------------------------------------------------- write-ups
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


def write_tables(results: pd.DataFrame, out: Path, study: StudyConfig, n_seeds: int) -> dict:
    summary = summarise(results, study.ci)
    paired = paired_differences(results, study.reference, study.ci)
    atomic_write_text(out / "results.csv", results.to_csv(index=False))
    atomic_write_text(out / "summary.csv", summary.to_csv(index=False))
    atomic_write_text(out / "summary.md", summary_markdown(summary, study.ci))
    atomic_write_text(out / "paired.csv", paired.to_csv(index=False))
    atomic_write_text(out / "conclusion.md", conclusion_text(paired, summary, study.reference, n_seeds, study.ci))
    if len(results):
        plot_experiment(results, summary, out / "experiment.png")
    return {"summary": summary, "paired": paired}


# ----------------------------------------------------------------------------------- the study
def run_experiment(config: ExperimentConfig, data: Path, out: Path, *, sources: list[Path], ood: list[Path],
                   seed: int = 0, device: str = "cpu") -> dict:
    """Plan, check, run (skipping finished cells), then write the tables, figure and conclusion."""
    study = config.study
    prepared = open_prepared(data)
    seeds = [seed + k for k in range(study.seeds)]
    cells = plan_cells(config, sources, seeds)
    if not cells:
        raise UserError("study.conditions selects no cell (synthetic conditions need --synthetic DIR)")
    if study.reference not in {c.condition for c in cells}:
        raise UserError(f"study.reference='{study.reference}' is not among the planned conditions: "
                        f"{', '.join(sorted({c.condition for c in cells}))}")
    check_plan(cells, data, ood, config.classifier.data.image_size, study.ood_split)
    ood_map = dict(zip(source_labels(ood), ood, strict=True))
    stamp = fingerprint(config, prepared.hash, sources, ood)
    record_path = out / "experiment.json"
    resume = record_path.is_file()
    if resume and json.loads(record_path.read_text()).get("fingerprint") != stamp:
        raise UserError(f"'{out}' holds an experiment with other settings, data or synthetic folders; "
                        "choose another --out (finished cells are only reused under identical settings)")
    init_run_dir(out, config=config, seed=seed, device=device, resume=resume or (out / "config.yaml").exists())
    record = {"fingerprint": stamp, "prepared": str(data.resolve()), "prepared_hash": prepared.hash,
              "sources": dict(zip(source_labels(sources), map(str, sources), strict=True)),
              "ood": {k: str(v) for k, v in ood_map.items()}, "seeds": seeds,
              "conditions": list(dict.fromkeys(c.condition for c in cells)), "cells": []}
    skipped = 0
    for number, cell in enumerate(cells, 1):
        started = time.perf_counter()
        status = "skipped (finished earlier)"
        if cell_done(cell, out, list(ood_map)):
            skipped += 1
        else:
            log.info("cell %d/%d: %s, seed %d", number, len(cells), cell.condition, cell.seed)
            run_cell(cell, data, out, ood_map, device, study)
            attach_log_file(out / "log.txt")
            status = "ran"
        record["cells"].append({"condition": cell.condition, "seed": cell.seed, "status": status,
                                "folder": str(cell.folder(out).relative_to(out)),
                                "seconds": round(time.perf_counter() - started, 2)})
        atomic_write_json(record_path, record)
    results = collect_results(cells, out, list(ood_map))
    tables = write_tables(results, out, study, len(seeds))
    record.update({"finished": True, "cells_total": len(cells), "cells_skipped": skipped})
    atomic_write_json(record_path, record)
    return {"results": results, **tables, "cells": len(cells), "skipped": skipped}
