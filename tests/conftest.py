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
    # Cached real-set features go to a folder of this test session (shared by its workers), not ~/.cache.
    if "SKINGAN_CACHE" not in os.environ:
        import tempfile

        os.environ["SKINGAN_CACHE"] = config._skingan_cache = tempfile.mkdtemp(prefix="skingan-test-cache-")
    try:
        import torch

        torch.set_num_threads(min(2, os.cpu_count() or 1))
    except ImportError:  # pragma: no cover
        pass


def pytest_unconfigure(config: pytest.Config) -> None:
    cache = getattr(config, "_skingan_cache", None)
    if cache:
        import shutil

        shutil.rmtree(cache, ignore_errors=True)
        os.environ.pop("SKINGAN_CACHE", None)


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
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """ISIC client retries back off for 10 ms instead of seconds; no API URL comes in from the environment."""
    from skingan.data import isic

    monkeypatch.setenv(isic.BACKOFF_ENV, "0.01")
    monkeypatch.delenv(isic.API_URL_ENV, raising=False)


@pytest.fixture
def skingan():
    return run_skingan


def make_prepared_set(out: Path, images: list, targets: list[int], splits: list[str],
                      sizes: tuple[int, ...] = (32, 64, 128), source: str = "test",
                      image_ids: list[str] | None = None) -> Path:
    """Write a prepared set (the `skingan prepare` format) from in-memory RGB PIL images.

    For tests of later stages that need a small, known set without running `prepare`.
    """
    import numpy as np
    import pandas as pd
    from PIL import Image

    from skingan.data.prepared import write_prepared_set

    ids = image_ids or [f"IMG_{i:05d}" for i in range(len(images))]
    caches = {
        size: np.stack([np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.LANCZOS))
                        for im in images]).astype(np.uint8)
        for size in sizes
    }
    metadata = pd.DataFrame({
        "image_id": ids, "path": [f"{i}.jpg" for i in ids], "target": targets,
        "diagnosis": ["melanoma" if t else "nevus" for t in targets],
        "benign_malignant": ["malignant" if t else "benign" for t in targets],
        "age": "", "sex": "", "anatomy": "", "patient_id": "", "lesion_id": "", "attribution": "",
        "license": "", "source": source, "split": splits,
    })
    write_prepared_set(out, metadata, caches, {"source": source, "seed": 0, "resize": "squash"})
    return out


@pytest.fixture(scope="session")
def tiny_prepared(isic2017: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """160 real ISIC 2017 images (train 48+48, val 16+16, test 16+16 benign+melanoma), caches 32/64/128 px."""
    import pandas as pd
    from PIL import Image

    labels = pd.read_csv(isic2017 / "labels.csv")
    chosen = []
    for split, per_class in (("train", 48), ("val", 16), ("test", 16)):
        source_split = "val" if split == "val" else "train"
        for target in (0, 1):
            pool = labels[(labels["split"] == source_split) & (labels["target"] == target)]
            pool = pool[~pool["isic_id"].isin([row[0] for row in chosen])]
            for _, row in pool.sort_values("isic_id").head(per_class).iterrows():
                chosen.append((row["isic_id"], row["image"], target, split))
    images = [Image.open(isic2017 / image).convert("RGB") for _, image, _, _ in chosen]
    return make_prepared_set(
        tmp_path_factory.mktemp("tiny_prepared"), images, [c[2] for c in chosen], [c[3] for c in chosen],
        source="isic2017-subset", image_ids=[c[0] for c in chosen],
    )



@pytest.fixture(scope="session")
def melanomas64(isic2017: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The melanomas of the ISIC 2017 training split (374), all for training, 64-px cache only: the real-data
    "a short run learns something" tests of the generator families."""
    import pandas as pd
    from PIL import Image

    labels = pd.read_csv(isic2017 / "labels.csv")
    rows = labels[(labels["split"] == "train") & (labels["target"] == 1)].sort_values("isic_id")
    images = [Image.open(isic2017 / p).convert("RGB") for p in rows["image"]]
    return make_prepared_set(tmp_path_factory.mktemp("melanomas64"), images, [1] * len(images),
                             ["train"] * len(images), sizes=(64,), image_ids=list(rows["isic_id"]))


def fd_before_and_after(config_name: str, overrides: list[str], prepared: Path, run: Path, steps: int,
                        class_name: str = "malignant", n: int = 200) -> list[float]:
    """For the "a short real-data run learns something" tests: train CONFIG one step, then resume to `steps`,
    and after each score FD_lite0 of n EMA samples against the class's training reals, in-process (one
    extractor, one real feature matrix; no full `evaluate-gan`)."""
    from skingan.config import load_config
    from skingan.data.prepared import open_prepared
    from skingan.evaluation.distribution import frechet_distance
    from skingan.evaluation.features import build_extractor
    from skingan.gan.config import GANConfig
    from skingan.gan.sample import generate_images, load_generator
    from skingan.gan.train import train

    extractor, reals, fds = build_extractor("lite0"), None, []
    for target in (1, steps):
        train(load_config(GANConfig, config_name, [*overrides, f"train.steps={target}"]), prepared, run,
              resume=target > 1, progress=False)
        G, meta = load_generator(run / "checkpoints" / "last.pt")
        if reals is None:
            data = open_prepared(prepared)
            reals = extractor.features(data.images(meta["image_size"])[data.indices("train", [class_name])])
        fakes = generate_images(G, meta, n, class_name if meta["conditional"] else None, seed=0)
        fds.append(frechet_distance(reals, extractor.features(fakes)))
    return fds
