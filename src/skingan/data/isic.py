"""ISIC Archive API v2 client: search, page, download, resume, licences — and lose nothing.

    OUT/
      images/<isic_id>.<ext>     one file per image, renamed into place only when complete
      metadata.csv               isic_id, attribution, copyright_license, then the sorted union of metadata keys
      attribution.txt            unique attributions by image count, "Anonymous" last
      licenses/<licence>.txt     full licence texts
      failures.csv               isic_id, url, reason for anything that could not be fetched
      metadata.partial.jsonl     journal of records as pages arrive (kept until a run completes without failures)
      .partial/                  files being downloaded (resumed with HTTP Range, removed when no longer needed)

Facts about the API are in docs/isic-api.md of the shared docs; the reliability rules come from how users of the
official client lost runs: every failure is reported, a crash keeps what was fetched, a re-run completes the set.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import logging
import os
import re
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from skingan.errors import UserError, one_line
from skingan.runs import atomic_write_text, remove_stale_temporaries
from skingan.runs import redact_credentials as redact

log = logging.getLogger("skingan")

DEFAULT_API_URL = "https://api.isic-archive.com/api/v2/"
API_URL_ENV = "SKINGAN_ISIC_API_URL"
BACKOFF_ENV = "SKINGAN_ISIC_BACKOFF"  # seconds; tests set it small so retries do not sleep long
ISIC_ID = re.compile(r"^ISIC_\d{7}\Z")  # \Z: "$" would also accept a trailing newline
LICENCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,39}$")
ALLOWED_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
FIXED_COLUMNS = ("isic_id", "attribution", "copyright_license")
FAILURE_COLUMNS = ("isic_id", "url", "reason")
RETRY_STATUSES = (429, 500, 502, 503, 504)
PAGE_LIMIT = 100
CHUNK = 1 << 16

REMOVED_FIELDS = {
    "benign_malignant": "use diagnosis_1:Malignant (or diagnosis_1:Benign); benign_malignant was removed in 2025",
    "diagnosis": ('use the diagnosis_1..5 hierarchy, e.g. diagnosis_2:"Malignant melanocytic proliferations '
                  '(Melanoma)" for the old diagnosis:melanoma; diagnosis was removed in 2025'),
    "anatom_site_general": "use anatom_site_1 (anatom_site_general was replaced by anatom_site_1..5)",
}
_REMOVED_FIELD_USE = re.compile(r"(?:^|[\s(\-])(" + "|".join(REMOVED_FIELDS) + r"):")

JOURNAL = "metadata.partial.jsonl"
PARTIAL_DIR = ".partial"
LOCK_FILE = ".download.lock"


# ----------------------------------------------------------------------------------------------------- session
@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: urllib3 handles statuses and connect errors, an outer loop handles broken bodies."""

    retries: int = 6
    backoff: float = 0.5  # urllib3 sleeps backoff * 2**(n-1), capped at backoff_max
    backoff_max: float = 30.0
    retry_after_max: int = 120
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    stream_attempts: int = 4  # whole-file attempts for dropped connections and short bodies

    @classmethod
    def from_env(cls) -> RetryPolicy:
        value = os.environ.get(BACKOFF_ENV, "").strip()
        if not value:
            return cls()
        try:
            backoff = float(value)
        except ValueError as error:
            raise UserError(f"{BACKOFF_ENV}={value!r} is not a number of seconds") from error
        return cls(backoff=backoff, backoff_max=max(backoff * 8, backoff))

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)


def build_session(policy: RetryPolicy, pool_size: int = 16) -> requests.Session:
    """One session for everything: retries on 429/5xx honouring Retry-After, and a pool per worker."""
    options: dict[str, Any] = dict(
        total=policy.retries, connect=policy.retries, read=policy.retries, status=policy.retries,
        backoff_factor=policy.backoff, status_forcelist=RETRY_STATUSES, allowed_methods=("GET", "HEAD"),
        respect_retry_after_header=True, raise_on_status=False,
    )
    try:
        retry = Retry(**options, backoff_max=policy.backoff_max, retry_after_max=policy.retry_after_max)
    except TypeError:  # urllib3 < 2.6 has no retry_after_max
        retry = Retry(**options, backoff_max=policy.backoff_max)
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=pool_size)
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "skingan-download"
    return session


def resolve_api_url(url: str | None) -> str:
    url = (url or os.environ.get(API_URL_ENV) or DEFAULT_API_URL).strip()
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise UserError(f"--api-url {redact(url)!r} is not an http(s) URL, e.g. {DEFAULT_API_URL}")
    return url if url.endswith("/") else url + "/"


# ------------------------------------------------------------------------------------------------------ search
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
            raise UserError(f"cannot reach the ISIC API at {redact(url)}: {_short(error)}") from error

    def get_json(self, path_or_url: str, params: dict | None = None, what: str = "") -> Any:
        url = urljoin(self.api_url, path_or_url)
        response = self.get(url, params)
        if response.status_code != 200:
            raise UserError(f"{what or redact(url)}: the ISIC API answered HTTP {response.status_code}: "
                            f"{_short(response.text)}")
        try:
            return response.json()
        except ValueError as error:
            raise UserError(f"{what or redact(url)}: the server did not answer JSON (is --api-url an ISIC API v2 "
                            f"URL? v1 is gone): {_short(response.text)}") from error

    def check_collections(self, ids: list[int]) -> None:
        for cid in ids:
            response = self.get(urljoin(self.api_url, f"collections/{cid}/"))
            if response.status_code == 404:
                raise UserError(f"--collections: collection {cid} does not exist in the ISIC Archive "
                                f"(list them at {redact(self.api_url)}collections/)")
            if response.status_code != 200:
                raise UserError(f"--collections: checking collection {cid} failed with HTTP "
                                f"{response.status_code}: {_short(response.text)}")

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
                raise UserError(f"--query {query!r}: the ISIC API could not parse it ({_short(response.text)}); "
                                "use field:value terms joined by AND/OR, quote values with spaces, and the "
                                "current fields: diagnosis_1:Malignant, diagnosis_2:\"Malignant melanocytic "
                                "proliferations (Melanoma)\" (benign_malignant and diagnosis were removed)")
            if response.status_code != 200:
                raise UserError(f"searching the ISIC API failed with HTTP {response.status_code} at "
                                f"{redact(response.url)}: {_short(response.text)}")
            try:
                page = response.json()
            except ValueError as error:
                raise UserError(f"the ISIC API answered {redact(response.url)} with something that is not JSON (is "
                                f"--api-url an API v2 URL? v1 is gone): {_short(response.text)}") from error
            if not isinstance(page, dict) or not isinstance(page.get("results", []), list):
                raise UserError(f"the ISIC API answered {redact(response.url)} with an unexpected page: {_short(page)}")
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
            log.info("size endpoint unavailable: %s", _short(error))
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


# ----------------------------------------------------------------------------------------------------- records
class BadRecord(ValueError):
    """A record a server should never send: refused, listed in failures.csv."""


class DownloadError(Exception):
    """A file that could not be fetched after every retry."""


class _Retryable(Exception):
    """A broken stream worth another attempt (short body, dropped connection)."""


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


# --------------------------------------------------------------------------------------------------- transfers
def _short(error: Any) -> str:
    return redact(one_line(error, 300))



def _expected_total(response: requests.Response, offset: int) -> int | None:
    """Total file length from Content-Range (206) or Content-Length (200)."""
    if response.status_code == 206:
        match = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", ""))
        if not match or int(match.group(1)) != offset:
            raise _Retryable(f"bad Content-Range {response.headers.get('Content-Range')!r} for offset {offset}")
        if match.group(3) != "*":
            return int(match.group(3))
        length = response.headers.get("Content-Length")
        return offset + int(length) if length and length.isdigit() else None
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def stream_once(session: requests.Session, url: str, partial: Path, policy: RetryPolicy,
                on_bytes: Callable[[int], None] | None = None, stop: threading.Event | None = None) -> int:
    """One attempt: resume `partial` with Range when it has bytes, stream, check the length. Returns its size."""
    offset = partial.stat().st_size if partial.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        with session.get(url, headers=headers, stream=True, timeout=policy.timeout) as response:
            if response.status_code == 416 and offset:  # the partial file is not a prefix we can extend
                partial.unlink()
                raise _Retryable("server refused the range; restarting the file")
            if response.status_code in RETRY_STATUSES:
                raise _Retryable(f"HTTP {response.status_code} after retries")
            if response.status_code not in (200, 206):
                raise DownloadError(f"HTTP {response.status_code}")
            if response.status_code == 200:
                offset = 0  # the server sent the whole file
            total = _expected_total(response, offset)
            with open(partial, "ab" if offset else "wb") as handle:
                for chunk in response.iter_content(CHUNK):
                    if stop is not None and stop.is_set():
                        raise DownloadError("interrupted (the partial file is resumed next time)")
                    handle.write(chunk)
                    if on_bytes:
                        on_bytes(len(chunk))
                handle.flush()
                os.fsync(handle.fileno())
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError) as error:
        raise _Retryable(_short(error)) from error
    size = partial.stat().st_size
    if total is not None and size != total:
        if size > total:
            partial.unlink()
        raise _Retryable(f"received {size} of {total} bytes")
    return size


def fetch_file(session: requests.Session, url: str, dest: Path, partial: Path, policy: RetryPolicy,
               on_bytes: Callable[[int], None] | None = None, stop: threading.Event | None = None) -> int:
    """Download `url` to `dest` through `partial` (resumed across attempts and runs); atomic rename at the end."""
    last = ""
    for attempt in range(policy.stream_attempts):
        try:
            size = stream_once(session, url, partial, policy, on_bytes, stop)
            os.replace(partial, dest)
            return size
        except _Retryable as error:
            last = str(error)
            log.debug("retrying %s (attempt %d): %s", url, attempt + 1, last)
            if (stop or threading.Event()).wait(min(policy.backoff * 2 ** attempt, policy.backoff_max)):
                raise DownloadError("interrupted") from error
        except requests.RequestException as error:
            raise DownloadError(_short(error)) from error
    raise DownloadError(f"gave up after {policy.stream_attempts} attempts: {last}")


def remote_size(session: requests.Session, url: str, policy: RetryPolicy) -> int | None:
    try:
        response = session.head(url, timeout=policy.timeout, allow_redirects=True)
    except requests.RequestException:
        return None
    length = response.headers.get("Content-Length", "")
    return int(length) if response.status_code == 200 and length.isdigit() else None


# ------------------------------------------------------------------------------------------------- the run
@dataclass
class Outcome:
    isic_id: str
    status: str  # downloaded | skipped | failed
    bytes: int = 0
    url: str = ""
    reason: str = ""


@dataclass
class DownloadRequest:
    out: Path
    query: str = ""
    collections: list[int] = field(default_factory=list)
    limit: int | None = None
    thumbnails: bool = False
    workers: int = 8


@dataclass
class DownloadSummary:
    out: Path
    matched: int | None = None
    downloaded: int = 0
    skipped: int = 0
    failed: int = 0
    bytes: int = 0
    seconds: float = 0.0
    rows: int = 0
    failures: list[Outcome] = field(default_factory=list)


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


class Downloader:
    """Search → validate → download with a thread pool whose every result is checked → finalise."""

    def __init__(self, client: IsicClient, request: DownloadRequest,
                 on_outcome: Callable[[Outcome], None] | None = None,
                 on_bytes: Callable[[int], None] | None = None):
        self.client = client
        self.request = request
        self.on_outcome = on_outcome or (lambda outcome: None)
        self.on_bytes = on_bytes
        self.out = request.out
        self.images = self.out / "images"
        self.partials = self.out / PARTIAL_DIR
        self._stop = threading.Event()  # set on an error or Ctrl-C: running transfers stop at the next chunk

    # --- one file
    def download_one(self, record: ImageRecord) -> Outcome:
        dest = self.images / record.filename
        if dest.exists():
            on_disk = dest.stat().st_size
            if on_disk == record.size or on_disk == remote_size(self.client.session, record.url,
                                                                 self.client.policy):
                return Outcome(record.isic_id, "skipped", 0, record.url)
        partial = self.partials / (record.filename + ".part")
        try:
            size = fetch_file(self.client.session, record.url, dest, partial, self.client.policy, self.on_bytes,
                              self._stop)
        except DownloadError as error:
            return Outcome(record.isic_id, "failed", 0, record.url, str(error))
        return Outcome(record.isic_id, "downloaded", size, record.url)

    # --- the whole run
    def run(self, summary: DownloadSummary) -> DownloadSummary:
        start = time.monotonic()
        self.images.mkdir(parents=True, exist_ok=True)
        self.partials.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.out)
        journal = Journal(self.out / JOURNAL)
        records: dict[str, ImageRecord] = {}
        outcomes: dict[str, Outcome] = {}
        workers = max(1, self.request.workers)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="isic-download")
        pending: dict[Future, ImageRecord] = {}
        try:
            for batch in self.records(summary, outcomes):
                journal.add([record.row for record in batch])
                check_free_space(self.out, sum(record.size or 0 for record in batch))
                for record in batch:
                    records[record.isic_id] = record
                    pending[pool.submit(self.download_one, record)] = record
                while len(pending) > max(4 * workers, PAGE_LIMIT):
                    self._collect(pending, outcomes, wait(pending, return_when=FIRST_COMPLETED).done)
            while pending:
                self._collect(pending, outcomes, wait(pending, return_when=FIRST_COMPLETED).done)
        except BaseException:  # an error or Ctrl-C: queued files are dropped, partial files resumed next time
            self._stop.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        self.finalise(summary, records, outcomes, journal)
        summary.seconds = time.monotonic() - start
        return summary

    def records(self, summary: DownloadSummary, outcomes: dict[str, Outcome]) -> Iterator[list[ImageRecord]]:
        """Valid records, one page at a time, up to --limit; invalid ones become failures."""
        file_kind = "thumbnail_256" if self.request.thumbnails else "full"
        taken = 0
        seen: set[str] = set()
        for page_number, page in enumerate(self.client.pages(self.request.query, self.request.collections)):
            if page_number == 0:
                summary.matched = page.get("count")
            batch = []
            for raw in page.get("results") or []:
                if self.request.limit is not None and taken >= self.request.limit:
                    break
                taken += 1
                try:
                    record = parse_record(raw, file_kind)
                except BadRecord as error:
                    bad_id = str(raw.get("isic_id", "")) if isinstance(raw, dict) else ""
                    outcomes[f"bad:{taken}"] = outcome = Outcome(bad_id[:100], "failed", 0, "", str(error))
                    log.warning("refused a search result: %s", error)
                    self.on_outcome(outcome)
                    continue
                if record.isic_id in seen:
                    continue
                seen.add(record.isic_id)
                batch.append(record)
            if batch:
                yield batch
            if self.request.limit is not None and taken >= self.request.limit:
                return

    def _collect(self, pending: dict[Future, ImageRecord], outcomes: dict[str, Outcome], done: set) -> None:
        for future in done:
            record = pending.pop(future)
            try:
                outcome = future.result()
            except Exception as error:  # never drop a worker's error: it becomes a listed failure
                if isinstance(error, OSError) and error.errno in (28, 122):  # ENOSPC, EDQUOT
                    raise
                outcome = Outcome(record.isic_id, "failed", 0, record.url, f"{type(error).__name__}: {_short(error)}")
            outcomes[record.isic_id] = outcome
            self.on_outcome(outcome)

    def finalise(self, summary: DownloadSummary, records: dict[str, ImageRecord],
                 outcomes: dict[str, Outcome], journal: Journal) -> None:
        failures = [o for o in outcomes.values() if o.status == "failed"]
        rows = [records[i].row for i in sorted(records)
                if outcomes.get(i) and outcomes[i].status != "failed" and (self.images / records[i].filename).exists()]
        licence_failures = write_licences(self.client, self.out, rows)
        failures.extend(licence_failures)
        write_metadata_csv(self.out / "metadata.csv", rows)
        write_attribution(self.out / "attribution.txt", rows)
        write_failures(self.out / "failures.csv", failures)
        failed_files = {records[o.isic_id].filename + ".part" for o in failures if o.isic_id in records}
        for stale in self.partials.glob("*"):
            if stale.name not in failed_files:
                with contextlib.suppress(OSError):
                    stale.unlink()
        with contextlib.suppress(OSError):
            self.partials.rmdir()
        if not failures:
            with contextlib.suppress(FileNotFoundError):
                journal.path.unlink()
        summary.downloaded = sum(o.status == "downloaded" for o in outcomes.values())
        summary.skipped = sum(o.status == "skipped" for o in outcomes.values())
        summary.bytes = sum(o.bytes for o in outcomes.values())
        summary.failed = len(failures)
        summary.failures = failures
        summary.rows = len(rows)


def check_free_space(out: Path, needed: int, margin: int = 64 << 20) -> None:
    free = shutil.disk_usage(out).free
    if needed and free < needed + margin:
        raise UserError(f"--out '{out}': {human_bytes(free)} free on disk, the download needs about "
                        f"{human_bytes(needed)} (+{human_bytes(margin)} margin); free space or choose another --out")


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


# ------------------------------------------------------------------------------------------------- outputs
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
