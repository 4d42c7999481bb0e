"""--source folder: your own images — a CSV of labels (--labels with --image-col/--label-col, ...) or class
sub-folders (benign/, malignant/; also nevus/, melanoma/, 0/, 1/, ...).
"""

from __future__ import annotations

from pathlib import Path

from skingan.data.sources.base import DataSource, Imported, SourceOptions
from skingan.data.sources.labels import label_to_target
from skingan.data.sources.tables import (
    AGE_COLUMNS,
    ANATOMY_COLUMNS,
    LICENSE_COLUMNS,
    first_column,
    index_images,
    make_table,
    read_csv_strings,
)
from skingan.errors import UserError


def _resolve_image(value: str, bases: list[Path], images: dict[str, Path] | None) -> str:
    from skingan.data.images import IMAGE_SUFFIXES  # numpy and PIL: not at `skingan --help` time

    if not value:
        return ""
    for base in bases:
        candidate = base / value
        if candidate.is_file():
            return str(candidate)
    if images is not None:
        hit = images.get(Path(value).stem if Path(value).suffix.lower() in IMAGE_SUFFIXES else value)
        if hit is not None:
            return str(hit)
    return str(bases[0] / value)


def read_labels_csv(root: Path, options: SourceOptions) -> Imported:
    """The images a --labels CSV lists (by path or file stem), labelled by its --label-col."""
    assert options.labels is not None
    labels = Path(options.labels)
    if not labels.is_file():
        raise UserError(f"--labels '{labels}' does not exist (looked also under --input '{root}')")
    frame = read_csv_strings(labels)
    flags = {"--image-col": options.image_col, "--label-col": options.label_col, "--id-col": options.id_col,
             "--patient-col": options.patient_col, "--lesion-col": options.lesion_col,
             "--keep-split": options.keep_split}
    for flag, column in flags.items():
        if column and column not in frame.columns:
            raise UserError(f"{flag} {column!r}: no such column in '{labels}'; its columns: "
                            f"{', '.join(frame.columns[:20])}")
    bases = list(dict.fromkeys([labels.parent, root]))
    lazy_index: dict[str, Path] | None = None
    paths = []
    for value in frame[options.image_col]:
        path = _resolve_image(value, bases, None)
        if not Path(path).is_file():
            lazy_index = index_images(root) if lazy_index is None else lazy_index
            path = _resolve_image(value, bases, lazy_index)
        paths.append(path)
    ids = frame[options.id_col] if options.id_col else [Path(v).stem for v in frame[options.image_col]]
    label = frame[options.label_col]
    diagnosis = first_column(frame, ("diagnosis", "dx"))
    rows = {
        "image_id": ids, "path": paths, "label": label,
        "target": [label_to_target(v, options.target) for v in label],
        "diagnosis": diagnosis, "benign_malignant": first_column(frame, ("benign_malignant",)),
        "age": first_column(frame, AGE_COLUMNS), "sex": first_column(frame, ("sex",)),
        "anatomy": first_column(frame, ANATOMY_COLUMNS),
        "patient_id": frame[options.patient_col] if options.patient_col else first_column(frame, ("patient_id",)),
        "lesion_id": frame[options.lesion_col] if options.lesion_col else first_column(frame, ("lesion_id",)),
        "attribution": first_column(frame, ("attribution",)), "license": first_column(frame, LICENSE_COLUMNS),
        "split": frame[options.keep_split] if options.keep_split else "",
    }
    table = make_table(rows, "folder")
    if options.target == "melanoma" and "diagnosis" in frame.columns:
        # a diagnosis column is more specific than a binary label under --target melanoma
        from_diagnosis = [label_to_target(d, "melanoma") if d else None for d in table["diagnosis"]]
        table["target"] = [d if d is not None else t for d, t in zip(from_diagnosis, table["target"], strict=True)]
        table["target"] = table["target"].astype("Int64")
    missing = table["benign_malignant"] == ""
    table.loc[missing & (table["target"] == 1), "benign_malignant"] = "malignant"
    table.loc[missing & (table["target"] == 0), "benign_malignant"] = "benign"
    return Imported(table, files=[labels])


def read_class_folders(root: Path, options: SourceOptions) -> Imported:
    """Class sub-folders: benign/, malignant/ (also nevus/, melanoma/, 0/, 1/, ...)."""
    subfolders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    labelled = {p: label_to_target(p.name, options.target) for p in subfolders}
    usable = {p: t for p, t in labelled.items() if t is not None}
    if not usable:
        names = ", ".join(p.name for p in subfolders) or "none"
        raise UserError(f"--input '{root}': no --labels CSV given and no class sub-folders "
                        f"(benign/, malignant/) found (sub-folders: {names})")
    ignored = [p.name for p in subfolders if p not in usable]
    rows: dict[str, list] = {"image_id": [], "path": [], "target": [], "label": []}
    for folder, value in usable.items():
        for stem, path in sorted(index_images(folder).items()):
            rows["image_id"].append(stem)
            rows["path"].append(str(path))
            rows["target"].append(value)
            rows["label"].append(folder.name)
    table = make_table(rows, "folder")
    table["benign_malignant"] = table["target"].map({1: "malignant", 0: "benign"}).fillna("")
    notes = [f"sub-folder(s) {', '.join(ignored)} ignored: not a known class name"] if ignored else []
    return Imported(table, notes=notes)


def read(root: Path, options: SourceOptions) -> Imported:
    """A CSV of labels (--labels with --image-col/--label-col) or class sub-folders."""
    if options.labels is not None:
        return read_labels_csv(root, options)
    return read_class_folders(root, options)


SOURCE = DataSource("folder", "your images: a --labels CSV, or class sub-folders benign/ and malignant/", read)
