"""Turn the folders users already have into one table, whatever the source.

Every importer returns an `Imported`: a pandas table with TABLE_COLUMNS (one row per listed image,
`target` 1/0 or <NA> when the label is unknown, `label` the raw text the target came from) plus,
for phantoms, the images themselves. `skingan prepare` does the rest (decoding, de-duplication, splits).

Label mapping (`--target malignant`, the original study, or `--target melanoma`):
  isic (current schema)  diagnosis_1 Malignant → 1, Benign → 0, Indeterminate → unknown;
                         melanoma: 'melanoma' in diagnosis_2..5 → 1, other Benign/Malignant → 0
  isic (legacy), json    benign_malignant malignant → 1, benign → 0 (indeterminate* → unknown);
                         melanoma: diagnosis 'melanoma' → 1, any other known diagnosis → 0
  ham10000               malignant: mel, bcc, akiec → 1; nv, bkl, df, vasc → 0; melanoma: mel → 1
  siim-isic-2020         malignant: benign_malignant; melanoma: the `target` column (it is melanoma)
  isic2017               the `melanoma` column in both modes (melanoma is its only malignant class)
  folder, phantom        the label column / sub-folder name through `label_to_target` (below)
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skingan.data.images import IMAGE_SUFFIXES
from skingan.errors import UserError

if TYPE_CHECKING:
    import pandas as pd
    from PIL import Image

log = logging.getLogger("skingan")

SOURCES = ("isic", "ham10000", "siim-isic-2020", "isic2017", "folder", "isic-json", "phantom")
TARGETS = ("malignant", "melanoma")
TABLE_COLUMNS = (
    "image_id", "path", "target", "label", "diagnosis", "benign_malignant", "age", "sex", "anatomy",
    "patient_id", "lesion_id", "attribution", "license", "source", "split",
)

UNKNOWN_WORDS = {"", "unknown", "other", "indeterminate", "nan", "none", "null", "na", "n/a", "?", "-"}
POSITIVE_WORDS = {"1", "true", "yes", "y", "positive", "pos"}
NEGATIVE_WORDS = {"0", "false", "no", "n", "negative", "neg"}
OTHER_MALIGNANT_WORDS = {"bcc", "scc", "akiec", "basal cell carcinoma", "squamous cell carcinoma",
                         "actinic keratosis / intraepithelial carcinoma", "malignant adnexal", "kaposi sarcoma"}
BENIGN_WORDS = {"benign", "nv", "nevus", "naevus", "bkl", "df", "vasc", "seborrheic keratosis",
                "benign keratosis", "dermatofibroma", "vascular lesion", "lentigo", "solar lentigo",
                "lentigo nos", "lentigo simplex", "lichenoid keratosis", "angioma", "angiokeratoma",
                "actinic keratosis", "cafe-au-lait macule", "atypical melanocytic proliferation",
                "pigmented benign keratosis", "verruca", "scar", "clear cell acanthoma", "neurofibroma"}
HAM_DIAGNOSES = {"nv": "nevus", "mel": "melanoma", "bkl": "benign keratosis", "bcc": "basal cell carcinoma",
                 "akiec": "actinic keratosis / intraepithelial carcinoma", "vasc": "vascular lesion",
                 "df": "dermatofibroma"}
HAM_MALIGNANT = {"mel", "bcc", "akiec"}
ANATOMY_COLUMNS = ("anatomy", "anatom_site_general", "anatom_site_general_challenge", "anatom_site_1",
                   "localization", "anatom_site")
AGE_COLUMNS = ("age", "age_approx", "age_approximate")
LICENSE_COLUMNS = ("license", "copyright_license", "licence")


@dataclass
class ImportOptions:
    """What the importers need from the command line (paths are already resolved)."""

    target: str = "malignant"
    labels: Path | None = None
    image_col: str = "image"
    label_col: str = "target"
    id_col: str | None = None
    patient_col: str | None = None
    lesion_col: str | None = None
    split_col: str | None = None
    n: int = 200
    seed: int = 0
    phantom_size: int = 256


@dataclass
class Imported:
    table: pd.DataFrame
    images: dict[str, Image.Image] = field(default_factory=dict)  # in-memory images (phantoms), by id
    notes: list[str] = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)  # rows removed by the source's own rules
    files: list[Path] = field(default_factory=list)  # the label/metadata files read


# ---------------------------------------------------------------- labels


def _norm(value: Any) -> str:
    text = "" if value is None else " ".join(str(value).replace("_", " ").strip().lower().split())
    if re.fullmatch(r"[+-]?\d+(\.0*)?", text):  # "1.0", "+1" → "1"
        text = text.split(".")[0].lstrip("+")
    return text


def label_to_target(value: Any, target: str = "malignant") -> int | None:
    """A label string → 1, 0 or None (unknown). 'Malignant', '1.0', 'yes', 'mel', 'nevus', 'bcc', ... all work.

    'malignant' (without a diagnosis) is unknown under --target melanoma; carcinomas are 0 there.
    """
    text = _norm(value)
    if text in UNKNOWN_WORDS:
        return None
    if text in POSITIVE_WORDS:
        return 1
    if text in NEGATIVE_WORDS:
        return 0
    if "melanoma" in text or text == "mel":
        return 1
    if text == "malignant":
        return 1 if target == "malignant" else None
    if text in OTHER_MALIGNANT_WORDS or "carcinoma" in text:
        return 1 if target == "malignant" else 0
    if text in BENIGN_WORDS or any(w in text for w in ("nevus", "naevus", "keratosis")) or text.startswith("benign"):
        return 0
    return None


def isic_fields_target(fields: dict[str, Any], target: str) -> tuple[int | None, str, str, str]:
    """ISIC metadata (current diagnosis_1..5 or legacy benign_malignant/diagnosis) → (target, label, diagnosis, b/m)."""
    get = {k: ("" if v is None else str(v).strip()) for k, v in fields.items()}
    first = get.get("diagnosis_1", "")
    if first:
        deeper = [get.get(f"diagnosis_{i}", "") for i in range(2, 6)]
        diagnosis = next((d for d in reversed(deeper) if d), first)
        label = " > ".join([first, *[d for d in deeper if d]])
        level = first.lower()
        if target == "malignant":
            value = {"malignant": 1, "benign": 0}.get(level)
        elif any("melanoma" in d.lower() for d in deeper):
            value = 1
        else:
            value = 0 if level in ("benign", "malignant") else None
        return value, label, diagnosis, level
    benign_malignant = get.get("benign_malignant", "")
    diagnosis = get.get("diagnosis", "")
    bm = benign_malignant.lower()
    label = f"{benign_malignant}/{diagnosis}".strip("/")
    if target == "malignant":
        if bm in ("malignant", "benign"):
            value = int(bm == "malignant")
        else:
            value = None if bm else label_to_target(diagnosis, "malignant")
    else:
        value = label_to_target(diagnosis, "melanoma") if diagnosis else (0 if bm == "benign" else None)
    return value, label, diagnosis, bm


# ---------------------------------------------------------------- files


def index_images(root: Path) -> dict[str, Path]:
    """Every image file under root by file stem (first in sorted order wins)."""
    found: dict[str, Path] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            stem, suffix = os.path.splitext(name)
            if suffix.lower() in IMAGE_SUFFIXES and not name.startswith("."):
                found.setdefault(stem, Path(folder) / name)
    return found


def csv_separator(path: Path) -> str:
    """',' unless the header has none and has ';' or tabs instead (spreadsheet exports in many locales)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        header = handle.readline()
    if "," not in header:
        for separator in (";", "\t"):
            if separator in header:
                return separator
    return ","


def read_csv_strings(path: Path) -> pd.DataFrame:
    """Every cell as text; a UTF-8 BOM is dropped, and ';' or tab separators are accepted."""
    import pandas as pd

    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[], encoding="utf-8-sig",
                           sep=csv_separator(path)).fillna("")
    except UnicodeDecodeError as error:
        raise UserError(f"'{path}' is not UTF-8 text ({error.reason} at byte {error.start}); "
                        "save it as CSV UTF-8") from error
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise UserError(f"'{path}' is not a readable CSV file ({str(error).splitlines()[0]})") from error


def find_file(root: Path, names: tuple[str, ...], what: str) -> Path:
    for name in names:
        direct = root / name
        if direct.is_file():
            return direct
    for name in names:
        hits = sorted(root.rglob(name))
        if hits:
            return hits[0]
    raise UserError(f"'{root}' has no {what} ({' or '.join(names)}); is --input the right folder?")


def first_column(frame: pd.DataFrame, names: tuple[str, ...]) -> pd.Series:
    for name in names:
        if name in frame.columns:
            return frame[name]
    return frame.iloc[:, 0].map(lambda _: "") if len(frame.columns) else frame.index.to_series().map(lambda _: "")


def require_columns(frame: pd.DataFrame, path: Path, columns: list[str], flag: str = "") -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        have = ", ".join(frame.columns[:20])
        raise UserError(f"'{path}' has no column {', '.join(repr(c) for c in missing)}{flag}; its columns: {have}")


def split_column(frame: pd.DataFrame, path: Path, options: ImportOptions) -> Any:
    """The --keep-split column of a source's own table ('' when not asked for)."""
    if not options.split_col:
        return ""
    require_columns(frame, path, [options.split_col], flag=" (--keep-split)")
    return frame[options.split_col]


def make_table(rows: dict[str, Any], source: str) -> pd.DataFrame:
    import pandas as pd

    # Series are taken by position: a filtered frame's index must not realign the columns
    table = pd.DataFrame({k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in rows.items()})
    for column in TABLE_COLUMNS:
        if column not in table.columns:
            table[column] = ""
    table["source"] = source
    table["target"] = table["target"].astype("Int64")
    for column in TABLE_COLUMNS:
        if column != "target":
            table[column] = table[column].astype(object).where(table[column].notna(), "").astype(str)
    table["age"] = table["age"].map(clean_age)
    return table[list(TABLE_COLUMNS)].reset_index(drop=True)


def clean_age(value: str) -> str:
    """'50.0' → '50'; 'unknown', 'None' and other non-numbers → ''."""
    try:
        number = float(value)
    except ValueError:
        return ""
    if number != number or number < 0:
        return ""
    return str(int(number)) if number.is_integer() else str(number)


def licence_from_folder(root: Path) -> tuple[str, str]:
    """(attribution, licence) from ATTRIBUTION.txt / LICENSE_<X>.txt shipped with ISIC downloads."""
    attribution = ""
    for name in ("ATTRIBUTION.txt", "attribution.txt"):
        if (root / name).is_file():
            lines = [ln.strip() for ln in (root / name).read_text(errors="replace").splitlines() if ln.strip()]
            attribution = lines[0] if lines else ""
            break
    licences = sorted(root.glob("LICENSE_*.txt")) + sorted((root / "licenses").glob("*.txt"))
    licence = ""
    if len(licences) == 1:
        licence = licences[0].stem.removeprefix("LICENSE_").replace("CC0", "CC-0")
    return attribution, licence


# ---------------------------------------------------------------- sources


def import_isic(root: Path, options: ImportOptions) -> Imported:
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


def import_isic_json(root: Path, options: ImportOptions) -> Imported:
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


def import_ham10000(root: Path, options: ImportOptions) -> Imported:
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


def import_siim_2020(root: Path, options: ImportOptions) -> Imported:
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


ISIC2017_SPLITS = {"training": "train", "validation": "val", "test": "test"}


def import_isic2017(root: Path, options: ImportOptions) -> Imported:
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


def _resolve_image(value: str, bases: list[Path], images: dict[str, Path] | None) -> str:
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


def import_folder_csv(root: Path, options: ImportOptions) -> Imported:
    labels = options.labels
    assert labels is not None
    if not labels.is_file():
        raise UserError(f"--labels '{labels}' does not exist (looked also under --input '{root}')")
    frame = read_csv_strings(labels)
    flags = {"--image-col": options.image_col, "--label-col": options.label_col, "--id-col": options.id_col,
             "--patient-col": options.patient_col, "--lesion-col": options.lesion_col,
             "--keep-split": options.split_col}
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
        "split": frame[options.split_col] if options.split_col else "",
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


def import_folder_classes(root: Path, options: ImportOptions) -> Imported:
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


def import_folder(root: Path, options: ImportOptions) -> Imported:
    """A CSV of labels (--labels with --image-col/--label-col) or class sub-folders."""
    if options.labels is not None:
        return import_folder_csv(root, options)
    return import_folder_classes(root, options)


def import_phantom(root: Path | None, options: ImportOptions) -> Imported:
    """N procedural dermoscopy phantoms, generated in memory (deterministic for a seed)."""
    try:
        from skingan.data.phantom import phantom_records
    except ImportError as error:
        raise UserError("--source phantom is not available in this installation (skingan.data.phantom "
                        "is missing)") from error
    rows: dict[str, list] = {"image_id": [], "path": [], "target": [], "label": [], "diagnosis": []}
    images = {}
    for image_id, value, diagnosis, image in phantom_records(options.n, options.seed, size=options.phantom_size):
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


IMPORTERS: dict[str, Callable[[Path, ImportOptions], Imported]] = {
    "isic": import_isic,
    "ham10000": import_ham10000,
    "siim-isic-2020": import_siim_2020,
    "isic2017": import_isic2017,
    "folder": import_folder,
    "isic-json": import_isic_json,
    "phantom": import_phantom,
}


def import_source(source: str, root: Path | None, options: ImportOptions) -> Imported:
    """Run the importer for `source`; checks the input folder first."""
    if source not in IMPORTERS:
        raise UserError(f"--source {source!r} is not known; accepted: {', '.join(SOURCES)}")
    if options.target not in TARGETS:
        raise UserError(f"--target {options.target!r} is not known; accepted: {', '.join(TARGETS)}")
    if source != "phantom":
        if root is None:
            raise UserError(f"--source {source} needs --input DIR (the folder holding the images)")
        if not root.is_dir():
            raise UserError(f"--input '{root}' is not a folder")
    imported = IMPORTERS[source](root, options)  # type: ignore[arg-type]
    if imported.table.empty:
        raise UserError(f"--input '{root}' (--source {source}) lists no images")
    return imported
