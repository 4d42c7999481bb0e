"""What a folder holds, judged by the files each stage writes (each stage's folder contract), and every
such folder under a root."""

from __future__ import annotations

import json
from pathlib import Path

from skingan.data.prepared import is_prepared_set
from skingan.data.samples import is_sample_folder
from skingan.evaluation import folder as evaluation_folder
from skingan.gan.run_folder import is_gan_run

MAX_DEPTH = 3
QUICKSTART_RECORD = "quickstart.json"  # written by skingan.quickstart
EXPERIMENT_RECORD = "experiment.json"  # written by skingan.classifier.experiment
CLASSIFIER_CONFIG = "config.yaml"  # beside metrics.json in a train-classifier run folder
LEAVES = ("prepared", "gan", "gan-evaluation", "classifier", "samples", "experiment")  # not searched further
STUDY_ORDER = ["prepared", "gan", "samples", "gan-evaluation", "classifier", "experiment"]


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def kind_of(folder: Path) -> str | None:
    """What a folder is: prepared, quickstart, experiment, samples, gan, gan-evaluation, classifier, or None."""
    if is_prepared_set(folder):
        return "prepared"
    if (folder / QUICKSTART_RECORD).is_file():
        return "quickstart"
    if (folder / EXPERIMENT_RECORD).is_file():
        return "experiment"
    if is_sample_folder(folder):
        return "samples"
    if is_gan_run(folder):
        return "gan"
    metrics = read_json(evaluation_folder.metrics_path(folder))  # an evaluation's, or a classifier run's
    if evaluation_folder.is_evaluation_record(metrics):
        return "gan-evaluation"
    if metrics and ("auc" in metrics or "test" in metrics) and (folder / CLASSIFIER_CONFIG).is_file():
        return "classifier"
    return None


def discover(root: Path) -> list[tuple[str, Path]]:
    """Every recognised folder under root (root first), not descending into recognised leaf runs."""
    found: list[tuple[str, Path]] = []

    def visit(folder: Path, depth: int) -> None:
        kind = kind_of(folder)
        if kind:
            found.append((kind, folder))
        if kind in LEAVES or depth >= MAX_DEPTH:
            return
        for child in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            visit(child, depth + 1)

    visit(root, 0)
    return found


def in_study_order(found: list[tuple[str, Path]]) -> list[tuple[str, Path]]:
    """Data first, then GANs, samples, evaluations, classifiers and the experiment (stable within a kind)."""
    return sorted(found, key=lambda item: STUDY_ORDER.index(item[0]) if item[0] in STUDY_ORDER else 99)
