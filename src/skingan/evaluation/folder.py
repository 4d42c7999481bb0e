"""The evaluation folder: the on-disk contract between `skingan evaluate-gan` and its readers (`--compare`,
`skingan report`, the quickstart).

    EVAL/
      environment.json      the run record (skingan.runs.init_run_dir); the resolved options under
                            "evaluate_settings"; log.txt beside it
      metrics.md            the tables (tables.py)
      samples_vs_real.png   64 fakes beside 64 reals
      closest_pairs.png     the fakes nearest a training image, each above that image
      metric_bars.png       the metrics as bars
      metrics.json          every number (one registry.py definition each) and the protocol; written LAST,
                            so a folder that has it is a whole evaluation

    COMPARE/                (`evaluate-gan --compare`) compare.md, compare.csv, compare.json

Every file is written through a temporary and renamed into place. Real-set features are cached outside the
folder (`--feature-cache`, default `feature_cache_dir()`): per entry `<key hash>.json` (key and checksum) and
then `<key hash>.npy` (the array), both written by `features.write_cache`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from skingan.data.samples import MANIFEST
from skingan.errors import UserError
from skingan.evaluation.features import default_cache_dir
from skingan.gan.run_folder import CHECKPOINTS
from skingan.runs import atomic_path, atomic_write_json, atomic_write_text

METRICS = "metrics.json"
TABLES = "metrics.md"
SAMPLES_VS_REAL, CLOSEST_PAIRS, METRIC_BARS = "samples_vs_real.png", "closest_pairs.png", "metric_bars.png"
FIGURES = (SAMPLES_VS_REAL, CLOSEST_PAIRS, METRIC_BARS)  # in the order they are written
RECORD_KEY = "evaluate_settings"  # environment.json key of the resolved options
NESTED = "evaluation"  # where a quickstart keeps its evaluation: QS/evaluation/metrics.json
MARKER_KEY = "fd"  # a metrics.json holding it is an evaluate-gan one (a classifier's holds "auc")
REQUIRED_KEYS = (MARKER_KEY, "protocol")
COMPARE_MD, COMPARE_CSV, COMPARE_JSON = "compare.md", "compare.csv", "compare.json"


def metrics_path(folder: str | Path) -> Path:
    return Path(folder) / METRICS


def is_evaluation_record(record: object) -> bool:
    """Whether a parsed metrics.json is an evaluate-gan one (the report's test: it has the marker key)."""
    return isinstance(record, dict) and MARKER_KEY in record


def feature_cache_dir(explicit: str | Path | None, enabled: bool = True) -> Path | None:
    """Where real-set features are cached: --feature-cache, else the default; None with --no-feature-cache."""
    if not enabled:
        return None
    return Path(explicit) if explicit is not None else default_cache_dir()


# ---------------------------------------------------------------- writing

def check_out(out: Path) -> None:
    """Refuse an --out that holds a training run, a samples folder or a finished evaluation."""
    if (out / CHECKPOINTS).is_dir() or (out / MANIFEST).is_file():
        raise UserError(f"--out '{out}' is a training run or samples folder; choose a new folder, "
                        f"e.g. {out / NESTED}")
    if metrics_path(out).is_file():  # written last, so only a finished evaluation has it
        raise UserError(f"--out '{out}' already holds a run (a finished evaluation, {METRICS}); "
                        "choose another --out, or delete that folder to evaluate again")


def write_evaluation(out: Path, metrics: dict, tables: str,
                     figures: Mapping[str, Callable[[Path], None]]) -> None:
    """metrics.md, then each figure (`figures[name](path)` draws one PNG), then metrics.json last."""
    if set(figures) != set(FIGURES):
        raise ValueError(f"figures {sorted(figures)} are not the contract's {list(FIGURES)}")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / TABLES, tables)
    for name in FIGURES:
        with atomic_path(out / name) as temporary:
            figures[name](temporary)
    atomic_write_json(metrics_path(out), metrics)  # last: its presence means the evaluation is complete


def write_compare(out: Path, markdown: str, csv_text: str, rows: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / COMPARE_MD, markdown)
    atomic_write_text(out / COMPARE_CSV, csv_text)
    atomic_write_json(out / COMPARE_JSON, rows)


# ---------------------------------------------------------------- reading

def _own_metrics(path: Path) -> Path | None:
    """A metrics.json file, or the one in a folder (or in its evaluation/ subfolder, as a quickstart has)."""
    candidates = [path] if path.is_file() else [metrics_path(path), metrics_path(path / NESTED)]
    return next((candidate for candidate in candidates if candidate.is_file()), None)


def find_metrics(path: str | Path) -> Path:
    """`_own_metrics`, or a one-line error saying how to make one."""
    path = Path(path)
    found = _own_metrics(path)
    if found is not None:
        return found
    raise UserError(f"--compare '{path}': no {METRICS} there; run 'skingan evaluate-gan ... --out {path}' first")


def expand_class_folders(paths: list[str | Path]) -> list[tuple[Path, str]]:
    """(path, row name) per evaluation: an `evaluate-gan --class all` folder (no metrics.json of its own, one
    per class sub-folder) becomes one entry per class, named FOLDER/CLASS; anything else stays as it is."""
    expanded: list[tuple[Path, str]] = []
    for path in map(Path, paths):
        classes = sorted(sub for sub in path.iterdir() if metrics_path(sub).is_file()) if path.is_dir() else []
        if _own_metrics(path) is not None or not classes:
            expanded.append((path, path.name))
        else:
            expanded += [(sub, f"{path.name}/{sub.name}") for sub in classes]
    return expanded


def load_metrics(path: str | Path) -> dict:
    """A validated evaluate-gan metrics.json, from the file or a folder holding one."""
    candidate = find_metrics(path)
    try:
        metrics = json.loads(candidate.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise UserError(f"'{candidate}' is not valid JSON: {error}") from error
    if not isinstance(metrics, dict) or any(key not in metrics for key in REQUIRED_KEYS):
        raise UserError(f"'{candidate}' is not an evaluate-gan {METRICS} (no fd/protocol)")
    return metrics
