"""One file: streamed into .partial/, resumed with an HTTP Range across attempts and runs, checked against the
length the server promised, and renamed into images/ only when whole — so images/ never holds a partial file.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

import requests

from skingan.data.isic.session import RETRY_STATUSES, DownloadError, RetryPolicy, short_error

log = logging.getLogger("skingan")

CHUNK = 1 << 16


class _Retryable(Exception):
    """A broken stream worth another attempt (short body, dropped connection)."""


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
        raise _Retryable(short_error(error)) from error
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
            raise DownloadError(short_error(error)) from error
    raise DownloadError(f"gave up after {policy.stream_attempts} attempts: {last}")


def remote_size(session: requests.Session, url: str, policy: RetryPolicy) -> int | None:
    try:
        response = session.head(url, timeout=policy.timeout, allow_redirects=True)
    except requests.RequestException:
        return None
    length = response.headers.get("Content-Length", "")
    return int(length) if response.status_code == 200 and length.isdigit() else None
