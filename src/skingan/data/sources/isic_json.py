"""--source isic-json: a folder of ISIC API JSON records (v1: name/meta.clinical, v2: isic_id/metadata.clinical)
beside their images.
"""

from __future__ import annotations

import json
from pathlib import Path

from skingan.data.sources.base import DataSource, Imported, SourceOptions
from skingan.data.sources.labels import isic_fields_target
from skingan.data.sources.tables import (
    TABLE_COLUMNS,
    index_images,
    licence_from_folder,
    make_table,
)
from skingan.errors import UserError


def _json_records(root: Path) -> tuple[list[tuple[Path, dict]], list[str]]:
    records, notes = [], []
    for path in sorted(root.rglob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            notes.append(f"{path.name}: not valid JSON, ignored")
            continue
        if isinstance(record, dict) and (record.get("isic_id") or record.get("name")):
            records.append((path, record))
    return records, notes


def read(root: Path, options: SourceOptions) -> Imported:
    """A folder of ISIC API JSON records (v1: name/meta.clinical, or v2: isic_id/metadata.clinical) + images."""
    records, notes = _json_records(root)
    if not records:
        raise UserError(f"'{root}' holds no ISIC JSON records (*.json with 'name' or 'isic_id'); "
                        "use --source folder for a CSV of labels")
    images = index_images(root)
    folder_attribution, folder_licence = licence_from_folder(root)
    rows: dict[str, list] = {c: [] for c in TABLE_COLUMNS if c != "source"}
    for _, record in records:
        image_id = str(record.get("isic_id") or record.get("name"))
        meta = record.get("meta") or record.get("metadata") or {}
        clinical = meta.get("clinical", {}) if isinstance(meta, dict) else {}
        dataset = record.get("dataset") if isinstance(record.get("dataset"), dict) else {}
        value, label, diagnosis, bm = isic_fields_target(clinical, options.target)
        rows["image_id"].append(image_id)
        rows["path"].append(str(images.get(image_id, "")))
        rows["target"].append(value)
        rows["label"].append(label)
        rows["diagnosis"].append(diagnosis)
        rows["benign_malignant"].append(bm)
        rows["age"].append(clinical.get("age_approx", ""))
        rows["sex"].append(clinical.get("sex", ""))
        rows["anatomy"].append(clinical.get("anatom_site_general") or clinical.get("anatom_site_1") or "")
        rows["patient_id"].append(clinical.get("patient_id", ""))
        rows["lesion_id"].append(clinical.get("lesion_id", ""))
        rows["attribution"].append(record.get("attribution") or dataset.get("attribution") or folder_attribution)
        rows["license"].append(record.get("copyright_license") or dataset.get("license") or folder_licence)
        rows["split"].append("")
    table = make_table(rows, "isic-json")
    return Imported(table, notes=notes, files=[p for p, _ in records])


SOURCE = DataSource("isic-json", "a folder of ISIC API JSON records (v1 or v2) + images", read)
