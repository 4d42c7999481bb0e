"""The download run: search pages → checked records → a thread pool whose every result is checked → the outputs.

Every failure is reported, a crash keeps what was fetched, a re-run completes the set: these rules come from how
users of the official client lost runs.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from skingan.data.isic.api import PAGE_LIMIT, IsicClient
from skingan.data.isic.journal import JOURNAL, PARTIAL_DIR, Journal
from skingan.data.isic.options import DownloadOptions
from skingan.data.isic.outputs import write_attribution, write_failures, write_licences, write_metadata_csv
from skingan.data.isic.records import BadRecord, ImageRecord, Outcome, parse_record
from skingan.data.isic.session import DownloadError, short_error
from skingan.data.isic.transfer import fetch_file, remote_size
from skingan.errors import UserError
from skingan.runs import remove_stale_temporaries

log = logging.getLogger("skingan")


@dataclass
class DownloadSummary:
    """What a run did, for the closing line and the exit status."""

    out: Path
    matched: int | None = None
    downloaded: int = 0
    skipped: int = 0
    failed: int = 0
    bytes: int = 0
    seconds: float = 0.0
    rows: int = 0
    failures: list[Outcome] = field(default_factory=list)


class Downloader:
    """Search → validate → download with a thread pool whose every result is checked → finalise."""

    def __init__(self, client: IsicClient, options: DownloadOptions,
                 on_outcome: Callable[[Outcome], None] | None = None,
                 on_bytes: Callable[[int], None] | None = None):
        self.client = client
        self.options = options
        self.on_outcome = on_outcome or (lambda outcome: None)
        self.on_bytes = on_bytes
        self.out = Path(options.out)
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
        workers = max(1, self.options.workers)
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
        file_kind = "thumbnail_256" if self.options.thumbnails else "full"
        taken = 0
        seen: set[str] = set()
        for page_number, page in enumerate(self.client.pages(self.options.query, self.options.collections)):
            if page_number == 0:
                summary.matched = page.get("count")
            batch = []
            for raw in page.get("results") or []:
                if self.options.limit is not None and taken >= self.options.limit:
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
            if self.options.limit is not None and taken >= self.options.limit:
                return

    def _collect(self, pending: dict[Future, ImageRecord], outcomes: dict[str, Outcome], done: set) -> None:
        for future in done:
            record = pending.pop(future)
            try:
                outcome = future.result()
            except Exception as error:  # never drop a worker's error: it becomes a listed failure
                if isinstance(error, OSError) and error.errno in (28, 122):  # ENOSPC, EDQUOT
                    raise
                outcome = Outcome(record.isic_id, "failed", 0, record.url,
                                  f"{type(error).__name__}: {short_error(error)}")
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
