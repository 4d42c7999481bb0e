"""The prepare pipeline: import → label filter → de-duplicate → decode once → reduce → split → caches.

Each step is a small function over a pandas table; `prepare` chains them and writes the prepared set
(see skingan.data.prepared for the on-disk contract). What to do comes in as PrepareOptions
(skingan.data.prepare_options); the images come from a data source (skingan.data.sources).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from skingan.data.images import Decoded, decode_job, decode_pil
from skingan.data.prepare_options import PrepareOptions
from skingan.data.prepared import (
    CLASS_NAMES,
    METADATA_COLUMNS,
    SPLITS,
    cache_path,
    is_prepared_set,
    open_prepared,
    write_prepared_set,
)
from skingan.data.sources.base import Imported
from skingan.data.sources.registry import get_source, import_source
from skingan.data.splits import assign_splits, normalise_split_values
from skingan.errors import UserError
from skingan.runs import remove_stale_temporaries

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("skingan")

EXTRA_COLUMNS = ("sha256", "width", "height")
OWN_ENTRIES = {"prepare.json", "metadata.csv", "cache"}
PrepareParams = PrepareOptions  # the name of the options before they were a typed config (scripts use it)


@dataclass
class PrepareResult:
    out: Path
    hash: str
    info: dict
    reused: bool = False


# ---------------------------------------------------------------- checks


def validate(options: PrepareOptions) -> None:
    """Every check that needs no input file: the values (options.check()), then the folders named."""
    try:
        options.check()
    except ValueError as error:
        raise UserError(str(error)) from error
    splits_from, root, out = options.splits_from_path, options.input_path, options.out_path
    if splits_from is not None and not is_prepared_set(splits_from):
        raise UserError(f"--splits-from '{splits_from}' is not a prepared set (no prepare.json)")
    if root is not None and out.resolve() == root.resolve():
        raise UserError(f"--out '{out}' is the --input folder; choose a separate folder for the prepared set")


def input_fingerprint(imported: Imported) -> str:
    """Cheap identity of the inputs: label files and every listed image's path, size and mtime."""
    digest = hashlib.sha256()
    paths = [*map(str, imported.files), *imported.table["path"]]
    for path in paths:
        try:
            stat = os.stat(path) if path else None
        except (OSError, ValueError):  # ValueError: a NUL byte in a name from a CSV
            stat = None
        digest.update(f"{path}|{stat.st_size if stat else -1}|{stat.st_mtime_ns if stat else -1}\n".encode())
    for image_id in sorted(imported.images):  # in-memory images (phantoms): their pixels
        digest.update(image_id.encode() + imported.images[image_id].tobytes())
    return digest.hexdigest()


def check_out(out: Path, recorded: dict, fingerprint: str, force: bool) -> dict | None:
    """The existing prepare.json when `out` already holds this exact set; raises when it holds another."""
    if not out.exists():
        return None
    if not out.is_dir():
        raise UserError(f"--out '{out}' exists and is not a folder")
    if is_prepared_set(out):
        try:
            info = json.loads((out / "prepare.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            info = {}
        same = info.get("parameters") == recorded and info.get("inputs", {}).get("fingerprint") == fingerprint
        caches_ok = all(cache_path(out, s).is_file() for s in recorded["sizes"])
        if same and caches_ok and not force:
            return info
        if not force:
            before = info.get("parameters", {})
            changed = sorted(k for k in {*recorded, *before} if before.get(k) != recorded.get(k))
            what = f"different parameters ({', '.join(changed)})" if changed else "different input files"
            raise UserError(f"--out '{out}' already holds a prepared set made with {what}; "
                            "pass --force to replace it, or choose another --out")
        return None
    foreign = sorted(p.name for p in out.iterdir() if p.name not in OWN_ENTRIES and not p.name.startswith("."))
    if foreign and not force:
        raise UserError(f"--out '{out}' is not empty and not a prepared set (it holds {', '.join(foreign[:3])}); "
                        "choose an empty or new folder, or pass --force")
    return None


# ---------------------------------------------------------------- table steps


def drop_unknown_labels(table: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    unknown = table["target"].isna()
    dropped = [{"image_id": i, "label": lab} for i, lab in zip(table.loc[unknown, "image_id"],
                                                                table.loc[unknown, "label"], strict=True)]
    return table[~unknown].reset_index(drop=True), dropped


def drop_duplicate_ids(table: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    repeated = table["image_id"].duplicated(keep="first")
    dropped = [{"image_id": i, "reason": "same image_id listed again"} for i in table.loc[repeated, "image_id"]]
    return table[~repeated].reset_index(drop=True), dropped


def drop_duplicate_bytes(table: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    repeated = table["sha256"].duplicated(keep="first")
    first = dict(zip(table.loc[~repeated, "sha256"], table.loc[~repeated, "image_id"], strict=True))
    dropped = [{"image_id": i, "same_as": first[h]} for i, h in
               zip(table.loc[repeated, "image_id"], table.loc[repeated, "sha256"], strict=True)]
    return table[~repeated].reset_index(drop=True), dropped


def cap_ratio(table: pd.DataFrame, max_ratio: float, rng: np.random.Generator) -> tuple[pd.DataFrame, int]:
    """At most `max_ratio` benign images per malignant one (benign rows are dropped at random)."""
    benign = np.flatnonzero(table["target"].to_numpy() == 0)
    allowed = int(np.floor(max_ratio * int((table["target"] == 1).sum())))
    if len(benign) <= allowed:
        return table, 0
    drop = rng.choice(benign, size=len(benign) - allowed, replace=False)
    keep = np.setdiff1d(np.arange(len(table)), drop)
    return table.iloc[keep].reset_index(drop=True), int(len(drop))


def reduce_keep_ratio(table: pd.DataFrame, n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, int]:
    """A random subset of n rows with the same class ratio (largest-remainder rounding)."""
    if n >= len(table):
        return table, 0
    targets = table["target"].to_numpy()
    classes = [np.flatnonzero(targets == c) for c in (0, 1)]
    exact = [n * len(rows) / len(table) for rows in classes]
    quota = [int(np.floor(e)) for e in exact]
    for c in np.argsort([-(e - q) for e, q in zip(exact, quota, strict=True)])[: n - sum(quota)]:
        quota[c] += 1
    keep = np.sort(np.concatenate([rng.choice(rows, size=q, replace=False) for rows, q in
                                   zip(classes, quota, strict=True)]))
    return table.iloc[keep].reset_index(drop=True), len(table) - n


# ---------------------------------------------------------------- decoding


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def init_decode_worker(parent: int) -> None:
    """Decoding processes leave Ctrl-C to the parent, and end when the parent dies (even by SIGKILL).

    A terminal's Ctrl-C reaches the whole process group: workers dying of it broke the pool and hung the parent;
    and workers of a killed parent waited for work forever.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=exit_with_parent, args=(parent,), daemon=True, name="exit-with-parent").start()


@contextlib.contextmanager
def sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C back until the block is done, then raise it.

    A KeyboardInterrupt between ProcessPoolExecutor forking its workers and starting its manager thread leaves
    workers that nobody stops, and the interpreter waits for them forever at exit. (Blocking the signal with
    pthread_sigmask is not enough: numpy's threads would still take it.) Forked workers inherit this handler
    until their initializer ignores Ctrl-C.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def exit_with_parent(parent: int, interval: float = 0.5) -> None:
    while os.getppid() == parent:
        time.sleep(interval)
    os._exit(1)


def decode_all(table: pd.DataFrame, images: dict, sizes: list[int], resize: str, draft: bool,
               workers: int) -> tuple[dict[int, np.ndarray], list[dict], list[str | None]]:
    """Decode every row once (in parallel processes); returns caches, per-row facts and per-row errors."""
    from tqdm import tqdm

    n = len(table)
    caches = {s: np.zeros((n, s, s, 3), dtype=np.uint8) for s in sizes}
    facts: list[dict] = [{} for _ in range(n)]
    errors: list[str | None] = [None] * n

    def store(row: int, decoded: Decoded | None, reason: str | None) -> None:
        if decoded is None:
            errors[row] = reason or "unknown decoding error"
            return
        for s in sizes:
            caches[s][row] = decoded.arrays[s]
        facts[row] = {"sha256": decoded.sha256, "width": decoded.width, "height": decoded.height}

    files = []
    for row, (image_id, path) in enumerate(zip(table["image_id"], table["path"], strict=True)):
        if image_id in images:
            store(row, decode_pil(images[image_id], sizes, resize), None)
        elif not path:
            errors[row] = "no image file found for this id under --input"
        else:
            files.append(row)
    jobs = [(table["path"].iat[row], sizes, resize, draft) for row in files]
    workers = workers or default_workers()
    bar = tqdm(total=len(jobs), desc="decoding", unit="img", disable=None, leave=False)
    if workers <= 1 or len(jobs) < 16:
        results = map(decode_job, jobs)
        for row, (decoded, reason) in zip(files, results, strict=True):
            store(row, decoded, reason)
            bar.update()
    else:
        chunk = max(1, min(32, len(jobs) // (workers * 8)))
        pool = ProcessPoolExecutor(max_workers=workers, initializer=init_decode_worker, initargs=(os.getpid(),))
        try:
            with sigint_deferred():  # the workers are forked here
                results = pool.map(decode_job, jobs, chunksize=chunk)
            for row, (decoded, reason) in zip(files, results, strict=True):
                store(row, decoded, reason)
                bar.update()
        except BrokenProcessPool as error:
            raise UserError(f"a decoding process died (out of memory?) with --workers {workers}; "
                            "try fewer, e.g. --workers 1") from error
        finally:  # on Ctrl-C: drop the queued images, wait only for the few being decoded
            pool.shutdown(wait=True, cancel_futures=True)
    bar.close()
    return caches, facts, errors


# ---------------------------------------------------------------- the pipeline


def relative_path(path: str, root: Path | None) -> str:
    if not path or root is None:
        return path
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(Path(path).resolve())


def kept_splits(table: pd.DataFrame, options: PrepareOptions) -> tuple[pd.Series | None, bool]:
    """The split column to keep (and whether to carve missing splits), from --keep-split or --splits-from, or
    the source's own official split (a source with `own_split`, e.g. medmnist)."""
    if get_source(options.source).own_split:
        return normalise_split_values(table["split"], f"--source {options.source}"), False
    if options.keep_split:
        return normalise_split_values(table["split"], options.keep_split), True
    if options.splits_from is not None:
        other = open_prepared(options.splits_from).metadata
        mapping = dict(zip(other["image_id"], other["split"], strict=True))
        if "sha256" in other.columns:
            by_bytes = dict(zip(other["sha256"], other["split"], strict=True))
            mapping.update({i: by_bytes[h] for i, h in zip(table["image_id"], table["sha256"], strict=True)
                            if h in by_bytes and i not in mapping})
        return table["image_id"].map(mapping).fillna(""), False
    return None, True


def split_origin(options: PrepareOptions) -> dict[str, str]:
    """The flag a kept split came from (named when it is refused) and how prepare.json describes it."""
    if get_source(options.source).own_split:
        return {"flag": f"--source {options.source} (its official split)",
                "method": f"kept the official split of --source {options.source}"}
    if options.splits_from is not None:
        return {"flag": f"--splits-from {options.splits_from}", "method": "kept given splits"}
    return {"flag": f"--keep-split {options.keep_split}", "method": "kept given splits"}


def build_metadata(table: pd.DataFrame, root: Path | None) -> pd.DataFrame:
    metadata = table.copy()
    metadata["path"] = [relative_path(p, root) if p else f"{s}:{i}" for p, s, i in
                        zip(table["path"], table["source"], table["image_id"], strict=True)]
    metadata["target"] = metadata["target"].astype(int)
    return metadata[[*METADATA_COLUMNS, *EXTRA_COLUMNS]]


def count_table(metadata: pd.DataFrame) -> dict[str, dict[str, int]]:
    return {split: {name: int(((metadata["split"] == split) & (metadata["target"] == c)).sum())
                    for c, name in enumerate(CLASS_NAMES)} for split in SPLITS}


def prepare(options: PrepareOptions) -> PrepareResult:
    """Run the whole pipeline; returns where the set is, its hash and prepare.json's content."""
    started = time.time()
    validate(options)
    out, root = options.out_path, options.input_path
    imported = import_source(options.source, root, options)
    listed = len(imported.table)
    recorded = options.recorded()
    fingerprint = input_fingerprint(imported)
    existing = check_out(out, recorded, fingerprint, options.force)
    if existing is not None:
        log.info("'%s' already holds this prepared set (same inputs and parameters); reusing it", out)
        remove_stale_temporaries(out)  # a killed --force run may have left some beside the kept set
        return PrepareResult(out, existing["hash"], existing, reused=True)

    table, unknown = drop_unknown_labels(imported.table)
    table, duplicate_ids = drop_duplicate_ids(table)
    caches, facts, errors = decode_all(table, imported.images, options.sizes, options.resize, options.draft,
                                       options.workers)
    skipped = [{"image_id": i, "path": p, "reason": e} for i, p, e in
               zip(table["image_id"], table["path"], errors, strict=True) if e]
    if skipped and options.strict:
        first = skipped[0]
        raise UserError(f"{len(skipped)} image(s) could not be used (--strict), first: "
                        f"'{first['path'] or first['image_id']}': {first['reason']}")
    good = np.array([e is None for e in errors], dtype=bool)
    for column in ("sha256", "width", "height"):
        table[column] = [f.get(column, "") for f in facts]
    table["_row"] = np.arange(len(table))
    table = table[good].reset_index(drop=True)
    table, duplicate_bytes = drop_duplicate_bytes(table)

    rng = np.random.default_rng(options.seed)
    capped = reduced = 0
    if options.max_ratio is not None:
        table, capped = cap_ratio(table, options.max_ratio, rng)
    if options.reduce is not None:
        table, reduced = reduce_keep_ratio(table, options.reduce, rng)
    if table.empty or table["target"].nunique() < 2:
        have = "no images" if table.empty else f"only class {CLASS_NAMES[int(table['target'].iat[0])]}"
        raise UserError(f"--input '{root}': after filtering there are {have}; both benign and malignant "
                        f"images are needed ({len(unknown)} unknown labels, {len(skipped)} unreadable files)")

    kept, carve = kept_splits(table, options)
    table["split"], split_info = assign_splits(table, val_size=options.val_size, test_size=options.test_size,
                                               seed=options.seed, kept=kept, carve_missing=carve,
                                               regroup=options.regroup, **split_origin(options))
    metadata = build_metadata(table, root)
    rows = table["_row"].to_numpy()
    unchanged = len(rows) == len(caches[options.sizes[0]]) and np.array_equal(rows, np.arange(len(rows)))
    arrays = caches if unchanged else {s: caches[s][rows] for s in options.sizes}
    del caches

    info = {
        "source": options.source,
        "inputs": {"input": str(root.resolve()) if root else None,
                   "files": [str(Path(f).resolve()) for f in imported.files[:20]],
                   "rows_listed": listed, "fingerprint": fingerprint},
        "parameters": recorded,
        "seed": options.seed,
        "counts": count_table(metadata),
        "total": int(len(metadata)),
        "skipped": skipped,
        "dropped": {"unknown_label": unknown, "duplicate_id": duplicate_ids,
                    "duplicate_bytes": duplicate_bytes, "by_source_rules": imported.dropped,
                    "max_ratio": capped, "reduce": reduced},
        "split": split_info,
        "notes": imported.notes,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "elapsed_s": round(time.time() - started, 2),
        "workers": options.workers or default_workers(),
    }
    content_hash = write_prepared_set(out, metadata, arrays, info)
    remove_stale_caches(out, options.sizes)  # after: a failed write must leave the older set whole
    info["hash"] = content_hash
    return PrepareResult(out, content_hash, info)


def remove_stale_caches(out: Path, sizes: list[int]) -> None:
    """With --force, caches of sizes no longer asked for would otherwise survive beside the new ones."""
    folder = out / "cache"
    if folder.is_dir():
        for path in folder.glob("*.npy"):
            if path.stem.isdigit() and int(path.stem) not in sizes:
                path.unlink()
