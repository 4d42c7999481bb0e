"""One report section per kind of folder (data, GAN run, samples, GAN evaluation, classifier run,
experiment), plus how to reproduce the whole; each reads only the files its stage's contract names."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from skingan.data.prepared import CLASS_NAMES, open_prepared
from skingan.data.samples import MANIFEST
from skingan.errors import UserError
from skingan.evaluation import folder as evaluation_folder
from skingan.evaluation import registry
from skingan.gan import run_folder
from skingan.report.discover import QUICKSTART_RECORD, discover, in_study_order, read_json
from skingan.report.document import Section

ENVIRONMENT = "environment.json"  # skingan.runs.init_run_dir: versions, seed and the command line


# ---------------------------------------------------------------- small readers


def _read_csv_rows(path: Path, limit: int = 60) -> tuple[list[str], list[list[str]]]:
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        rows = list(reader)
    if not rows:
        return [], []
    return rows[0], [[_fmt(c) for c in row] for row in rows[1 : limit + 1]]


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        if value.strip().lstrip("-").isdigit():
            return value
        return f"{number:.4g}"
    return str(value)


def _png_of_grid(images: np.ndarray, columns: int = 8) -> bytes:
    from PIL import Image

    n, h, w, _ = images.shape
    rows = (n + columns - 1) // columns
    canvas = np.full((rows * (h + 2), columns * (w + 2), 3), 255, dtype=np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * (h + 2) : r * (h + 2) + h, c * (w + 2) : c * (w + 2) + w] = image
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="PNG")
    return buffer.getvalue()


def _spread(items: list, k: int) -> list:
    if len(items) <= k:
        return items
    positions = np.linspace(0, len(items) - 1, k).round().astype(int)
    return [items[i] for i in sorted(set(positions))]


def _reproduce(section: Section, folder: Path) -> None:
    env = read_json(folder / ENVIRONMENT)
    if env and env.get("command_line"):
        section.text("Command that made it:")
        section.code(" ".join(str(a) for a in env["command_line"]))


# ---------------------------------------------------------------- one section per kind of folder


def prepared_section(folder: Path, *, phantom_note: bool = True) -> Section:
    prepared = open_prepared(folder)
    section = Section(f"Data: {folder.name}")
    info = prepared.info
    sources = sorted(set(prepared.metadata.get("source", []).astype(str))) if "source" in prepared.metadata else []
    if phantom_note and "phantom" in sources:
        section.text("These images are procedural PHANTOMS (synthetic dermoscopy-like pictures made offline), "
                     "not patient data: numbers here show that the pipeline works, not clinical performance.")
    section.text(f"Source: {', '.join(sources) or 'unknown'} · {len(prepared)} images · cached sizes "
                 f"{', '.join(str(s) for s in prepared.sizes)} px · resize {info.get('resize') or info.get('parameters', {}).get('resize', '?')} · "
                 f"seed {info.get('seed', '?')} · content hash {prepared.hash[:12]}")
    counts = prepared.counts()
    rows = [[split, str(c["benign"]), str(c["malignant"]), str(c["benign"] + c["malignant"])]
            for split, c in counts.items()]
    section.table(["split", "benign", "malignant", "total"], rows)
    skipped = info.get("skipped") or []
    if skipped:
        section.text(f"{len(skipped)} input file(s) were skipped while preparing (listed in prepare.json).")
    size = min(prepared.sizes, key=lambda s: abs(s - 64)) if prepared.sizes else None
    if size:
        images = prepared.images(size)
        for target, name in enumerate(CLASS_NAMES):
            index = prepared.indices("train", [target])[:16]
            if len(index):
                section.figure_bytes(_png_of_grid(np.asarray(images[np.sort(index)])),
                                     f"Real training examples: {name} ({size} px)")
    metadata = prepared.metadata
    if "license" in metadata:
        licences = metadata["license"].fillna("").replace("", "unknown").value_counts()
        section.table(["licence", "images"], [[str(k), str(v)] for k, v in licences.items()])
    if "attribution" in metadata:
        attributions = metadata["attribution"].fillna("").replace("", "unknown").value_counts().head(8)
        section.table(["attribution (top 8)", "images"], [[str(k), str(v)] for k, v in attributions.items()])
    return section


def gan_section(folder: Path) -> Section:
    section = Section(f"GAN run: {folder.name}")
    config_path = folder / run_folder.CONFIG
    config = config_path.read_text(encoding="utf-8") if config_path.is_file() else ""
    section.figure(folder / run_folder.LOSS_CURVES, "Losses and discriminator outputs over training")
    grids = sorted((folder / run_folder.SAMPLES).glob("*.png"))
    for path in _spread(grids, 3):
        section.figure(path, f"Samples from fixed noise: {path.stem}")
    metrics_csv = folder / run_folder.METRICS_CSV
    if metrics_csv.is_file():
        header, rows = _read_csv_rows(metrics_csv, limit=100000)
        if rows:
            section.text(f"Trained {rows[-1][0]} steps (last logged row below).")
            section.table(header, [rows[-1]])
    if config:
        section.text("Resolved config:")
        section.code(config)
    _reproduce(section, folder)
    return section


def evaluation_section(folder: Path) -> Section:
    metrics = read_json(evaluation_folder.metrics_path(folder)) or {}
    section = Section(f"GAN evaluation: {folder.name}")
    seen = metrics.get("c2st_as_classifier_sees")
    if isinstance(seen, dict) and seen.get("shortcut") is True:  # older files have no such record
        section.text(f"WARNING: {seen.get('verdict')}.")
    table_md = folder / evaluation_folder.TABLES
    if table_md.is_file():
        section.markdown(table_md.read_text(encoding="utf-8"))
    else:
        rows = [[k, registry.ARROWS[registry.direction((k,))], _fmt(v)] for k, v in metrics.items()
                if isinstance(v, (int, float))]
        section.table(["metric", "better", "value"], rows)
    protocol = metrics.get("protocol")
    if isinstance(protocol, dict):
        section.table(["protocol", "value"], [[str(k), str(v)] for k, v in protocol.items()])
    for path in sorted(folder.glob("*.png")):
        section.figure(path, path.stem.replace("_", " "))
    _reproduce(section, folder)
    return section


def classifier_section(folder: Path) -> Section:
    metrics = read_json(folder / "metrics.json") or {}  # the classifier's own metrics.json
    section = Section(f"Classifier run: {folder.name}")
    test = metrics.get("test", metrics)
    keys = ["auc", "auc_ci_low", "auc_ci_high", "pr_auc", "balanced_accuracy", "sensitivity", "specificity",
            "f1", "threshold", "n", "n_pos"]
    rows = [[k, _fmt(test[k])] for k in keys if k in test]
    if rows:
        section.table(["test metric", "value"], rows)
    for name in ("curves.png", "roc.png", "pr.png", "confusion.png"):
        section.figure(folder / name, name[:-4].replace("_", " "))
    _reproduce(section, folder)
    return section


def experiment_section(folder: Path) -> Section:
    section = Section(f"Augmentation experiment: {folder.name}")
    conclusion = folder / "conclusion.md"
    if conclusion.is_file():
        section.markdown(conclusion.read_text(encoding="utf-8"))
    summary_md = folder / "summary.md"
    if summary_md.is_file():
        section.markdown(summary_md.read_text(encoding="utf-8"))
    for name, title in (("summary.csv", "Mean and 95 % CI across seeds"),
                        ("paired.csv", "Paired difference vs real-aug (across seeds)")):
        if name == "summary.csv" and summary_md.is_file():
            continue
        if (folder / name).is_file():
            header, rows = _read_csv_rows(folder / name, limit=200)
            section.text(title + ":")
            section.table(header, rows)
    section.figure(folder / "experiment.png", "Test metrics per condition (mean and 95 % CI)")
    rocs = sorted(folder.glob("cells/*/seed*/roc.png"))
    for path in rocs[:: max(1, len(rocs) // 4)][:4]:
        section.figure(path, f"ROC curve: {path.parent.parent.name}, {path.parent.name}")
    _reproduce(section, folder)
    return section


def samples_section(folder: Path) -> Section:
    import csv

    from PIL import Image

    section = Section(f"Synthetic samples: {folder.name}")
    with open(folder / MANIFEST, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    by_class: dict[str, list[str]] = {}
    for row in rows:
        by_class.setdefault(row.get("class", "?"), []).append(row["file"])
    section.text(f"{len(rows)} images: " + ", ".join(f"{k} {len(v)}" for k, v in sorted(by_class.items())))
    for name, files in sorted(by_class.items()):
        images = [np.asarray(Image.open(folder / f).convert("RGB")) for f in files[:16]]
        if images and len({im.shape for im in images}) == 1:
            section.figure_bytes(_png_of_grid(np.stack(images)), f"Synthetic {name} images (first 16)")
    return section


def reproduce_section(root: Path) -> Section:
    section = Section("How to reproduce")
    state = read_json(root / QUICKSTART_RECORD)
    commands = (state or {}).get("commands") or []
    if commands:
        section.text("The commands this run executed, in order:")
        section.code("\n".join(commands))
    else:
        _reproduce(section, root)
    if not section.blocks:
        section.text("Each run folder holds its resolved config.yaml and environment.json (versions, seed, "
                     "command line).")
    return section


# ---------------------------------------------------------------- all of them, in study order


BUILDERS = {
    "prepared": prepared_section,
    "gan": gan_section,
    "samples": samples_section,
    "gan-evaluation": evaluation_section,
    "classifier": classifier_section,
    "experiment": experiment_section,
}


def build_sections(root: Path) -> list[Section]:
    found = in_study_order(discover(root))
    if not found:
        raise UserError(
            f"'{root}' holds no skingan run (no prepare.json, GAN checkpoints, metrics.json or experiment.json); "
            "give a run folder made by skingan"
        )
    sections = []
    for kind, folder in found:
        builder = BUILDERS.get(kind)
        if builder is not None:
            sections.append(builder(folder))
    sections.append(reproduce_section(root))
    return sections
