"""ISIC Archive API v2 → a download folder: search, page, download, resume, licences — and lose nothing.

    OUT/
      images/<isic_id>.<ext>     one file per image, renamed into place only when complete
      metadata.csv               isic_id, attribution, copyright_license, then the sorted union of metadata keys
      attribution.txt            unique attributions by image count, "Anonymous" last
      licenses/<licence>.txt     full licence texts
      failures.csv               isic_id, url, reason for anything that could not be fetched
      download.json              the options of the last run (`skingan download`)
      metadata.partial.jsonl     journal of records as pages arrive (kept until a run completes without failures)
      .partial/                  files being downloaded (resumed with HTTP Range, removed when no longer needed)

One module per job, in the order a download meets them:

    session.py     the retry policy and the one HTTP session; DownloadError; one-line error text
    api.py         IsicClient (one method per API endpoint), the --query/--collections checks, estimate()
    records.py     a search result → a checked ImageRecord (or BadRecord); Outcome, what became of it
    transfer.py    one file: streamed into .partial/, resumed with Range, renamed into images/ when whole
    journal.py     what lets a killed run resume: the record journal, .partial/, the one-run-per-folder lock
    downloader.py  the run: pages → thread pool → every result checked → outputs; the free-space check
    outputs.py     metadata.csv, attribution.txt, failures.csv, licenses/
    options.py     DownloadOptions, the typed options of `skingan download`, and its record download.json

Facts about the API are in docs/isic-api.md of the shared docs; the reliability rules come from how users of the
official client lost runs: every failure is reported, a crash keeps what was fetched, a re-run completes the set.
This module only gathers the public names, so `from skingan.data import isic` reaches all of them.
"""

from skingan.data.isic.api import (
    API_URL_ENV,
    DEFAULT_API_URL,
    PAGE_LIMIT,
    REMOVED_FIELDS,
    Estimate,
    IsicClient,
    check_api_url,
    check_query,
    estimate,
    parse_collections,
    resolve_api_url,
)
from skingan.data.isic.downloader import Downloader, DownloadSummary, check_free_space, human_bytes
from skingan.data.isic.journal import JOURNAL, LOCK_FILE, PARTIAL_DIR, Journal, exclusive_lock
from skingan.data.isic.options import RECORD, DownloadOptions, DownloadRequest, write_record
from skingan.data.isic.outputs import (
    FAILURE_COLUMNS,
    attribution_text,
    metadata_columns,
    write_attribution,
    write_failures,
    write_licences,
    write_metadata_csv,
)
from skingan.data.isic.records import (
    ALLOWED_EXTENSIONS,
    FIXED_COLUMNS,
    ISIC_ID,
    LICENCE_NAME,
    BadRecord,
    ImageRecord,
    Outcome,
    file_extension,
    flatten_metadata,
    parse_record,
)
from skingan.data.isic.session import BACKOFF_ENV, RETRY_STATUSES, DownloadError, RetryPolicy, build_session
from skingan.data.isic.transfer import CHUNK, fetch_file, remote_size, stream_once

__all__ = [
    "ALLOWED_EXTENSIONS", "API_URL_ENV", "BACKOFF_ENV", "CHUNK", "DEFAULT_API_URL", "FAILURE_COLUMNS",
    "FIXED_COLUMNS", "ISIC_ID", "JOURNAL", "LICENCE_NAME", "LOCK_FILE", "PAGE_LIMIT", "PARTIAL_DIR", "RECORD",
    "REMOVED_FIELDS", "RETRY_STATUSES", "BadRecord", "DownloadError", "DownloadOptions", "DownloadRequest",
    "DownloadSummary", "Downloader", "Estimate", "ImageRecord", "IsicClient", "Journal", "Outcome", "RetryPolicy",
    "attribution_text", "build_session", "check_api_url", "check_free_space", "check_query", "estimate",
    "exclusive_lock", "fetch_file", "file_extension", "flatten_metadata", "human_bytes", "metadata_columns",
    "parse_collections", "parse_record", "remote_size", "resolve_api_url", "stream_once", "write_attribution",
    "write_failures", "write_licences", "write_metadata_csv", "write_record",
]
