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
import os
import shutil
import time
from pathlib import Path

import pandas as pd

from skingan import tracking
from skingan.classifier.study_claims import CLAIMS, DEFAULT_TIMEOUT_S, HOST, ClaimBoard, Shard
from skingan.classifier.study_delong import delong_table
from skingan.classifier.study_plan import (
    CONDITION_KINDS,
    SYNTHETIC_KINDS,
    Cell,
    ExperimentConfig,
    StudyConfig,
    cell_done,
    check_plan,
    fingerprint,
    plan_cells,
    resumable,
    source_labels,
    study_resolution,
)
from skingan.classifier.study_plots import plot_experiment
from skingan.classifier.study_stats import (
    METRICS,
    PAIRED_COLUMNS,
    PRIMARY_METRIC,
    SEEDS_COLUMN,
    holm,
    mean_ci,
    paired_differences,
    summarise,
)
from skingan.classifier.study_text import (
    INTERVAL_MEANING,
    claimed,
    conclusion_text,
    paired_markdown,
    summary_markdown,
)
from skingan.data.prepared import open_prepared
from skingan.errors import UserError
from skingan.runs import (
    atomic_write_json,
    atomic_write_text,
    attach_log_file,
    environment_record,
    init_run_dir,
)

__all__ = [
    "CONDITION_KINDS", "METRICS", "RESULT_COLUMNS", "Cell", "ExperimentConfig", "StudyConfig", "cell_done",
    "check_plan", "collect_results", "conclusion_text", "fingerprint", "mean_ci", "paired_differences",
    "plan_cells", "plot_experiment", "resumable", "run_cell", "run_experiment", "source_labels", "summarise",
    "summary_markdown", "write_tables",
    "INTERVAL_MEANING", "PAIRED_COLUMNS", "PRIMARY_METRIC", "SEEDS_COLUMN", "claimed", "delong_table", "holm",
    "paired_markdown", "SYNTHETIC_KINDS", "study_resolution",
]

log = logging.getLogger("skingan")

RESULT_COLUMNS = ("condition", "kind", "source", "seed", "test_set", "auc", "auc_ci_low", "auc_ci_high", "pr_auc",
                  "balanced_accuracy", "sensitivity", "specificity", "f1", "threshold", "n", "n_pos",
                  "best_epoch", "train_images", "synthetic_images", "train_seconds", "predictions")


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
                                device=device, level=cell.config.eval.ci)


def collect_results(cells: list[Cell], out: Path, ood_names: list[str]) -> pd.DataFrame:
    """One row per finished cell × test set (in-distribution 'test' and every OOD set); `predictions` names the
    file (relative to `out`) holding that row's per-image predictions, empty when the cell has none."""
    rows = []
    for cell in cells:
        folder = cell.folder(out)
        if not (folder / "metrics.json").is_file():
            continue
        main = json.loads((folder / "metrics.json").read_text())
        extras = {k: main.get(k) for k in ("best_epoch", "train_images", "synthetic_images", "train_seconds")}
        sets = {"test": (main, folder / "predictions.csv")}
        for name in ood_names:
            path = folder / f"ood-{name}-metrics.json"
            if path.is_file():
                sets[f"ood:{name}"] = (json.loads(path.read_text()), folder / f"ood-{name}-predictions.csv")
        for test_set, (metrics, predictions) in sets.items():
            row = {"condition": cell.condition, "kind": cell.kind, "source": cell.source or "", "seed": cell.seed,
                   "test_set": test_set, **{k: metrics.get(k) for k in RESULT_COLUMNS[5:16]}, **extras,
                   "predictions": str(predictions.relative_to(out)) if predictions.is_file() else ""}
            rows.append(row)
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def write_tables(results: pd.DataFrame, out: Path, study: StudyConfig, n_seeds: int) -> dict:
    """results.csv, summary.csv/.md, paired.csv, conclusion.md and experiment.png from the results table
    (DeLong's test reads the per-image predictions each results row names)."""
    summary = summarise(results, study.ci)
    delong = delong_table(results, out, study.reference)
    paired = paired_differences(results, study.reference, study.ci, delong=delong)
    atomic_write_text(out / "results.csv", results.to_csv(index=False))
    atomic_write_text(out / "summary.csv", summary.to_csv(index=False))
    atomic_write_text(out / "summary.md",
                      summary_markdown(summary, study.ci) + "\n" + paired_markdown(paired, study.ci))
    atomic_write_text(out / "paired.csv", paired.to_csv(index=False))
    atomic_write_text(out / "conclusion.md", conclusion_text(paired, summary, study.reference, n_seeds, study.ci))
    if len(results):
        plot_experiment(results, summary, out / "experiment.png")
    return {"summary": summary, "paired": paired}


# ----------------------------------------------------------------------------------- the study
def run_experiment(config: ExperimentConfig, data: Path, out: Path, *, sources: list[Path], ood: list[Path],
                   seed: int = 0, device: str = "cpu", shard: Shard | None = None, merge: bool = False,
                   claim_timeout_s: float = DEFAULT_TIMEOUT_S) -> dict:
    """Plan, check, run this process's cells, then write the tables, figure and conclusion.

    Several processes may share `out` (`shard` K/N each): a process takes every N-th unfinished cell, then any
    other cell nobody holds, claiming each one first (`study_claims`), so no cell is trained twice and a dead
    process's cell is taken over. The process that finds every cell finished writes the tables; `merge` writes
    them from whatever is finished without training anything.
    """
    study = config.study
    shard = shard or Shard()
    prepared = open_prepared(data)
    seeds = [seed + k for k in range(study.seeds)]
    cells = plan_cells(config, sources, seeds)
    if not cells:
        raise UserError("study.conditions selects no cell (synthetic conditions need --synthetic DIR)")
    if study.reference not in {c.condition for c in cells}:
        raise UserError(f"study.reference='{study.reference}' is not among the planned conditions: "
                        f"{', '.join(sorted({c.condition for c in cells}))}")
    record_path = out / "experiment.json"
    if merge and not record_path.is_file():
        raise UserError(f"--merge: '{out}' holds no experiment (no experiment.json); run the study there first")
    if not merge:
        check_plan(cells, data, ood, config.classifier.data.image_size, study.ood_split)
    ood_map = dict(zip(source_labels(ood), ood, strict=True))
    ood_names = list(ood_map)
    stamp = fingerprint(config, prepared.hash, sources, ood)
    _read_record(record_path, stamp, out)  # refuse other settings before anything is written
    plan = {"fingerprint": stamp, "prepared": str(data.resolve()), "prepared_hash": prepared.hash,
            "sources": dict(zip(source_labels(sources), map(str, sources), strict=True)),
            "ood": {k: str(v) for k, v in ood_map.items()}, "seeds": seeds,
            "conditions": list(dict.fromkeys(c.condition for c in cells)),
            "synthetic_resolution": study_resolution(config, sources)}
    board = ClaimBoard(out / CLAIMS, shard=shard, timeout_s=claim_timeout_s)
    done = [cell_done(cell, out, ood_names) for cell in cells]
    skipped, ran = sum(done), 0
    if not merge:
        me = {"host": HOST, "pid": os.getpid(), "started": _utc(), "finished": None,
              "cells": [_cell_entry(c, out, "skipped (finished earlier)", 0.0)
                        for c, finished in zip(cells, done, strict=True) if finished]}
        with board.lock(RECORD_LOCK):
            record = _read_record(record_path, stamp, out)
            _open_study_folder(out, config, seed, device, shard, exists=record is not None,
                               others_busy=any(board.holder(_claim_key(c)) for c in cells))
            record = {**(record or {}), **plan, "finished": False}
            record.setdefault("shards", {})[str(shard)] = me
            _write_record(record_path, record, cells, out)
        ran = _run_cells(cells, done, shard, board, data, out, ood_map, device, study, record_path, stamp)
    pending = [c for c in cells if not cell_done(c, out, ood_names)]
    if pending and not merge:
        holders = sorted({str((board.holder(_claim_key(c)) or {}).get("shard", "nobody")) for c in pending})
        log.info("%d of %d cells are not finished (held by shard(s) %s): the last process to finish writes "
                 "the tables, or run the same command with --merge", len(pending), len(cells), ", ".join(holders))
        _update_record(board, record_path, stamp, cells, out, shard, finished=_utc())
        return {"results": None, "summary": None, "paired": None, "cells": len(cells), "skipped": skipped,
                "ran": ran, "pending": len(pending), "merged": False}
    if pending:
        log.warning("--merge: %d of %d cells are not finished (%s); the tables cover the finished ones only",
                    len(pending), len(cells), ", ".join(f"{c.condition} seed {c.seed}" for c in pending))
    with board.lock(RECORD_LOCK):
        results = collect_results(cells, out, ood_names)
        tables = write_tables(results, out, study, len(seeds))
        tracking.log_study_cells(out, results)
        record = _read_record(record_path, stamp, out) or {**plan, "shards": {}}
        if not merge:
            record.setdefault("shards", {}).setdefault(str(shard), {"cells": []})["finished"] = _utc()
        record.update({"finished": not pending, "cells_total": len(cells), "cells_skipped": skipped,
                       "cells_pending": [str(c.folder(out).relative_to(out)) for c in pending],
                       "tables_written_by": "--merge" if merge else str(shard)})
        _write_record(record_path, record, cells, out)
    return {"results": results, **tables, "cells": len(cells), "skipped": skipped, "ran": ran,
            "pending": len(pending), "merged": True}


# ------------------------------------------------------------------- several processes, one folder
RECORD_LOCK = "experiment.json"  # the claim key of the lock around experiment.json


def _run_cells(cells: list[Cell], done: list[bool], shard: Shard, board: ClaimBoard, data: Path, out: Path,
               ood_map: dict[str, Path], device: str, study: StudyConfig, record_path: Path, stamp: str) -> int:
    """This shard's share of the unfinished cells first, then any other one nobody holds; returns how many ran."""
    unfinished = [i for i, finished in enumerate(done) if not finished]
    mine = shard.share(unfinished)
    ran = 0
    for i in mine + [i for i in unfinished if i not in mine]:
        cell = cells[i]
        if cell_done(cell, out, list(ood_map)):
            continue
        claim = board.try_claim(_claim_key(cell))
        if claim is None:
            continue  # another live process is training it
        with claim:
            if cell_done(cell, out, list(ood_map)):  # finished between our look and our claim
                claim.outcome = "finished by another process"
                continue
            log.info("cell %d/%d: %s, seed %d%s", i + 1, len(cells), cell.condition, cell.seed,
                     f" (shard {shard})" if shard.count > 1 else "")
            started = time.perf_counter()
            run_cell(cell, data, out, ood_map, device, study)
            attach_log_file(out / "log.txt")
            claim.outcome = "finished"
        ran += 1
        _update_record(board, record_path, stamp, cells, out, shard,
                       entry=_cell_entry(cell, out, "ran", time.perf_counter() - started))
    return ran


def _claim_key(cell: Cell) -> str:
    return f"{cell.condition}/seed{cell.seed}"


def _utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _cell_entry(cell: Cell, out: Path, status: str, seconds: float) -> dict:
    return {"condition": cell.condition, "seed": cell.seed, "status": status,
            "folder": str(cell.folder(out).relative_to(out)), "seconds": round(seconds, 2),
            "host": HOST, "pid": os.getpid()}


def _open_study_folder(out: Path, config: ExperimentConfig, seed: int, device: str, shard: Shard, *,
                       exists: bool, others_busy: bool) -> None:
    """The run-folder record of this process. The first process creates the folder; later ones add their own
    environment record. While other processes train, the folder's temporaries are theirs: nothing is cleaned."""
    if not others_busy and (shard.count == 1 or not (out / "config.yaml").exists()):
        init_run_dir(out, config=config, seed=seed, device=device, resume=exists or (out / "config.yaml").exists())
        return
    name = f"environment.shard-{shard.index}of{shard.count}-{HOST}-{os.getpid()}.json"
    atomic_write_json(out / name, environment_record(seed=seed, device=device, extra={"shard": str(shard)}))
    attach_log_file(out / "log.txt")


def _read_record(path: Path, stamp: str, out: Path) -> dict | None:
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    if record.get("fingerprint") != stamp:
        raise UserError(f"'{out}' holds an experiment with other settings, data or synthetic folders; "
                        "choose another --out (finished cells are only reused under identical settings)")
    return record


def _update_record(board: ClaimBoard, path: Path, stamp: str, cells: list[Cell], out: Path, shard: Shard, *,
                   entry: dict | None = None, finished: str | None = None) -> None:
    """Add one cell entry (or the finish time) to this shard's part of experiment.json, under the lock."""
    with board.lock(RECORD_LOCK):
        record = _read_record(path, stamp, out) or {}
        mine = record.setdefault("shards", {}).setdefault(str(shard), {"cells": []})
        if entry is not None:
            mine["cells"] = [e for e in mine["cells"] if e["folder"] != entry["folder"]] + [entry]
        if finished is not None:
            mine["finished"] = finished
        _write_record(path, record, cells, out)


def _write_record(path: Path, record: dict, cells: list[Cell], out: Path) -> None:
    """experiment.json with `cells` rebuilt from every shard's entries: one per planned cell, in plan order;
    the entry of the process that trained a cell wins over those that found it finished."""
    best: dict[str, dict] = {}
    for part in record.get("shards", {}).values():
        for entry in part.get("cells", []):
            previous = best.get(entry["folder"])
            if previous is None or entry["status"] == "ran" or previous["status"] != "ran":
                best[entry["folder"]] = entry
    folders = [str(c.folder(out).relative_to(out)) for c in cells]
    record["cells"] = [best[f] for f in folders if f in best]
    atomic_write_json(path, record)
