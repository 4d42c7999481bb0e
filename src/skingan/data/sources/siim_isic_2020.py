"""--source siim-isic-2020: Kaggle's SIIM-ISIC 2020 — train.csv + jpeg/train/*.jpg (or train/).

Images listed second in ISIC_2020_Training_Duplicates.csv are dropped (the source's own de-duplication).
"""

from __future__ import annotations

from pathlib import Path

from skingan.data.sources.base import DataSource, Imported, SourceOptions
from skingan.data.sources.labels import label_to_target
from skingan.data.sources.tables import (
    AGE_COLUMNS,
    ANATOMY_COLUMNS,
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
    """Kaggle SIIM-ISIC 2020: train.csv + jpeg/train/*.jpg (or train/); drops image_name_2 of listed duplicates."""
    metadata_path = find_file(root, ("train.csv", "ISIC_2020_Training_GroundTruth.csv", "ISIC_2020_Training_GroundTruth_v2.csv"),
                              "train.csv (SIIM-ISIC 2020)")
    frame = read_csv_strings(metadata_path)
    require_columns(frame, metadata_path, ["image_name"])
    if "target" not in frame.columns and "benign_malignant" not in frame.columns:
        raise UserError(f"'{metadata_path}' has neither 'target' nor 'benign_malignant'; cannot label its images")
    imported = Imported(make_table({"image_id": []}, "siim-isic-2020"), files=[metadata_path])
    duplicates_path = next(iter(sorted(root.rglob("ISIC_2020_Training_Duplicates.csv"))), None)
    if duplicates_path is not None:
        duplicates = read_csv_strings(duplicates_path)
        require_columns(duplicates, duplicates_path, ["image_name_1", "image_name_2"])
        second = dict(zip(duplicates["image_name_2"], duplicates["image_name_1"], strict=True))
        drop = frame["image_name"].isin(list(second))
        imported.dropped = [{"image_id": i, "reason": f"listed as duplicate of {second[i]} in {duplicates_path.name}"}
                            for i in frame.loc[drop, "image_name"]]
        imported.notes.append(f"dropped {int(drop.sum())} duplicate(s) listed in {duplicates_path.name}")
        imported.files.append(duplicates_path)
        frame = frame[~drop]
    images = index_images(root)
    melanoma = frame["target"] if "target" in frame.columns else frame["diagnosis"]
    bm = first_column(frame, ("benign_malignant",))
    if options.target == "malignant":
        values = [label_to_target(b or m, "malignant") for b, m in zip(bm, melanoma, strict=True)]
    else:
        values = [label_to_target(m, "melanoma") for m in melanoma]
    rows = {
        "image_id": frame["image_name"], "path": [str(images.get(i, "")) for i in frame["image_name"]],
        "target": values, "label": bm.where(bm != "", melanoma) if options.target == "malignant" else melanoma,
        "diagnosis": first_column(frame, ("diagnosis",)), "benign_malignant": bm,
        "age": first_column(frame, AGE_COLUMNS), "sex": first_column(frame, ("sex",)),
        "anatomy": first_column(frame, ANATOMY_COLUMNS), "patient_id": first_column(frame, ("patient_id",)),
        "attribution": "SIIM-ISIC 2020 (Rotemberg et al. 2021)", "license": "CC-BY-NC",
        "split": split_column(frame, metadata_path, options),
    }
    imported.table = make_table(rows, "siim-isic-2020")
    return imported


SOURCE = DataSource("siim-isic-2020", "Kaggle SIIM-ISIC 2020: train.csv + jpeg/train/*.jpg", read)
