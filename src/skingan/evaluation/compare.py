"""`evaluate-gan --compare`: one table across evaluations (compare.md, .csv, .json). Its columns are the
registry's metrics that have a compare key, with the original study's reported table below them."""

from __future__ import annotations

from pathlib import Path

from skingan.evaluation import folder, registry
from skingan.evaluation.registry import lookup
from skingan.evaluation.tables import markdown_table

# The original study's reported table (seed protocol: 15 index-paired images, min-max stretched).
SEED_STUDY_COLUMNS = ("psnr", "ssim", "ms_gmsd", "mdsi", "haarpsi")
SEED_STUDY_TABLE = [
    ("DC-GAN 64", 12.92, 0.35, 0.29, 0.45, 0.39), ("AC-GAN 64", 12.17, 0.32, 0.27, 0.49, 0.31),
    ("AC-GAN 128", 11.81, 0.39, 0.25, 0.47, 0.31), ("W-GAN 64", 12.63, 0.30, 0.27, 0.50, 0.35),
    ("W-GAN 128", 12.27, 0.31, 0.14, 0.44, 0.40), ("SN-GAN 64", 12.21, 0.21, 0.26, 0.49, 0.41),
    ("SN-GAN 128", 12.18, 0.24, 0.15, 0.52, 0.45),
]
INTRO = ("PSNR…HaarPSI: seed protocol (each fake vs a random real image, as the original study — unrelated "
         "lesions, so only for comparison with its table). FD/KID/precision/recall/density/coverage: fakes vs real "
         "images of the class in the named feature space; memorised: fraction of fakes nearer a training image "
         "than the 1st percentile of real val→train distances (≈0.01 if like real).")


def compare_row(metrics: dict, fallback_name: str) -> dict:
    """The protocol's context, then each compared metric (None where an older metrics.json lacks it)."""
    p = metrics["protocol"]
    row = {"model": p.get("model") or fallback_name, "n_fake": p["n_fake"], "n_real": p["n_real"],
           "extractor": p["extractor"], "class": p["class"], "split": p["split"]}
    for metric in registry.compare_metrics():
        row[metric.compare] = metric.value(metrics)
        for path in metric.compare_extra:
            row[path[-1]] = _value_or_none(metrics, path)
    return row


def _value_or_none(metrics: dict, path: registry.KeyPath) -> object:
    try:
        return lookup(metrics, path)
    except KeyError:
        return None


def compare_rows(paths: list[str | Path]) -> list[dict]:
    return [compare_row(folder.load_metrics(path), Path(path).name) for path in paths]


def compare_markdown(rows: list[dict]) -> str:
    columns = registry.compare_metrics()
    header = ["model", "class", "N fake", "N real", "extractor"] + [m.title for m in columns]
    body = [[r["model"], r["class"], r["n_fake"], r["n_real"], r["extractor"]] + [r[m.compare] for m in columns]
            for r in rows]
    text = "# GAN comparison\n\n" + INTRO + "\n\n" + markdown_table(header, body)
    if len({(r["extractor"], r["n_fake"], r["n_real"]) for r in rows}) > 1:
        text += "\n**Warning:** rows differ in extractor or N; FD and KID are only comparable at the same both.\n"
    study_header = ["model"] + [registry.get(f"iqa_seed.{key}").title for key in SEED_STUDY_COLUMNS]
    text += ("\n## Reported by the original study (15 index-paired images, min-max stretched; no distribution "
             "metrics)\n\n" + markdown_table(study_header, [list(r) for r in SEED_STUDY_TABLE]))
    return text


def compare(paths: list[str | Path], out: str | Path) -> str:
    """One table across runs (metrics.json files or folders holding one) → compare.md/.csv/.json; returns the md."""
    import pandas as pd

    rows = compare_rows(paths)
    text = compare_markdown(rows)
    folder.write_compare(Path(out), text, pd.DataFrame(rows).to_csv(index=False), rows)
    return text
