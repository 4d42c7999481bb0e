"""The prepared set: the on-disk contract between `skingan prepare` and every later stage.

    PREPARED/
      prepare.json      inputs, parameters, counts, skipped files, seed and the set's content hash
      metadata.csv      one row per kept image; row i is image i of every cache
      cache/64.npy      uint8 array (N, 64, 64, 3), RGB, memory-mappable
      cache/128.npy     ...

Later stages read only this folder; they never decode the original images.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from skingan.errors import UserError
from skingan.runs import atomic_path, atomic_write_json, remove_stale_temporaries

if TYPE_CHECKING:
    import pandas as pd

FORMAT_VERSION = 1
CLASS_NAMES: tuple[str, ...] = ("benign", "malignant")
SPLITS: tuple[str, ...] = ("train", "val", "test")

METADATA_COLUMNS: tuple[str, ...] = (
    "image_id", "path", "target", "diagnosis", "benign_malignant", "age", "sex", "anatomy",
    "patient_id", "lesion_id", "attribution", "license", "source", "split",
)


def class_index(name: str) -> int:
    """'benign' → 0, 'malignant' → 1 (also accepts 'melanoma' and '0'/'1')."""
    lowered = str(name).strip().lower()
    aliases = {"benign": 0, "0": 0, "other": 0, "malignant": 1, "1": 1, "melanoma": 1}
    if lowered not in aliases:
        raise UserError(f"class '{name}' is not known; accepted: benign, malignant (or 0, 1)")
    return aliases[lowered]


def cache_path(root: Path, size: int) -> Path:
    return root / "cache" / f"{size}.npy"


def hash_files(paths: Iterable[Path], chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        with open(path, "rb") as handle:
            while block := handle.read(chunk):
                digest.update(block)
    return digest.hexdigest()


@dataclass
class PreparedSet:
    """A prepared set opened for reading; caches are memory-mapped on first use."""

    root: Path
    info: dict
    metadata: pd.DataFrame
    _caches: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def hash(self) -> str:
        return str(self.info["hash"])

    @property
    def sizes(self) -> list[int]:
        return sorted(int(s) for s in self.info.get("sizes", []))

    @property
    def targets(self) -> np.ndarray:
        return self.metadata["target"].to_numpy(dtype=np.int64)

    def __len__(self) -> int:
        return len(self.metadata)

    def images(self, size: int) -> np.ndarray:
        """The uint8 (N, size, size, 3) cache, memory-mapped."""
        size = int(size)
        if size not in self._caches:
            path = cache_path(self.root, size)
            if size not in self.sizes or not path.is_file():
                have = ", ".join(str(s) for s in self.sizes) or "none"
                raise UserError(
                    f"prepared set '{self.root}' has no {size}-px cache (it has: {have}); "
                    f"run 'skingan prepare ... --sizes {size}' to add it"
                )
            try:
                array = np.load(path, mmap_mode="r")
            except (ValueError, OSError, EOFError) as error:  # truncated, or not an .npy file at all
                raise UserError(f"cache '{path}' is unreadable or truncated ({str(error)[:120]}); "
                                "re-run 'skingan prepare'") from error
            if array.dtype != np.uint8 or array.ndim != 4 or array.shape[1:] != (size, size, 3) \
                    or array.shape[0] != len(self):
                raise UserError(
                    f"cache '{path}' has shape {array.shape} {array.dtype}, expected "
                    f"({len(self)}, {size}, {size}, 3) uint8; re-run 'skingan prepare'"
                )
            self._caches[size] = array
        return self._caches[size]

    def indices(self, split: str | Sequence[str] | None = None,
                classes: Sequence[str | int] | None = None) -> np.ndarray:
        """Row indices for the given split(s) and classes (by name or 0/1)."""
        mask = np.ones(len(self), dtype=bool)
        if split is not None and split != "all":
            wanted = [split] if isinstance(split, str) else list(split)
            for name in wanted:
                if name not in SPLITS:
                    raise UserError(f"split '{name}' is not known; accepted: {', '.join(SPLITS)} or all")
            mask &= self.metadata["split"].isin(wanted).to_numpy()
        if classes is not None:
            wanted_targets = [c if isinstance(c, int) else class_index(c) for c in classes]
            mask &= np.isin(self.targets, wanted_targets)
        return np.flatnonzero(mask)

    def counts(self) -> dict[str, dict[str, int]]:
        """Images per split and class: {'train': {'benign': n, 'malignant': m}, ...}."""
        table: dict[str, dict[str, int]] = {}
        for split in SPLITS:
            rows = self.metadata[self.metadata["split"] == split]
            table[split] = {name: int((rows["target"] == i).sum()) for i, name in enumerate(CLASS_NAMES)}
        return table


def is_prepared_set(path: str | Path) -> bool:
    path = Path(path)
    return (path / "prepare.json").is_file() and (path / "metadata.csv").is_file()


def open_prepared(path: str | Path) -> PreparedSet:
    """Open a prepared set; a folder that is not one is a clear user error."""
    import pandas as pd

    root = Path(path)
    if root.is_file():
        raise UserError(f"'{root}' is a file, not a prepared set (a folder with prepare.json, metadata.csv and "
                        "cache/); create one with 'skingan prepare'")
    if not root.is_dir():
        raise UserError(f"prepared set '{root}' does not exist; create it with 'skingan prepare --out {root} ...'")
    if not is_prepared_set(root):
        raise UserError(
            f"'{root}' is not a prepared set (no prepare.json/metadata.csv); create one with 'skingan prepare'"
        )
    try:
        info = json.loads((root / "prepare.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise UserError(f"'{root / 'prepare.json'}' is unreadable or truncated; re-run 'skingan prepare'") from error
    if "hash" not in info:
        raise UserError(f"'{root / 'prepare.json'}' has no content hash; re-run 'skingan prepare'")
    try:
        metadata = pd.read_csv(root / "metadata.csv", dtype={"image_id": str, "patient_id": str, "lesion_id": str},
                               keep_default_na=False, na_values=[""])
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise UserError(f"'{root / 'metadata.csv'}' is unreadable or truncated ({str(error).splitlines()[0][:120]}); "
                        "re-run 'skingan prepare'") from error
    missing = [c for c in ("image_id", "target", "split") if c not in metadata.columns]
    if missing:
        raise UserError(f"'{root / 'metadata.csv'}' lacks column(s) {', '.join(missing)}; re-run 'skingan prepare'")
    check_metadata_values(metadata, root / "metadata.csv")
    return PreparedSet(root=root, info=info, metadata=metadata)


def check_metadata_values(metadata: pd.DataFrame, path: Path) -> None:
    """Targets must be 0/1 and splits train/val/test: anything else would be silently dropped or crash later."""
    for column, accepted in (("target", (0, 1)), ("split", SPLITS)):
        bad = ~metadata[column].isin(accepted)
        if bad.any():
            row = int(bad.to_numpy().argmax())
            value = metadata[column].iat[row]
            value = value.item() if isinstance(value, np.generic) else value
            raise UserError(f"'{path}' row {row + 2}: {column} {value!r} is not one of "
                            f"{', '.join(map(str, accepted))}; re-run 'skingan prepare'")


def metadata_csv(metadata: pd.DataFrame) -> str:
    """CSV text; every field is quoted when some text holds a carriage return, which the minimal quoting of
    a '\n'-terminated CSV leaves bare and readers take for a line break (shifting rows against the caches)."""
    bare_cr = any(metadata[c].map(lambda v: isinstance(v, str) and "\r" in v).any() for c in metadata.columns)
    return metadata.to_csv(index=False, quoting=csv.QUOTE_ALL if bare_cr else csv.QUOTE_MINIMAL)


class _PythonWriter:
    """Makes np.save write through Python's file object: on a real file it calls ndarray.tofile, whose disk-full
    error is a bare "N requested and M written" without errno ENOSPC. The bytes written are the same."""

    def __init__(self, handle: BinaryIO):
        self.write = handle.write


def write_prepared_set(out: str | Path, metadata: pd.DataFrame, caches: dict[int, np.ndarray],
                       info: dict) -> str:
    """Write metadata.csv, the caches and prepare.json (last, so a half-written set is never 'prepared').

    Every file is first written to a temporary name; only when all are complete is an older prepare.json
    removed and the files renamed into place, so a failure while writing (disk full, Ctrl-C) leaves an older
    set at `out` intact. Returns the content hash (metadata + caches) recorded in prepare.json.
    """
    out = Path(out)
    (out / "cache").mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)  # left by a run that was killed while writing
    for size, array in caches.items():
        if array.dtype != np.uint8 or array.shape[1:] != (size, size, 3) or array.shape[0] != len(metadata):
            raise ValueError(f"cache {size}: shape {array.shape} {array.dtype} does not match {len(metadata)} rows")
    with contextlib.ExitStack() as renames:  # each atomic_path renames its file into place on exit
        for size, array in caches.items():
            with open(renames.enter_context(atomic_path(cache_path(out, size))), "wb") as handle:
                np.save(_PythonWriter(handle), np.ascontiguousarray(array))
        renames.enter_context(atomic_path(out / "metadata.csv")).write_bytes(metadata_csv(metadata).encode("utf-8"))
        (out / "prepare.json").unlink(missing_ok=True)
    content = hash_files([out / "metadata.csv", *(cache_path(out, s) for s in sorted(caches))])
    record = {"format_version": FORMAT_VERSION, **info, "sizes": sorted(int(s) for s in caches), "hash": content}
    atomic_write_json(out / "prepare.json", record)
    return content
