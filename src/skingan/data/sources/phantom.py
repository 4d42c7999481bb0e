"""--source phantom: N procedural dermoscopy phantoms (skingan.data.phantom), made in memory; no --input."""

from __future__ import annotations

from pathlib import Path

from skingan.data.sources.base import DataSource, Imported, SourceOptions
from skingan.data.sources.labels import label_to_target
from skingan.data.sources.tables import make_table
from skingan.errors import UserError

PHANTOM_SIZE = 256  # pixels; prepare resizes to the cache sizes


def read(root: Path | None, options: SourceOptions) -> Imported:
    """N procedural dermoscopy phantoms, generated in memory (deterministic for a seed)."""
    try:
        from skingan.data.phantom import phantom_records
    except ImportError as error:
        raise UserError("--source phantom is not available in this installation (skingan.data.phantom "
                        "is missing)") from error
    rows: dict[str, list] = {"image_id": [], "path": [], "target": [], "label": [], "diagnosis": []}
    images = {}
    for image_id, value, diagnosis, image in phantom_records(options.n, options.seed, size=PHANTOM_SIZE):
        mapped = label_to_target(diagnosis, options.target) if options.target == "melanoma" else int(value)
        rows["image_id"].append(str(image_id))
        rows["path"].append("")
        rows["target"].append(int(value) if mapped is None else mapped)
        rows["label"].append(diagnosis)
        rows["diagnosis"].append(diagnosis)
        images[str(image_id)] = image
    table = make_table(rows, "phantom")
    table["benign_malignant"] = table["target"].map({1: "malignant", 0: "benign"}).fillna("")
    table["license"] = "CC-0"
    table["attribution"] = "skingan procedural phantom"
    return Imported(table, images=images)


def check(options: SourceOptions) -> None:
    if options.n < 2:
        raise ValueError(f"--n {options.n}: phantom sets need at least 2 images")


SOURCE = DataSource("phantom", "N procedural dermoscopy phantoms (--n), made in memory; no --input", read,
                    needs_input=False, check=check)
