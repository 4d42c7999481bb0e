"""What a finished run writes beside images/: metadata.csv, attribution.txt, failures.csv and licenses/.

Each file is written whole or not at all (atomic rename), from the records of the images on disk.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from skingan.data.isic.records import FIXED_COLUMNS, Outcome
from skingan.data.isic.session import DownloadError
from skingan.errors import UserError
from skingan.runs import atomic_write_text

if TYPE_CHECKING:
    from skingan.data.isic.api import IsicClient

FAILURE_COLUMNS = ("isic_id", "url", "reason")


def metadata_columns(rows: list[dict[str, str]]) -> list[str]:
    keys = set().union(*(row.keys() for row in rows)) if rows else set()
    return list(FIXED_COLUMNS) + sorted(keys - set(FIXED_COLUMNS))


def write_metadata_csv(path: Path, rows: list[dict[str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=metadata_columns(rows), restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def attribution_text(rows: list[dict[str, str]]) -> str:
    counts = Counter(row.get("attribution") or "Anonymous" for row in rows)
    names = sorted(counts, key=lambda name: (name == "Anonymous", -counts[name], name))
    return "\n\n".join(names) + ("\n" if names else "")


def write_attribution(path: Path, rows: list[dict[str, str]]) -> None:
    atomic_write_text(path, attribution_text(rows))


def write_failures(path: Path, failures: list[Outcome]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FAILURE_COLUMNS)
    for failure in sorted(failures, key=lambda f: f.isic_id):
        writer.writerow([failure.isic_id, failure.url, failure.reason])
    atomic_write_text(path, buffer.getvalue())


def write_licences(client: IsicClient, out: Path, rows: list[dict[str, str]]) -> list[Outcome]:
    failures = []
    for name in sorted({row["copyright_license"] for row in rows if row["copyright_license"]}):
        try:
            atomic_write_text(out / "licenses" / f"{name}.txt", client.licence_text(name))
        except (DownloadError, UserError) as error:
            failures.append(Outcome("", "failed", 0, "", f"licence text {name}: {error}"))
    return failures
