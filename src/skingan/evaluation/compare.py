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
         "images of the class in the named feature space; the **held-out real** rows are real images of the class "
         "never trained on, scored the same way at the same N: the row to compare each generator with (FD is "
         "biased by N: compare rows of one N). C2ST AUC: a from-scratch CNN telling the images from held-out reals "
         "(0.5 = indistinguishable); 'as the classifier sees' does it on the classifier's own inputs. memorised: "
         "fraction of fakes nearer a training image than the 1st percentile of real held-out→train distances "
         "(≈0.01 if like real; – where not measurable).")
ROW_KINDS = ("generator", "fakes at the reference's N", "held-out real")


def _metric_values(record: dict) -> dict:
    row: dict = {}
    for metric in registry.compare_metrics():
        row[metric.compare] = metric.value(record)
        for path in metric.compare_extra:
            row[path[-1]] = _value_or_none(record, path)
    return row


def compare_row(metrics: dict, fallback_name: str) -> dict:
    """The protocol's context, then each compared metric (None where an older metrics.json lacks it)."""
    p = metrics["protocol"]
    row = {"model": p.get("model") or fallback_name, "row": ROW_KINDS[0], "n_fake": p["n_fake"], "n_real": p["n_real"],
           "extractor": p["extractor"], "class": p["class"], "split": p["split"]}
    return {**row, **_metric_values(metrics)}


def reference_rows(metrics: dict, fallback_name: str) -> list[dict]:
    """The fakes at the reference's N (when the reals were fewer) and the held-out real reference itself; none
    for a metrics.json written before the reference existed, or one whose reference was not measurable."""
    reference = metrics.get(registry.REFERENCE)
    if not isinstance(reference, dict) or not reference.get("n") or reference.get("fd") is None:
        return []
    base = compare_row(metrics, fallback_name)
    rows = []
    same_n = reference.get(registry.FAKES_SAME_N)
    if isinstance(same_n, dict):
        rows.append({**base, "model": f"{base['model']} (N={same_n['n']} subsets)", "row": ROW_KINDS[1],
                     "n_fake": same_n["n"], **_metric_values(same_n)})
    splits = "+".join(reference.get("splits") or [])
    values = {key: None for key in _metric_values(metrics)}
    values.update({k: v for k, v in _metric_values(reference).items() if v is not None})
    rows.append({**base, "model": f"held-out real ({splits}, N={reference['n']})", "row": ROW_KINDS[2],
                 "n_fake": reference["n"], **values})
    return rows


def _value_or_none(metrics: dict, path: registry.KeyPath) -> object:
    try:
        return lookup(metrics, path)
    except KeyError:
        return None


def compare_rows(paths: list[str | Path]) -> list[dict]:
    """One row per evaluation, then its N-matched rows; a held-out real row shared by several evaluations
    (same data, class, split, extractor and N give the same numbers) is listed once."""
    rows: list[dict] = []
    seen: set[tuple] = set()
    for path, name in folder.expand_class_folders(paths):
        metrics = folder.load_metrics(path)
        rows.append(compare_row(metrics, name))
        for row in reference_rows(metrics, name):
            key = tuple(sorted((k, str(v)) for k, v in row.items())) if row["row"] == ROW_KINDS[2] else None
            if key is None or key not in seen:
                rows.append(row)
                seen.add(key or ())
    return rows


def compare_markdown(rows: list[dict]) -> str:
    columns = registry.compare_metrics()
    header = ["model", "class", "N fake", "N real", "extractor"] + [m.title for m in columns]
    body = [[f"**{r['model']}**" if r.get("row") == ROW_KINDS[2] else r["model"], r["class"], r["n_fake"],
             r["n_real"], r["extractor"]] + [r[m.compare] for m in columns] for r in rows]
    text = "# GAN comparison\n\n" + INTRO + "\n\n" + markdown_table(header, body)
    generators = [r for r in rows if r.get("row", ROW_KINDS[0]) == ROW_KINDS[0]]
    if len({(r["extractor"], r["n_fake"], r["n_real"]) for r in generators}) > 1:
        text += "\n**Warning:** rows differ in extractor or N; FD and KID are only comparable at the same both.\n"
    study_header = ["model"] + [registry.get(f"iqa_seed.{key}").title for key in SEED_STUDY_COLUMNS]
    text += ("\n## Reported by the original study (15 index-paired images, min-max stretched; no distribution "
             "metrics)\n\n" + markdown_table(study_header, [list(r) for r in SEED_STUDY_TABLE]))
    return text


def compare(paths: list[str | Path], out: str | Path) -> str:
    """One table across runs (metrics.json files, folders holding one, `--class all` folders: a row per class)
    → compare.md/.csv/.json; returns the md."""
    import pandas as pd

    rows = compare_rows(paths)
    text = compare_markdown(rows)
    folder.write_compare(Path(out), text, pd.DataFrame(rows).to_csv(index=False), rows)
    return text
