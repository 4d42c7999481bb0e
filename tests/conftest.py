"""Shared fixtures: where the real ISIC images are, and how to call the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SKINGAN_SHARED_DATA", REPO.parent / "shared" / "data"))


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        import torch

        torch.set_num_threads(min(2, os.cpu_count() or 1))
    except ImportError:  # pragma: no cover
        pass


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (or $SKINGAN_SHARED_DATA); tests that need it skip with a reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real ISIC images not found at {SHARED_DATA} (set SKINGAN_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def isic2017(shared_data: Path) -> Path:
    path = shared_data / "isic2017-256"
    if not (path / "labels.csv").is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def isic_fullres(shared_data: Path) -> Path:
    path = shared_data / "isic-archive-fullres"
    if not (path / "labels.csv").is_file():
        pytest.skip(f"{path} is absent")
    return path


def run_skingan(*args: str | Path, cwd: Path | None = None, env: dict | None = None,
                timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `python -m skingan ARGS` as a user would, capturing output."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("SKINGAN_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "skingan", *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def assert_clean_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """A user mistake: non-zero exit, no traceback, one message naming what is wrong."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, f"{fragment!r} not in {result.stderr!r}"


@pytest.fixture
def skingan():
    return run_skingan
