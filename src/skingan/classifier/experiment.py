"""The augmentation study: conditions × seeds on the same splits and epochs → a table with CIs.

Conditions: `real-noaug`, `real-aug` (the reference), and for every synthetic source
`synthetic-<ratio>` (+ratio × real training images), `balanced` and `synthetic-only` (TSTR). Each
(condition, seed) cell is an ordinary classifier run under `cells/<condition>/seed<k>/`; a re-run skips
finished cells and resumes an interrupted one. Across seeds: mean ± t-interval, and each condition's
paired difference to the reference with a paired t-test.

This module runs the study; each other job has its own module, read in this order:
`study_plan` (settings, cells, what is done), `study_stats` (intervals, paired tests), `study_text`
(markdown table, conclusion) and `study_plots` (the figure). Their public names are importable from here too.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import pandas as pd

from skingan.classifier.study_plan import (
    CONDITION_KINDS,
    Cell,
    ExperimentConfig,
    StudyConfig,
    cell_done,
    check_plan,
    fingerprint,
    plan_cells,
    resumable,
    source_labels,
)
from skingan.classifier.study_plots import plot_experiment
from skingan.classifier.study_stats import METRICS, mean_ci, paired_differences, summarise
from skingan.classifier.study_text import conclusion_text, summary_markdown
from skingan.data.prepared import open_prepared
from skingan.errors import UserError
from skingan.runs import atomic_write_json, atomic_write_text, attach_log_file, init_run_dir

__all__ = [
    "CONDITION_KINDS", "METRICS", "RESULT_COLUMNS", "Cell", "ExperimentConfig", "StudyConfig", "cell_done",
    "check_plan", "collect_results", "conclusion_text", "fingerprint", "mean_ci", "paired_differences",
    "plan_cells", "plot_experiment", "resumable", "run_cell", "run_experiment", "source_labels", "summarise",
    "summary_markdown", "write_tables",
]

log = logging.getLogger("skingan")

RESULT_COLUMNS = ("condition", "kind", "source", "seed", "test_set", "auc", "auc_ci_low", "auc_ci_high", "pr_auc",
                  "balanced_accuracy", "sensitivity", "specificity", "f1", "threshold", "n", "n_pos",
                  "best_epoch", "train_images", "synthetic_images", "train_seconds")


# ------------------------------------------------------------------------------------------- run
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


def write_tables(results: pd.DataFrame, out: Path, study: StudyConfig, n_seeds: int) -> dict:
    """results.csv, summary.csv/.md, paired.csv, conclusion.md and experiment.png from the results table."""
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
