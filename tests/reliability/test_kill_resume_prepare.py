"""`skingan prepare` killed at any moment (SIGKILL at seeded random delays, and exactly mid-decode and mid-cache-write)
or interrupted (Ctrl-C to the whole process group), then re-run: the result equals an uninterrupted run byte for
byte, nothing half-written is ever read as complete, no temporary file or decoding process is left behind."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import REPO, run_skingan
from reliability.conftest import write_subset_csv
from skingan.data.prepared import hash_files, is_prepared_set, open_prepared
from skingan.errors import UserError
from skingan.runs import TMP_PREFIX

VOLATILE = ("created_utc", "elapsed_s")  # prepare.json keys that record when and how fast, not what
SIZES = ("32", "256")  # 256 px: the 240-image cache is 47 MB, so a kill can land while it is being written
N_IMAGES = 240


@dataclass
class Reference:
    args: list[str]
    out: Path
    wall: float
    files: dict[str, bytes]
    info: dict


def folder_args(isic2017: Path, labels: Path, out: Path) -> list[str]:
    return ["prepare", "--source", "folder", "--input", str(isic2017), "--labels", str(labels), "--id-col", "isic_id",
            "--sizes", *SIZES, "--workers", "2", "--out", str(out)]


def phantom_args(out: Path) -> list[str]:
    return ["prepare", "--source", "phantom", "--n", "48", "--sizes", "32", "64", "--seed", "3", "--out", str(out)]


def snapshot(out: Path) -> dict[str, bytes]:
    """Every file of a prepared set by relative path (prepare.json without its volatile keys)."""
    files = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file() and not p.name.startswith(TMP_PREFIX)):
        data = path.read_bytes()
        if path.name == "prepare.json":
            info = json.loads(data)
            data = json.dumps({k: v for k, v in info.items() if k not in VOLATILE}, sort_keys=True).encode()
        files[path.relative_to(out).as_posix()] = data
    return files


def make_reference(args: list[str], out: Path) -> Reference:
    start = time.monotonic()
    result = run_skingan(*args[:-1], out, timeout=300)
    wall = time.monotonic() - start
    assert result.returncode == 0, result.stderr
    return Reference(args, out, wall, snapshot(out), json.loads((out / "prepare.json").read_text()))


@pytest.fixture(scope="module")
def folder_reference(isic2017: Path, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    root = tmp_path_factory.mktemp("kill_prepare")
    labels = write_subset_csv(isic2017, root / "labels.csv", N_IMAGES)
    out = root / "reference"
    return make_reference(folder_args(isic2017, labels, out), out)


@pytest.fixture(scope="module")
def phantom_reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    out = tmp_path_factory.mktemp("kill_phantom") / "reference"
    return make_reference(phantom_args(out), out)


# ----------------------------------------------------------------------------------------------- processes
def start(args: list[str], logs: Path) -> subprocess.Popen:
    """`python -m skingan ARGS` in its own process group (as a shell job is), output to files."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("SKINGAN_DEBUG", None)
    logs.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "skingan", *args], cwd=REPO, env=env, start_new_session=True,
                            stdout=open(logs / "stdout.txt", "w"), stderr=open(logs / "stderr.txt", "w"))


def children(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found.update(int(c) for c in handle.read().split())
    except OSError:
        pass
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.001) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


def cache_being_written(out: Path) -> bool:
    folder = out / "cache"
    try:
        return any(entry.name.startswith(f"{TMP_PREFIX}256.npy") and entry.stat().st_size > 0
                   for entry in os.scandir(folder))
    except OSError:
        return False


def kill_leftovers(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def phase(out: Path) -> str:
    """Where a killed run stopped, judged from what it left on disk."""
    if is_prepared_set(out):
        return "complete"
    if out.exists() and any(out.rglob("*.npy*")):
        return "mid-write"
    return "before-write"


# ----------------------------------------------------------------------------------------------- checks
def assert_never_read_as_complete(out: Path) -> None:
    """A killed run's folder is either a whole, hash-consistent set or refused by open_prepared."""
    if is_prepared_set(out):
        info = json.loads((out / "prepare.json").read_text())
        files = [out / "metadata.csv", *(out / "cache" / f"{s}.npy" for s in info["sizes"])]
        assert hash_files(files) == info["hash"]
        open_prepared(out).images(int(info["sizes"][0]))
    elif out.exists():
        with pytest.raises(UserError, match="not a prepared set"):
            open_prepared(out)


def assert_no_orphans(pids: set[int]) -> None:
    assert wait_until(lambda: not any(alive(p) for p in pids), 5.0, 0.05), \
        f"decoding processes {sorted(p for p in pids if alive(p))} outlived their killed parent"


def rerun_and_compare(reference: Reference, out: Path) -> None:
    result = run_skingan(*reference.args[:-1], out, timeout=300)
    assert result.returncode == 0, result.stderr
    assert snapshot(out) == reference.files  # same file set, same bytes (prepare.json up to its timestamps)
    assert json.loads((out / "prepare.json").read_text())["hash"] == reference.info["hash"]
    assert not list(out.rglob(f"{TMP_PREFIX}*"))


def kill_and_resume(reference: Reference, tmp_path: Path, trigger: Callable[[subprocess.Popen, Path], object],
                    sig: int = signal.SIGKILL) -> tuple[str, subprocess.Popen]:
    out = tmp_path / "out"
    args = [*reference.args[:-1], str(out)]
    process = start(args, tmp_path / "logs")
    workers: set[int] = set()
    try:
        trigger(process, out)
        workers = children(process.pid)
        if sig == signal.SIGINT:
            os.killpg(process.pid, sig)  # what Ctrl-C in a terminal does: the whole foreground group
        else:
            process.send_signal(sig)  # what `kill -9 PID` or the OOM killer does: the parent alone
        process.wait(timeout=60)
        landed = phase(out)
        if sig == signal.SIGKILL:
            assert_no_orphans(workers)
    finally:
        kill_leftovers(process)
    assert_never_read_as_complete(out)
    rerun_and_compare(reference, out)
    return landed, process


# ----------------------------------------------------------------------------------------------- tests
def test_reference_run_is_complete(folder_reference):
    assert folder_reference.info["total"] == N_IMAGES
    assert set(folder_reference.files) == {"prepare.json", "metadata.csv", "cache/32.npy", "cache/256.npy"}


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_sigkill_at_a_random_moment_then_rerun_is_identical(folder_reference, tmp_path, seed):
    delay = random.Random(seed).uniform(0.2, 0.9) * folder_reference.wall
    landed, process = kill_and_resume(folder_reference, tmp_path, lambda p, out: time.sleep(delay))
    print(f"seed {seed}: killed after {delay:.2f} s of {folder_reference.wall:.2f} s, {landed}")
    assert process.returncode in (-signal.SIGKILL, 0)


def test_sigkill_mid_decode_leaves_no_orphan_workers(folder_reference, tmp_path):
    def while_decoding(process: subprocess.Popen, out: Path) -> None:
        assert wait_until(lambda: bool(children(process.pid)), 60, 0.005), "the decoding pool never started"
        time.sleep(0.1)

    landed, process = kill_and_resume(folder_reference, tmp_path, while_decoding)
    assert process.returncode == -signal.SIGKILL and landed == "before-write"


def test_sigkill_mid_cache_write(folder_reference, tmp_path):
    def while_writing(process: subprocess.Popen, out: Path) -> None:
        assert wait_until(lambda: cache_being_written(out) or process.poll() is not None, 60), "never wrote"

    for attempt in range(3):  # the 47 MB write lasts tens of milliseconds; a busy machine may hide it once
        landed, process = kill_and_resume(folder_reference, tmp_path / str(attempt), while_writing)
        if landed == "mid-write":
            break
    assert landed == "mid-write" and process.returncode == -signal.SIGKILL


@pytest.mark.parametrize("moment", ["mid-decode", "mid-write"])
def test_ctrl_c_stops_cleanly_and_says_how_to_resume(folder_reference, tmp_path, moment):
    def trigger(process: subprocess.Popen, out: Path) -> None:
        if moment == "mid-decode":
            assert wait_until(lambda: bool(children(process.pid)), 60, 0.005)
        else:
            assert wait_until(lambda: cache_being_written(out) or process.poll() is not None, 60)

    for attempt in range(3):  # retried when the run finished before the signal (a busy machine)
        start_time = time.monotonic()
        _, process = kill_and_resume(folder_reference, tmp_path / str(attempt), trigger, sig=signal.SIGINT)
        if process.returncode != 0:
            break
    stderr = (tmp_path / str(attempt) / "logs" / "stderr.txt").read_text()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr and "Run the same command again" in stderr
    assert time.monotonic() - start_time < 60


@pytest.mark.parametrize("seed", [0, 1])
def test_phantom_sigkill_then_rerun_is_identical(phantom_reference, tmp_path, seed):
    delay = random.Random(100 + seed).uniform(0.3, 1.0) * phantom_reference.wall
    landed, _ = kill_and_resume(phantom_reference, tmp_path, lambda p, out: time.sleep(delay))
    print(f"phantom seed {seed}: killed after {delay:.2f} s of {phantom_reference.wall:.2f} s, {landed}")


def test_a_completed_set_survives_a_killed_force_rerun(folder_reference, tmp_path):
    """A --force run killed while writing leaves the older complete set in place, still whole and usable."""
    out = tmp_path / "out"
    first = run_skingan(*folder_reference.args[:-1], out, "--val-size", "0.2", timeout=300)
    assert first.returncode == 0, first.stderr
    older = snapshot(out)
    process = start([*folder_reference.args[:-1], str(out), "--force"], tmp_path / "logs")
    try:
        assert wait_until(lambda: cache_being_written(out) or process.poll() is not None, 60)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        kill_leftovers(process)
    if is_prepared_set(out):  # killed before the renames: the older set; after them: the new one
        assert snapshot(out) in (older, folder_reference.files)
    assert_never_read_as_complete(out)
    result = run_skingan(*folder_reference.args[:-1], out, "--force", timeout=300)
    assert result.returncode == 0, result.stderr
    assert snapshot(out) == folder_reference.files and not list(out.rglob(f"{TMP_PREFIX}*"))
