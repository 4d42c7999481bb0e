"""The sample folder contract: what `skingan sample --out DIR` writes, and how readers open it.

    DIR/<class>/<class>_000000.png ...    the images, uint8 RGB PNG at the generator's size
    DIR/manifest.csv                      one row per image: file, class, target, seed, index, checkpoint, step,
                                          arch, image_size, config_hash, prepared_hash, train_split
    DIR/sample.json                       the summary record, written LAST: a folder without it is unfinished
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from skingan.data.prepared import CLASS_NAMES, class_index
from skingan.errors import UserError

MANIFEST = "manifest.csv"
RECORD = "sample.json"
MANIFEST_COLUMNS = ("file", "class", "target", "seed", "index", "checkpoint", "step", "arch", "image_size",
                    "config_hash", "prepared_hash", "train_split")
REQUIRED_COLUMNS = ("file", "class", "prepared_hash", "train_split")  # what the classifier needs to trust them
DEFAULT_SEARCH_ROOT = Path("outputs")


def image_file(class_name: str, index: int) -> str:
    return f"{class_name}/{class_name}_{index:06d}.png"


def is_sample_folder(folder: Path) -> bool:
    """A finished `skingan sample` folder (the record is written after the manifest)."""
    return (folder / MANIFEST).is_file() and (folder / RECORD).is_file()


def manifest_text(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def newest_sample_dir(root: Path = DEFAULT_SEARCH_ROOT) -> Path:
    """The most recently written `skingan sample` folder under `root` (a manifest.csv beside a sample.json)."""
    candidates = [m.parent for m in root.rglob(MANIFEST) if (m.parent / RECORD).is_file()] \
        if root.is_dir() else []
    if not candidates:
        raise UserError(f"--synthetic without a folder: no 'skingan sample' output (manifest.csv + sample.json) "
                        f"under '{root}'; run 'skingan sample' or give --synthetic DIR")
    return max(candidates, key=lambda d: (d / MANIFEST).stat().st_mtime)


def read_manifest(folder: str | Path) -> pd.DataFrame:
    """The manifest with absolute paths and integer targets; every listed file must exist."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise UserError(f"synthetic folder '{folder}' does not exist; give a folder written by 'skingan sample'")
    if not path.is_file():
        raise UserError(f"synthetic folder '{folder}' has no manifest.csv; give a folder written by 'skingan sample'")
    try:
        manifest = pd.read_csv(path, dtype={"file": str, "class": str, "prepared_hash": str, "train_split": str},
                               keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise UserError(f"'{path}' is not a readable CSV: {error}") from error
    missing = [c for c in REQUIRED_COLUMNS if c not in manifest.columns]
    if missing:
        raise UserError(f"'{path}' lacks column(s) {', '.join(missing)}; expected the 'skingan sample' manifest")
    if manifest.empty:
        raise UserError(f"'{path}' lists no images")
    manifest = manifest.copy()
    manifest["target"] = [class_index(c) for c in manifest["class"]]
    manifest["class"] = [CLASS_NAMES[t] for t in manifest["target"]]
    manifest["path"] = [str((folder / f).resolve()) for f in manifest["file"]]
    absent = [f for f, p in zip(manifest["file"], manifest["path"], strict=True) if not Path(p).is_file()]
    if absent:
        raise UserError(f"'{path}' lists {len(absent)} missing file(s), e.g. '{folder / absent[0]}'")
    manifest["source_dir"] = str(folder.resolve())
    return manifest
