"""`skingan download` killed (SIGKILL at seeded random moments) or interrupted (Ctrl-C to the whole process group)
against the local ISIC API v2 mock, then re-run: the folder equals an uninterrupted download file for file, no
partial image is ever in images/, nothing half-written is read as a finished download.

tests/test_download.py already kills one run once progress is visible and sends SIGINT to the parent alone;
these add seeded kill times, the terminal's Ctrl-C (process group) and the hand-over to `skingan prepare`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, assert_clean_error, run_skingan
from isic_mock_server import Faults, MockIsicServer, build_images
from skingan.data import isic
from skingan.runs import TMP_PREFIX

N_IMAGES = 60  # the 40 real full-resolution originals (~0.4 MB each) and 20 ISIC 2017 images


@pytest.fixture(scope="module")
def images(shared_data: Path):
    return build_images(shared_data, N_IMAGES)


def folder_files(out: Path) -> dict[str, str]:
    """sha256 of every file under a download folder, by relative path; download.json without its API URL, the
    address of the mock server each test starts."""
    files = {}
    for path in sorted(out.rglob("*")):
        if not path.is_file() or path.name == isic.LOCK_FILE:
            continue
        data = path.read_bytes()
        if path.relative_to(out).as_posix() == isic.RECORD:
            record = json.loads(data)
            assert record["options"].pop("api_url").startswith("http://127.0.0.1:")
            data = json.dumps(record, sort_keys=True).encode()
        files[path.relative_to(out).as_posix()] = hashlib.sha256(data).hexdigest()
    return files


@pytest.fixture(scope="module")
def reference(images, tmp_path_factory) -> tuple[dict[str, str], float]:
    """An uninterrupted download (no delays) and how long the delayed runs below take uninterrupted."""
    out = tmp_path_factory.mktemp("download_reference") / "isic"
    with MockIsicServer(images) as server:
        result = run_skingan("download", "--out", out, "--api-url", server.api_url, "--workers", "3",
                             env={isic.BACKOFF_ENV: "0.01"}, timeout=180)
    assert result.returncode == 0, result.stderr
    files = folder_files(out)
    for image in images:
        assert files[f"images/{image.isic_id}.jpg"] == image.sha256
    assert isic.RECORD in files  # the options of the run, which every resumed run must leave the same
    return files, slowed_wall(images, tmp_path_factory.mktemp("download_timing") / "isic")


def slow_faults() -> Faults:
    return Faults(latency=0.01, body_delay=0.01)


def slowed_wall(images, out: Path) -> float:
    with MockIsicServer(images, slow_faults()) as server:
        start = time.monotonic()
        result = run_skingan("download", "--out", out, "--api-url", server.api_url, "--workers", "3",
                             env={isic.BACKOFF_ENV: "0.01"}, timeout=180)
    assert result.returncode == 0, result.stderr
    return time.monotonic() - start


def start(server: MockIsicServer, out: Path, logs: Path) -> subprocess.Popen:
    env = {**os.environ, isic.BACKOFF_ENV: "0.01", "PYTHONUNBUFFERED": "1"}
    env.pop(isic.API_URL_ENV, None)
    logs.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "skingan", "download", "--out", str(out), "--api-url", server.api_url,
               "--workers", "3"]
    return subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True,
                            stdout=open(logs / "stdout.txt", "w"), stderr=open(logs / "stderr.txt", "w"))


def assert_only_whole_images(out: Path, images) -> int:
    """Every file in images/ is a complete served image (partial bytes live only in .partial/)."""
    served = {f"{im.isic_id}.jpg": im.sha256 for im in images}
    present = list((out / "images").glob("*")) if (out / "images").exists() else []
    for path in present:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == served[path.name], path.name
    return len(present)


def rerun(server: MockIsicServer, out: Path) -> subprocess.CompletedProcess:
    server.faults.latency = server.faults.body_delay = 0
    return run_skingan("download", "--out", out, "--api-url", server.api_url, "--workers", "3",
                       env={isic.BACKOFF_ENV: "0.01"}, timeout=180)


def assert_same_as_reference(out: Path, reference_files: dict[str, str]) -> None:
    assert folder_files(out) == reference_files  # same file set, same bytes: images, metadata, licences
    assert not (out / isic.PARTIAL_DIR).exists() and not (out / isic.JOURNAL).exists()
    assert not list(out.rglob(f"{TMP_PREFIX}*"))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_sigkill_at_a_random_moment_then_rerun_is_identical(images, reference, tmp_path, seed):
    reference_files, wall = reference
    delay = random.Random(seed).uniform(0.15, 0.9) * wall
    out = tmp_path / "isic"
    with MockIsicServer(images, slow_faults()) as server:
        process = start(server, out, tmp_path / "logs")
        try:
            time.sleep(delay)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        whole = assert_only_whole_images(out, images)
        finished = process.returncode == 0
        if not finished:  # a killed run is never mistaken for a finished download
            assert not (out / "metadata.csv").exists() or (out / isic.JOURNAL).exists() or whole == N_IMAGES
        print(f"seed {seed}: killed after {delay:.2f} s of {wall:.2f} s with {whole} whole images on disk")
        result = rerun(server, out)
    assert result.returncode == 0, result.stderr
    assert f"skipped {whole} (already present)" in result.stdout or finished
    assert_same_as_reference(out, reference_files)


def test_ctrl_c_to_the_process_group_stops_cleanly_and_resumes(images, reference, tmp_path):
    reference_files, _ = reference
    out = tmp_path / "isic"
    with MockIsicServer(images, Faults(body_delay=0.05)) as server:
        process = start(server, out, tmp_path / "logs")
        try:
            deadline = time.monotonic() + 60
            while not any(p.stat().st_size > 0 for p in (out / isic.PARTIAL_DIR).glob("*.part")):
                assert time.monotonic() < deadline, "the download never got going"
                time.sleep(0.02)
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
            sent = time.monotonic()
            process.wait(timeout=30)
            stopped_in = time.monotonic() - sent
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        stderr = (tmp_path / "logs" / "stderr.txt").read_text()
        assert process.returncode == 130, stderr
        assert "Traceback" not in stderr and "Run the same command again to resume" in stderr
        assert stopped_in < 10
        assert_only_whole_images(out, images)
        assert not (out / "metadata.csv").exists()  # written only when a run completes
        result = rerun(server, out)
    assert result.returncode == 0, result.stderr
    assert_same_as_reference(out, reference_files)


def test_prepare_refuses_a_killed_download_and_reads_the_resumed_one(images, reference, tmp_path):
    out = tmp_path / "isic"
    with MockIsicServer(images[:20], slow_faults()) as server:
        process = start(server, out, tmp_path / "logs")
        try:
            deadline = time.monotonic() + 60
            while not any((out / "images").glob("*.jpg")):
                assert time.monotonic() < deadline, "the download never got going"
                time.sleep(0.02)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        if process.returncode != 0:
            refused = run_skingan("prepare", "--source", "isic", "--input", out, "--out", tmp_path / "p",
                                  "--sizes", "32", timeout=120)
            assert_clean_error(refused, "metadata.csv")
            assert not (tmp_path / "p" / "prepare.json").exists()
        assert rerun(server, out).returncode == 0
    result = run_skingan("prepare", "--source", "isic", "--input", out, "--out", tmp_path / "p", "--sizes", "32",
                         timeout=120)
    assert result.returncode == 0, result.stderr
    assert "(20 images" in result.stdout
