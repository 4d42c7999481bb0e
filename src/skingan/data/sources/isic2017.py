"""--source isic2017: the ISIC 2017 challenge files — ISIC-2017_<Split>_Part3_GroundTruth.csv + images."""

from __future__ import annotations

from pathlib import Path

from skingan.data.sources.base import DataSource, Imported, SourceOptions
from skingan.data.sources.labels import label_to_target
from skingan.data.sources.tables import (
    AGE_COLUMNS,
    first_column,
    index_images,
    make_table,
    read_csv_strings,
    require_columns,
)
from skingan.errors import UserError

ISIC2017_SPLITS = {"training": "train", "validation": "val", "test": "test"}


def read(root: Path, options: SourceOptions) -> Imported:
    """ISIC 2017 challenge files: ISIC-2017_<Split>_Part3_GroundTruth.csv (or _Classes.csv) + images.

    The split named in each file (Training/Validation/Test) fills the `split` column (keep it with
    --keep-split official); *_Data_metadata.csv adds age and sex when present.
    """
    label_files = sorted({*root.rglob("ISIC-2017_*_Part3_GroundTruth*.csv"), *root.rglob("ISIC-2017_*_Classes.csv")})
    if not label_files:
        raise UserError(f"'{root}' has no ISIC-2017_*_Part3_GroundTruth.csv (or *_Classes.csv) label file")
    images = index_images(root)
    frames = []
    for path in label_files:
        frame = read_csv_strings(path)
        require_columns(frame, path, ["image_id", "melanoma"])
        split_word = path.name.split("_")[1].lower()
        frame["split"] = ISIC2017_SPLITS.get(split_word, "")
        extra = sorted(path.parent.glob(f"ISIC-2017_{path.name.split('_')[1]}_Data_metadata.csv"))
        if extra:
            frame = frame.merge(read_csv_strings(extra[0]), on="image_id", how="left").fillna("")
        frames.append(frame)
    import pandas as pd

    frame = pd.concat(frames, ignore_index=True)
    melanoma = [label_to_target(v, "melanoma") for v in frame["melanoma"]]
    keratosis = first_column(frame, ("seborrheic_keratosis",)).map(lambda v: label_to_target(v) == 1)
    has_keratosis = "seborrheic_keratosis" in frame.columns
    diagnosis = ["melanoma" if m == 1 else ("seborrheic keratosis" if k else "nevus") if has_keratosis
                 else "nevus_or_seborrheic_keratosis" for m, k in zip(melanoma, keratosis, strict=True)]
    rows = {
        "image_id": frame["image_id"], "path": [str(images.get(i, "")) for i in frame["image_id"]],
        "target": melanoma, "label": frame["melanoma"], "diagnosis": diagnosis,
        "benign_malignant": ["malignant" if m == 1 else "benign" if m == 0 else "" for m in melanoma],
        "age": first_column(frame, AGE_COLUMNS), "sex": first_column(frame, ("sex",)),
        "attribution": "ISIC 2017 challenge (Codella et al. 2018)", "license": "CC-0", "split": frame["split"],
    }
    return Imported(make_table(rows, "isic2017"), files=label_files)


SOURCE = DataSource("isic2017", "ISIC 2017 challenge: ISIC-2017_*_Part3_GroundTruth.csv + images", read)
