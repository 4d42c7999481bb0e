"""A search result, checked before anything in it becomes a path or a request; and what became of it.

A server should never send an id that is not ISIC_ and 7 digits, a file URL that is not http(s) or not an
image, or a licence name with a slash in it; such a record is refused (BadRecord) and listed in failures.csv.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

ISIC_ID = re.compile(r"^ISIC_\d{7}\Z")  # \Z: "$" would also accept a trailing newline
LICENCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,39}$")
ALLOWED_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
FIXED_COLUMNS = ("isic_id", "attribution", "copyright_license")  # metadata.csv's first columns


class BadRecord(ValueError):
    """A record a server should never send: refused, listed in failures.csv."""


@dataclass(frozen=True)
class ImageRecord:
    isic_id: str
    url: str
    size: int | None
    extension: str
    row: dict[str, str]  # the metadata.csv row

    @property
    def filename(self) -> str:
        return f"{self.isic_id}{self.extension}"


def flatten_metadata(metadata: Any) -> dict[str, Any]:
    """{"acquisition": {"pixels_x": 1}, "clinical": {...}} → {"pixels_x": 1, ...} (leaf keys, like isic-cli)."""
    flat: dict[str, Any] = {}

    def visit(node: Any) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                visit(value)
            elif value is not None:
                flat.setdefault(str(key), value)

    if isinstance(metadata, dict):
        visit(metadata)
    return flat


def _cell(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ";".join(map(str, value))
    return str(value)


def file_extension(url: str) -> str:
    """The extension of a file URL's path, checked against the allow-list."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadRecord(f"file URL {url[:200]!r} is not http(s)")
    suffix = os.path.splitext(parts.path)[1].lower()
    if suffix not in ALLOWED_EXTENSIONS:
        raise BadRecord(f"file URL {url[:200]!r} has extension {suffix!r}; accepted: {', '.join(ALLOWED_EXTENSIONS)}")
    return suffix


def parse_record(raw: Any, file_kind: str = "full") -> ImageRecord:
    """Validate one search result before anything from it becomes a path or a request."""
    if not isinstance(raw, dict):
        raise BadRecord(f"search result is not an object: {str(raw)[:100]!r}")
    isic_id = raw.get("isic_id")
    if not isinstance(isic_id, str) or not ISIC_ID.match(isic_id):
        raise BadRecord(f"isic_id {str(isic_id)[:100]!r} does not match ISIC_ followed by 7 digits")
    files = raw.get("files") or {}
    entry = files.get(file_kind) if isinstance(files, dict) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
        raise BadRecord(f"{isic_id}: the record has no files.{file_kind}.url")
    url = entry["url"]
    extension = file_extension(url)
    size = entry.get("size")
    licence = str(raw.get("copyright_license") or "")
    if licence and not LICENCE_NAME.match(licence):
        raise BadRecord(f"{isic_id}: copyright_license {licence[:60]!r} is not a licence name")
    row = {"isic_id": isic_id, "attribution": str(raw.get("attribution") or ""), "copyright_license": licence}
    for key, value in flatten_metadata(raw.get("metadata")).items():
        if key not in FIXED_COLUMNS:
            row[key] = _cell(value)
    return ImageRecord(isic_id, url, int(size) if isinstance(size, (int, float)) else None, extension, row)


@dataclass
class Outcome:
    """What became of one record (or one licence text); failures are listed in failures.csv."""

    isic_id: str
    status: str  # downloaded | skipped | failed
    bytes: int = 0
    url: str = ""
    reason: str = ""
