"""Claims that let several processes share one study folder: each cell is trained by exactly one of them.

A claim on a key (a cell, or the short-lived lock around experiment.json) is a numbered file
`claims/<key>.<n>.claim` holding who took it (pid, host, shard, time). Taking one is one atomic filesystem
operation: a complete temporary file is hard-linked to the next number, which fails when that number exists
(`os.link` is atomic on local disks and on NFS). Numbers only grow (a released claim is kept, marked released,
until the next holder replaces it), so the highest number is always the current holder.

A holder keeps its claim fresh: a thread touches the file every `timeout / 4` seconds (at most a minute). A
claim is free when it is released, or stale when its holder is dead: on the same host, when its pid is gone
(at once) or its file has not been touched for `timeout` seconds; on another host (a shared filesystem), when
its file has not been touched for `timeout` seconds. File ages are measured against a file touched on the same
filesystem, so clocks that differ between hosts do not matter. A stale claim is taken over by the next number.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from skingan.runs import atomic_write_json, process_exists

log = logging.getLogger("skingan")

CLAIMS = "claims"
SUFFIX = ".claim"
DEFAULT_TIMEOUT_S = 600.0
LOCK_TIMEOUT_S = 120.0  # the experiment.json lock is held for milliseconds; a dead holder frees it sooner
HOST = socket.gethostname()


@dataclass(frozen=True)
class Shard:
    """Shard K of N (1 ≤ K ≤ N): takes every N-th unfinished cell, starting at the K-th."""

    index: int = 1
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ValueError(f"shard {self.index}/{self.count}: K must be 1 … N")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def share(self, items: list) -> list:
        return items[self.index - 1::self.count]


def parse_shard(text: str) -> Shard:
    """'K/N' → Shard; ValueError naming the value and what is accepted otherwise."""
    parts = text.split("/")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"'{text}' is not K/N (two whole numbers, e.g. 1/4)")
    index, count = int(parts[0]), int(parts[1])
    if not 1 <= index <= count:
        raise ValueError(f"'{text}': K must be between 1 and N (e.g. 1/{max(count, 1)} … {max(count, 1)}/"
                         f"{max(count, 1)})")
    return Shard(index, count)


class Claim:
    """A held claim; `release()` (or leaving its `with`) marks it released with `outcome`."""

    def __init__(self, path: Path, record: dict, heartbeat_s: float) -> None:
        self.path, self.record, self.outcome = path, record, "released"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(heartbeat_s,), daemon=True,
                                        name=f"claim-heartbeat-{path.name}")
        self._thread.start()

    def _beat(self, interval: float) -> None:
        warned = False
        while not self._stop.wait(interval):
            try:
                os.utime(self.path)
            except FileNotFoundError:
                if not warned:
                    log.warning("claim %s was taken over by another process (this one looked dead to it)",
                                self.path)
                    warned = True

    def held(self) -> bool:
        """Whether this claim is still the newest for its key (nobody took it over)."""
        return _newest(self.path.parent, self.path.name.rsplit(".", 2)[0])[0] == self.path

    def release(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        record = {**self.record, "released": True, "outcome": self.outcome,
                  "released_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if self.path.exists():
            atomic_write_json(self.path, record)

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, kind: type | None, *_: object) -> None:
        if kind is not None and self.outcome == "released":
            self.outcome = "interrupted" if issubclass(kind, KeyboardInterrupt) else "failed"
        self.release()


class ClaimBoard:
    """The claims of one study folder (`folder` is OUT/claims)."""

    def __init__(self, folder: Path, *, shard: Shard, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if not timeout_s > 0:
            raise ValueError(f"claim timeout {timeout_s} s must be positive")
        self.folder, self.shard, self.timeout_s = folder, shard, float(timeout_s)
        self.heartbeat_s = min(60.0, self.timeout_s / 4)
        self._clock = folder / f".clock-{HOST}"  # touched by every process of this host; never removed

    # ---------------------------------------------------------------------------------- reading
    def filesystem_now(self) -> float:
        """The filesystem's clock (the mtime of a file touched just now), which claim ages are measured on."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._clock.touch()
        return self._clock.stat().st_mtime

    def holder(self, key: str, timeout_s: float | None = None) -> dict | None:
        """The live holder of `key` (its record), or None when the key is free (never taken, released, stale).
        A claim file that cannot be read (being written where hard links are not supported) is live while
        it is younger than the timeout."""
        path, record = _newest(self.folder, key)
        if path is None or (record is not None and record.get("released")):
            return None
        try:
            age = self.filesystem_now() - path.stat().st_mtime
        except FileNotFoundError:
            return None
        if age > (self.timeout_s if timeout_s is None else timeout_s):
            return None
        if record is None:
            return {"key": key, "unreadable": str(path)}
        if record.get("host") == HOST and not process_exists(int(record.get("pid", -1))):
            return None
        return record

    # ---------------------------------------------------------------------------------- taking
    def try_claim(self, key: str, timeout_s: float | None = None) -> Claim | None:
        """Take `key` when it is free or stale; None when a live process holds it."""
        while True:
            path, record = _newest(self.folder, key)
            if path is not None and record is None:  # vanished or unreadable: read again
                if not path.exists():
                    continue
                record = {}
            if path is not None and self.holder(key, timeout_s) is not None:
                return None
            number = -1 if path is None else _number(path)
            mine = self.folder / f"{key}.{number + 1}{SUFFIX}"
            claim = self._link(mine, key)
            if claim is None:
                continue  # another process took this number first: look again
            newest, _ = _newest(self.folder, key)
            if newest != mine:  # a higher number appeared meanwhile: theirs wins
                claim.outcome = "superseded"
                claim.release()
                continue
            for older in _numbered(self.folder, key):
                if _number(older) < number + 1:
                    with contextlib.suppress(FileNotFoundError):
                        older.unlink()
            if path is not None and not record.get("released"):
                log.warning("claim %s: its holder (pid %s on %s, shard %s) is gone; took it over", key,
                            record.get("pid"), record.get("host"), record.get("shard"))
            return claim

    @contextlib.contextmanager
    def lock(self, key: str, wait_s: float = 3600.0) -> Iterator[Claim]:
        """Hold `key` for a short critical section, waiting while a live process holds it."""
        deadline = time.monotonic() + wait_s
        delay = 0.02
        while (claim := self.try_claim(key, LOCK_TIMEOUT_S)) is None:
            if time.monotonic() > deadline:
                holder = self.holder(key, LOCK_TIMEOUT_S) or {}
                raise TimeoutError(f"'{self.folder / key}' is held by pid {holder.get('pid')} on "
                                   f"{holder.get('host')} for more than {wait_s:g} s")
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        with claim:
            yield claim

    def _link(self, target: Path, key: str) -> Claim | None:
        record = {"key": key, "pid": os.getpid(), "host": HOST, "shard": str(self.shard),
                  "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "token": uuid.uuid4().hex}
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".tmp-{target.name}.{record['token']}"
        tmp.write_text(json.dumps(record) + "\n")
        try:
            os.link(tmp, target)
        except FileExistsError:
            return None
        except OSError:  # a filesystem without hard links: exclusive create, then the content
            try:
                descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                return None
            with os.fdopen(descriptor, "w") as handle:
                handle.write(json.dumps(record) + "\n")
        finally:
            tmp.unlink()
        return Claim(target, record, self.heartbeat_s)


# -------------------------------------------------------------------------------------- files
def _numbered(folder: Path, key: str) -> list[Path]:
    base = folder / key
    if not base.parent.is_dir():
        return []
    prefix = f"{base.name}."
    return [p for p in base.parent.iterdir()
            if p.name.startswith(prefix) and p.name.endswith(SUFFIX) and p.name[len(prefix):-len(SUFFIX)].isdigit()]


def _number(path: Path) -> int:
    return int(path.name[:-len(SUFFIX)].rsplit(".", 1)[1])


def _newest(folder: Path, key: str) -> tuple[Path | None, dict | None]:
    """The highest-numbered claim file of `key` and its record (None when it cannot be read)."""
    files = _numbered(folder, key)
    if not files:
        return None, None
    path = max(files, key=_number)
    try:
        return path, json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return path, None
