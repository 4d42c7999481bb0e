"""The ISIC Archive API v2, one method per endpoint the downloader needs, and the checks made before asking it.

    images/search/            IsicClient.pages: the search, page after page through `next`
    images/search/size/       IsicClient.total_size: bytes of the full files (undocumented; may be missing)
    collections/<id>/         IsicClient.check_collections: every --collections id exists
    zip-download/license-file/<name>/   IsicClient.licence_text: a licence's full text

Every error becomes a one-line UserError that names the flag or the URL at fault (credentials hidden).
Facts about the API are in docs/isic-api.md of the shared docs.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from skingan.data.isic.session import DownloadError, RetryPolicy, short_error
from skingan.errors import UserError
from skingan.runs import redact_credentials as redact

log = logging.getLogger("skingan")

DEFAULT_API_URL = "https://api.isic-archive.com/api/v2/"
API_URL_ENV = "SKINGAN_ISIC_API_URL"
PAGE_LIMIT = 100

REMOVED_FIELDS = {
    "benign_malignant": "use diagnosis_1:Malignant (or diagnosis_1:Benign); benign_malignant was removed in 2025",
    "diagnosis": ('use the diagnosis_1..5 hierarchy, e.g. diagnosis_2:"Malignant melanocytic proliferations '
                  '(Melanoma)" for the old diagnosis:melanoma; diagnosis was removed in 2025'),
    "anatom_site_general": "use anatom_site_1 (anatom_site_general was replaced by anatom_site_1..5)",
}
_REMOVED_FIELD_USE = re.compile(r"(?:^|[\s(\-])(" + "|".join(REMOVED_FIELDS) + r"):")


def resolve_api_url(url: str | None) -> str:
    """--api-url, else $SKINGAN_ISIC_API_URL, else the public API; checked, and ending in '/'."""
    url = (url or os.environ.get(API_URL_ENV) or DEFAULT_API_URL).strip()
    check_api_url(url)
    return url if url.endswith("/") else url + "/"


def check_api_url(url: str) -> None:
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise UserError(f"--api-url {redact(url)!r} is not an http(s) URL, e.g. {DEFAULT_API_URL}")


def check_query(query: str) -> None:
    """Refuse fields the API removed, naming the replacement, before asking the server."""
    match = _REMOVED_FIELD_USE.search(query or "")
    if match:
        name = match.group(1)
        raise UserError(f"--query {query!r}: the field '{name}' no longer exists in ISIC API v2; "
                        f"{REMOVED_FIELDS[name]}")


def parse_collections(text: str | None) -> list[int]:
    if not text:
        return []
    ids = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit():
            raise UserError(f"--collections {text!r}: expected comma-separated collection ids, e.g. 60,71")
        ids.append(int(part))
    return ids


class IsicClient:
    """The API calls a downloader needs; every error becomes a one-line UserError."""

    def __init__(self, api_url: str, session: requests.Session, policy: RetryPolicy):
        self.api_url = api_url
        self.session = session
        self.policy = policy

    def get(self, url: str, params: dict | None = None) -> requests.Response:
        try:
            return self.session.get(url, params=params, timeout=self.policy.timeout)
        except requests.RequestException as error:
            raise UserError(f"cannot reach the ISIC API at {redact(url)}: {short_error(error)}") from error

    def get_json(self, path_or_url: str, params: dict | None = None, what: str = "") -> Any:
        url = urljoin(self.api_url, path_or_url)
        response = self.get(url, params)
        if response.status_code != 200:
            raise UserError(f"{what or redact(url)}: the ISIC API answered HTTP {response.status_code}: "
                            f"{short_error(response.text)}")
        try:
            return response.json()
        except ValueError as error:
            raise UserError(f"{what or redact(url)}: the server did not answer JSON (is --api-url an ISIC API v2 "
                            f"URL? v1 is gone): {short_error(response.text)}") from error

    def check_collections(self, ids: list[int]) -> None:
        for cid in ids:
            response = self.get(urljoin(self.api_url, f"collections/{cid}/"))
            if response.status_code == 404:
                raise UserError(f"--collections: collection {cid} does not exist in the ISIC Archive "
                                f"(list them at {redact(self.api_url)}collections/)")
            if response.status_code != 200:
                raise UserError(f"--collections: checking collection {cid} failed with HTTP "
                                f"{response.status_code}: {short_error(response.text)}")

    def search_params(self, query: str, collections: list[int]) -> dict:
        return {"query": query or "", "collections": ",".join(map(str, collections)), "limit": PAGE_LIMIT}

    def pages(self, query: str, collections: list[int]) -> Iterator[dict]:
        """Yield search pages following `next` to the end; a 400 explains the query syntax."""
        url: str | None = urljoin(self.api_url, "images/search/")
        params: dict | None = self.search_params(query, collections)
        seen_urls: set[str] = set()
        while url:
            response = self.get(url, params)
            if response.status_code == 400:
                raise UserError(f"--query {query!r}: the ISIC API could not parse it ({short_error(response.text)}); "
                                "use field:value terms joined by AND/OR, quote values with spaces, and the "
                                "current fields: diagnosis_1:Malignant, diagnosis_2:\"Malignant melanocytic "
                                "proliferations (Melanoma)\" (benign_malignant and diagnosis were removed)")
            if response.status_code != 200:
                raise UserError(f"searching the ISIC API failed with HTTP {response.status_code} at "
                                f"{redact(response.url)}: {short_error(response.text)}")
            try:
                page = response.json()
            except ValueError as error:
                raise UserError(f"the ISIC API answered {redact(response.url)} with something that is not JSON (is "
                                f"--api-url an API v2 URL? v1 is gone): {short_error(response.text)}") from error
            if not isinstance(page, dict) or not isinstance(page.get("results", []), list):
                raise UserError(f"the ISIC API answered {redact(response.url)} with an unexpected page: {short_error(page)}")
            yield page
            next_url = page.get("next")
            if next_url and next_url in seen_urls:
                raise UserError(f"the ISIC API returned the same next page twice ({redact(next_url)}); stopping")
            if next_url:
                seen_urls.add(next_url)
                if urlsplit(next_url).scheme not in ("http", "https"):
                    raise UserError(f"the ISIC API returned a non-http(s) next page URL {redact(next_url)!r}")
            url, params = next_url, None

    def total_size(self, query: str, collections: list[int]) -> int | None:
        """Bytes of the full files of a search (undocumented endpoint; None when unavailable)."""
        params = {"query": query or "", "collections": ",".join(map(str, collections))}
        try:
            response = self.session.get(urljoin(self.api_url, "images/search/size/"), params=params,
                                        timeout=self.policy.timeout)
            if response.status_code == 200:
                return int(response.json()["size"])
        except (requests.RequestException, ValueError, KeyError, TypeError) as error:
            log.info("size endpoint unavailable: %s", short_error(error))
        return None

    def licence_text(self, name: str) -> str:
        response = self.get(urljoin(self.api_url, f"zip-download/license-file/{name}/"))
        if response.status_code != 200:
            raise DownloadError(f"licence {name}: HTTP {response.status_code}")
        return response.text


@dataclass(frozen=True)
class Estimate:
    count: int | None  # images that will be fetched (count capped by --limit)
    size: int | None  # bytes, or None when unknown
    exact: bool  # summed from the records rather than scaled from the size endpoint


def estimate(client: IsicClient, query: str, collections: list[int], limit: int | None = None,
             thumbnails: bool = False, page_through: bool = True) -> Estimate:
    """How many images and bytes a download would fetch: `count` from page 1, size from the size endpoint,
    or (for --limit / --thumbnails, when `page_through`) summed over the records themselves."""
    pages = client.pages(query, collections)
    first = next(pages)
    matched = first.get("count")
    count = min(matched, limit) if matched is not None and limit is not None else matched
    if not thumbnails and limit is None:
        size = client.total_size(query, collections)
        if size is not None:
            return Estimate(count, size, True)
    if not page_through:
        full = None if thumbnails else client.total_size(query, collections)
        if full is None or not matched:
            return Estimate(count, None, False)
        return Estimate(count, round(full * (count or 0) / matched), False)
    kind = "thumbnail_256" if thumbnails else "full"
    total, taken = 0, 0
    for page in itertools.chain([first], pages):
        for raw in page.get("results") or []:
            if limit is not None and taken >= limit:
                return Estimate(count if count is not None else taken, total, True)
            taken += 1
            entry = ((raw.get("files") or {}).get(kind) or {}) if isinstance(raw, dict) else {}
            total += int(entry.get("size") or 0) if isinstance(entry, dict) else 0
    return Estimate(count if count is not None else taken, total, True)
