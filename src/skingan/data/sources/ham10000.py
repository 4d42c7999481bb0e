"""--source ham10000: HAM10000_metadata.csv + images in any sub-folders (HAM10000_images_part_1/, _part_2/).

malignant: mel, bcc, akiec → 1; nv, bkl, df, vasc → 0. melanoma: mel → 1. Images of one lesion share lesion_id,
so splits keep them together.
"""

from __future__ import annotations

from pathlib import Path

from skingan.data.sources.base import DataSource, Imported, SourceOptions
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

HAM_DIAGNOSES = {"nv": "nevus", "mel": "melanoma", "bkl": "benign keratosis", "bcc": "basal cell carcinoma",
                 "akiec": "actinic keratosis / intraepithelial carcinoma", "vasc": "vascular lesion",
                 "df": "dermatofibroma"}
HAM_MALIGNANT = {"mel", "bcc", "akiec"}


def read(root: Path, options: SourceOptions) -> Imported:
    """HAM10000_metadata.csv + images in any sub-folders (HAM10000_images_part_1/, _part_2/)."""
    metadata_path = find_file(root, ("HAM10000_metadata.csv", "HAM10000_metadata"), "HAM10000_metadata.csv")
    frame = read_csv_strings(metadata_path)
    require_columns(frame, metadata_path, ["image_id", "dx"])
    images = index_images(root)
    dx = frame["dx"].str.strip().str.lower()
    unknown = ~dx.isin(list(HAM_DIAGNOSES))
    positive = {"malignant": HAM_MALIGNANT, "melanoma": {"mel"}}[options.target]
    target = dx.isin(list(positive)).astype("Int64").mask(unknown)
    rows = {
        "image_id": frame["image_id"], "path": [str(images.get(i, "")) for i in frame["image_id"]],
        "target": target, "label": frame["dx"], "diagnosis": dx.map(HAM_DIAGNOSES).fillna(dx),
        "benign_malignant": dx.map(lambda d: "" if d not in HAM_DIAGNOSES else
                                   "malignant" if d in HAM_MALIGNANT else "benign"),
        "age": first_column(frame, AGE_COLUMNS), "sex": first_column(frame, ("sex",)),
        "anatomy": first_column(frame, ANATOMY_COLUMNS), "lesion_id": first_column(frame, ("lesion_id",)),
        "attribution": "HAM10000 (Tschandl, Rosendahl & Kittler 2018)", "license": "CC-BY-NC",
        "split": split_column(frame, metadata_path, options),
    }
    return Imported(make_table(rows, "ham10000"), files=[metadata_path])


SOURCE = DataSource("ham10000", "HAM10000_metadata.csv + images in any sub-folders", read)
