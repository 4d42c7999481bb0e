"""The table every source returns, and the file and CSV helpers sources read their layouts with.

make_table turns a source's columns into TABLE_COLUMNS (missing ones empty, every cell text, `target` 1/0/<NA>);
the helpers find metadata files, read CSVs the way spreadsheets write them and index images by file stem.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skingan.data.sources.base import SourceOptions
from skingan.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

TABLE_COLUMNS = (
    "image_id", "path", "target", "label", "diagnosis", "benign_malignant", "age", "sex", "anatomy",
    "patient_id", "lesion_id", "attribution", "license", "source", "split",
)
ANATOMY_COLUMNS = ("anatomy", "anatom_site_general", "anatom_site_general_challenge", "anatom_site_1",
                   "localization", "anatom_site")
AGE_COLUMNS = ("age", "age_approx", "age_approximate")
LICENSE_COLUMNS = ("license", "copyright_license", "licence")


def index_images(root: Path) -> dict[str, Path]:
    """Every image file under root by file stem (first in sorted order wins)."""
    from skingan.data.images import IMAGE_SUFFIXES  # numpy and PIL: not at `skingan --help` time

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


def split_column(frame: pd.DataFrame, path: Path, options: SourceOptions) -> Any:
    """The --keep-split column of a source's own table ('' when not asked for)."""
    if not options.keep_split:
        return ""
    require_columns(frame, path, [options.keep_split], flag=" (--keep-split)")
    return frame[options.keep_split]


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

