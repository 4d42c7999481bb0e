"""What lets a killed download resume: the journal of records, the folder of partial files, and the lock.

    OUT/metadata.partial.jsonl   every record as its page arrived, fsynced; removed when a run ends without failures
    OUT/.partial/                files being downloaded (skingan.data.isic.transfer resumes them)
    OUT/.download.lock           held while a download writes to OUT (the OS releases it even on SIGKILL)
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from skingan.data.isic.records import ISIC_ID
from skingan.errors import UserError

JOURNAL = "metadata.partial.jsonl"
PARTIAL_DIR = ".partial"
LOCK_FILE = ".download.lock"


class Journal:
    """metadata.partial.jsonl: one record per line, appended and fsynced per page; last line per id wins."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: dict[str, dict[str, str]] = {}
        if path.exists():
            self._load()

    def _load(self) -> None:
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    row = json.loads(line)
                except ValueError:  # a line cut short by a crash
                    continue
                if isinstance(row, dict) and ISIC_ID.match(str(row.get("isic_id", ""))):
                    self.rows[row["isic_id"]] = {str(k): str(v) for k, v in row.items()}

    def add(self, rows: list[dict[str, str]]) -> None:
        fresh = [row for row in rows if self.rows.get(row["isic_id"]) != row]
        if not fresh:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            for row in fresh:
                handle.write(json.dumps(row, sort_keys=True) + "\n")
                self.rows[row["isic_id"]] = row
            handle.flush()
            os.fsync(handle.fileno())


@contextlib.contextmanager
def exclusive_lock(out: Path) -> Iterator[None]:
    """One download per folder at a time (released by the OS even on SIGKILL)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(out / LOCK_FILE, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            raise UserError(f"another 'skingan download' is writing to '{out}'; wait for it or use "
                            "another --out") from error
        yield
