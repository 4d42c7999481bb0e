"""--source isic: a folder written by `skingan download` or isic-cli — metadata.csv + images (in images/ or flat).

Labels come from diagnosis_1..5 (the current ISIC schema) or benign_malignant/diagnosis (the legacy one).
"""

from __future__ import annotations

from pathlib import Path

from skingan.data.sources.base import DataSource, Imported, SourceOptions
from skingan.data.sources.labels import isic_fields_target
from skingan.data.sources.tables import (
    AGE_COLUMNS,
    ANATOMY_COLUMNS,
    LICENSE_COLUMNS,
    find_file,
    first_column,
    index_images,
    make_table,
    read_csv_strings,
    require_columns,
    split_column,
)
from skingan.errors import UserError


def read(root: Path, options: SourceOptions) -> Imported:
    """`skingan download` / isic-cli folder: metadata.csv + images (in images/ or flat)."""
    metadata_path = find_file(root, ("metadata.csv",), "metadata.csv (written by 'skingan download' or isic-cli)")
    frame = read_csv_strings(metadata_path)
    frame.columns = [c.split(".")[-1] for c in frame.columns]  # 'clinical.diagnosis_1' → 'diagnosis_1'
    require_columns(frame, metadata_path, ["isic_id"])
    if "diagnosis_1" not in frame.columns and "benign_malignant" not in frame.columns \
            and "diagnosis" not in frame.columns:
        raise UserError(f"'{metadata_path}' has neither diagnosis_1..5 (current ISIC schema) nor "
                        "benign_malignant/diagnosis (legacy); cannot label its images")
    images = index_images(root)
    records = frame.to_dict("records")
    labels = [isic_fields_target(record, options.target) for record in records]
    rows = {
        "image_id": frame["isic_id"],
        "path": [str(images.get(i, "")) for i in frame["isic_id"]],
        "target": [lab[0] for lab in labels], "label": [lab[1] for lab in labels],
        "diagnosis": [lab[2] for lab in labels], "benign_malignant": [lab[3] for lab in labels],
        "age": first_column(frame, AGE_COLUMNS), "sex": first_column(frame, ("sex",)),
        "anatomy": first_column(frame, ANATOMY_COLUMNS),
        "patient_id": first_column(frame, ("patient_id",)), "lesion_id": first_column(frame, ("lesion_id",)),
        "attribution": first_column(frame, ("attribution",)), "license": first_column(frame, LICENSE_COLUMNS),
        "split": split_column(frame, metadata_path, options),
    }
    return Imported(make_table(rows, "isic"), files=[metadata_path])


SOURCE = DataSource("isic", "a 'skingan download' or isic-cli folder: metadata.csv + images", read)
