"""`skingan download`'s options as a typed config (skingan.config), and download.json, the record a run leaves.

    OUT/download.json   {"options": the resolved options, without `out` (the folder itself) and with any
                         credentials in the API URL hidden}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skingan.config import setting, to_dict
from skingan.data.isic.api import DEFAULT_API_URL, check_api_url, check_query
from skingan.errors import UserError
from skingan.runs import atomic_write_json
from skingan.runs import redact_credentials as redact

RECORD = "download.json"


@dataclass
class DownloadOptions:
    """What a download fetches and how: the flags of `skingan download`, resolved (its --help says more)."""

    out: str = setting("data/isic", help="folder for images/, metadata.csv, attribution.txt, licenses/")
    query: str = setting("", help="ISIC search, e.g. 'diagnosis_1:Malignant'")
    collections: list[int] = setting(default_factory=list, help="collection ids (OR), e.g. [60, 71]")
    limit: int | None = setting(None, help="download at most this many images (null: all that match)")
    thumbnails: bool = setting(False, help="the 256-px thumbnails instead of the full images")
    workers: int = setting(8, help="parallel downloads (1-64)")
    api_url: str = setting(DEFAULT_API_URL, help="ISIC API v2 base URL")

    def check(self) -> None:
        """The value rules, in the order the flags were always checked; each message names its flag."""
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit {self.limit}: must be at least 1 (leave it out to download everything)")
        if not 1 <= self.workers <= 64:
            raise ValueError(f"--workers {self.workers}: accepted 1 to 64")
        try:
            check_query(self.query)
            check_api_url(self.api_url)
        except UserError as error:
            raise ValueError(str(error)) from None

    def shown(self) -> dict[str, Any]:
        """The options as --dry-run prints them: credentials in the API URL hidden."""
        return {**to_dict(self), "api_url": redact(self.api_url)}

    def record(self) -> dict[str, Any]:
        """The options as download.json keeps them: as shown, without the folder they are kept in."""
        return {key: value for key, value in self.shown().items() if key != "out"}


DownloadRequest = DownloadOptions  # the name of this class before it was a typed config (scripts use it)


def write_record(options: DownloadOptions) -> None:
    atomic_write_json(Path(options.out) / RECORD, {"options": options.record()})
