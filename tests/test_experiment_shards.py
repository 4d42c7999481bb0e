"""Claims that let several processes share one study folder: one holder per key, dead holders taken over,
a lock that serialises experiment.json; --shard parsing. (The sharded study itself: test_experiment.py.)"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from skingan.classifier.study_claims import HOST, ClaimBoard, Shard, parse_shard


def dead_pid() -> int:
    """The pid of a process that has just ended (the kernel does not reuse it at once)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def plant(folder: Path, key: str, number: int, **fields: object) -> Path:
    """A claim file as another process would have left it."""
    path = folder / f"{key}.{number}.claim"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"key": key, "shard": "2/2", "time": "then", "token": "x", **fields}))
    return path


def test_parse_shard_accepts_k_of_n_and_names_bad_values():
    assert parse_shard("2/4") == Shard(2, 4) and str(parse_shard("1/1")) == "1/1"
    assert Shard(2, 3).share(list(range(8))) == [1, 4, 7]
    for bad, fragment in (("0/2", "between 1 and N"), ("3/2", "between 1 and N"), ("a/b", "K/N"), ("2", "K/N"),
                          ("1/2/3", "K/N"), ("-1/2", "K/N")):
        with pytest.raises(ValueError, match=fragment):
            parse_shard(bad)


def test_a_claim_has_one_holder_until_released(tmp_path):
    board = ClaimBoard(tmp_path, shard=Shard(1, 2), timeout_s=60)
    claim = board.try_claim("real-aug/seed0")
    assert claim is not None and claim.held()
    assert board.try_claim("real-aug/seed0") is None  # this very process holds it: live
    holder = board.holder("real-aug/seed0")
    assert holder["pid"] == os.getpid() and holder["host"] == HOST and holder["shard"] == "1/2"
    claim.outcome = "finished"
    claim.release()
    record = json.loads(claim.path.read_text())
    assert record["released"] and record["outcome"] == "finished"
    again = board.try_claim("real-aug/seed0")
    assert again is not None and again.path.name == "seed0.1.claim"  # numbers only grow
    assert not claim.path.exists()  # the released claim was replaced
    again.release()


def test_dead_or_silent_holders_are_taken_over_live_ones_are_not(tmp_path):
    board = ClaimBoard(tmp_path, shard=Shard(1, 2), timeout_s=30)
    plant(tmp_path, "dead/seed0", 0, pid=dead_pid(), host=HOST)  # same host, process gone: at once
    fresh_other = plant(tmp_path, "other/seed0", 3, pid=1, host="another-node")  # another host, fresh: live
    silent_other = plant(tmp_path, "other/seed1", 0, pid=1, host="another-node")  # another host, silent: stale
    old = board.filesystem_now() - 31
    os.utime(silent_other, (old, old))
    live = plant(tmp_path, "live/seed0", 0, pid=os.getppid(), host=HOST)  # pytest's parent: alive
    assert board.holder("dead/seed0") is None and board.holder("other/seed1") is None
    assert board.holder("other/seed0")["host"] == "another-node" and board.holder("live/seed0") is not None
    taken = board.try_claim("dead/seed0")
    assert taken is not None and taken.path.name == "seed0.1.claim"
    assert not (tmp_path / "dead" / "seed0.0.claim").exists()
    assert board.try_claim("other/seed0") is None and fresh_other.exists()
    assert board.try_claim("other/seed1") is not None
    assert board.try_claim("live/seed0") is None and live.exists()
    # a live holder whose heartbeat stopped for longer than the timeout (a reused pid) counts as dead
    old = board.filesystem_now() - 31
    os.utime(live, (old, old))
    assert board.try_claim("live/seed0") is not None


def test_a_held_claim_is_kept_fresh_by_its_heartbeat(tmp_path):
    board = ClaimBoard(tmp_path, shard=Shard(), timeout_s=0.4)  # heartbeat every 0.1 s
    claim = board.try_claim("cell/seed0")
    time.sleep(1.0)
    assert board.holder("cell/seed0") is not None  # older than the timeout, but refreshed
    claim.release()
    assert board.holder("cell/seed0") is None


def _race(folder: str, keys: list[str], queue: multiprocessing.Queue) -> None:
    board = ClaimBoard(Path(folder), shard=Shard(), timeout_s=60)
    won = [key for key in keys if board.try_claim(key) is not None]  # held until the process ends
    queue.put(won)
    time.sleep(0.5)


def _count(folder: str, n: int) -> None:
    board = ClaimBoard(Path(folder), shard=Shard(), timeout_s=60)
    path = Path(folder) / "counter.json"
    for _ in range(n):
        with board.lock("counter"):
            value = json.loads(path.read_text())["n"] if path.exists() else 0
            path.write_text(json.dumps({"n": value + 1}))


def test_processes_racing_for_the_same_cells_each_get_different_ones(tmp_path):
    keys = [f"cond/seed{i}" for i in range(12)]
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_race, args=(str(tmp_path), keys, queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    won = [queue.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    flat = [key for part in won for key in part]
    assert sorted(flat) == sorted(keys)  # every key once, no key twice


def test_the_lock_serialises_read_modify_write(tmp_path):
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_count, args=(str(tmp_path), 15)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert all(worker.exitcode == 0 for worker in workers)
    assert json.loads((tmp_path / "counter.json").read_text())["n"] == 45
