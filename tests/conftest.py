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


def generator_fd(run: Path, prepared: Path, class_name: str, n: int, extractor, real_features=None) -> tuple:
    """FD between n EMA samples of RUN's last checkpoint and the training reals of one class, in-process.

    For the "a short real-data run learns something" tests: one extractor and one real feature matrix serve
    every checkpoint (returned for reuse), without the cost of a full `evaluate-gan`.
    """
    from skingan.data.prepared import open_prepared
    from skingan.evaluation.distribution import frechet_distance
    from skingan.gan.sample import generate_images, load_generator

    G, meta = load_generator(run / "checkpoints" / "last.pt")
    if real_features is None:
        reals = open_prepared(prepared)
        rows = reals.indices("train", [class_name])
        real_features = extractor.features(reals.images(meta["image_size"])[rows])
    fakes = generate_images(G, meta, n, class_name if meta["conditional"] else None, seed=0)
    return frechet_distance(real_features, extractor.features(fakes)), real_features
