"""The HTTP side every ISIC request shares: the retry policy, the one session, and how a failure reads.

urllib3 retries statuses (429/5xx, honouring Retry-After) and connect errors inside the session; a broken body
is retried a level up, by skingan.data.isic.transfer. Messages are one line with any credentials in a URL
hidden.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from skingan.errors import UserError, one_line
from skingan.runs import redact_credentials as redact

BACKOFF_ENV = "SKINGAN_ISIC_BACKOFF"  # seconds; tests set it small so retries do not sleep long
RETRY_STATUSES = (429, 500, 502, 503, 504)


class DownloadError(Exception):
    """A file that could not be fetched after every retry."""


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


def short_error(error: Any) -> str:
    """An exception or a response body as one line of at most 300 characters, credentials hidden."""
    return redact(one_line(error, 300))
