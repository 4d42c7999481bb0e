"""Synthetic images join the training split only, are stored like real ones, and leakage is refused."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import assert_clean_error, make_prepared_set, run_skingan
from skingan.classifier import train as T
from skingan.classifier.config import ClassifierConfig
from skingan.classifier.synthetic import choose_synthetic, newest_sample_dir, read_manifest
from skingan.config import load_config
from skingan.data.dataset import load_png_images
from skingan.data.prepared import open_prepared
from skingan.errors import UserError


def write_sample_folder(out: Path, prepared_root: Path, per_class: int = 12, *, prepared_hash: str | None = None,
                        train_split: str = "train", classes: tuple[str, ...] = ("benign", "malignant"),
                        size: int | None = None) -> Path:
    """A folder in the `skingan sample` layout, its PNGs made from (mirrored) real training images at `size` px
    (the generator's size; default: the set's largest cache)."""
    prepared = open_prepared(prepared_root)
    size = size or max(prepared.sizes)
    rows = []
    for name in classes:
        target = 0 if name == "benign" else 1
        (out / name).mkdir(parents=True, exist_ok=True)
        for k, row in enumerate(prepared.indices("train", [target])[:per_class]):
            file = f"{name}/{k:05d}.png"
            Image.fromarray(np.asarray(prepared.images(size)[row])[:, ::-1].copy()).save(out / file)
            rows.append({"file": file, "class": name, "target": target, "seed": 0, "index": k,
                         "checkpoint": "gan/checkpoints/last.pt", "step": 100, "arch": "sngan", "image_size": size,
                         "config_hash": "abc", "prepared_hash": prepared_hash or prepared.hash,
                         "train_split": train_split})
    pd.DataFrame(rows).to_csv(out / "manifest.csv", index=False)
    (out / "sample.json").write_text(json.dumps({"n": len(rows)}))
    return out


@pytest.fixture(scope="module")
def samples(tiny_prepared, tmp_path_factory) -> Path:
    return write_sample_folder(tmp_path_factory.mktemp("samples") / "sngan", tiny_prepared)


def config_with(*overrides: str) -> ClassifierConfig:
    return load_config(ClassifierConfig, "efficientnet", ["data.image_size=32", *overrides])


def test_synthetic_images_reach_train_only(tiny_prepared, samples):
    prepared = open_prepared(tiny_prepared)
    config = config_with(f"synthetic.dir={samples}", "synthetic.ratio=0.25")
    rows = T.select_synthetic(config, prepared, seed=0)
    assert len(rows) == 24  # 0.25 × 96 real training images
    datasets = T.build_datasets(config, prepared, rows)
    loaders = T.build_loaders(datasets, config)
    train = loaders["train"].dataset
    assert sum(o == "synthetic" for o in train.origins) == 24 and len(train) == 96 + 24
    assert set(rows["path"]) <= set(train.ids)
    for split in ("val", "test"):
        dataset = loaders[split].dataset
        assert set(dataset.origins) == {"real"}
        assert not set(dataset.ids) & set(rows["path"])
        assert set(dataset.ids) == set(prepared.metadata["image_id"].iloc[prepared.indices(split)])
        assert len(dataset) == 32


def test_synthetic_pngs_are_stored_like_the_cache(isic2017, tmp_path):
    """A PNG of an original image, decoded and resized, is byte-identical to the prepared cache."""
    labels = pd.read_csv(isic2017 / "labels.csv").head(4)
    images = [Image.open(isic2017 / p).convert("RGB") for p in labels["image"]]
    prepared = open_prepared(make_prepared_set(tmp_path / "prep", images, [0, 1, 0, 1], ["train"] * 4,
                                               sizes=(32, 64)))
    paths = []
    for i, image in enumerate(images):
        image.save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    for size in (32, 64):
        stored = load_png_images(paths, size)
        assert stored.dtype == np.uint8 and stored.shape == (4, size, size, 3)
        np.testing.assert_array_equal(stored, prepared.images(size))


def test_cli_run_with_synthetic_records_the_files(tiny_prepared, samples, tmp_path):
    out = tmp_path / "run"
    result = run_skingan("train-classifier", "--data", tiny_prepared, "--out", out, "--synthetic", samples,
                         "--synthetic-ratio", "0.125", "--set", "data.image_size=32", "--set", "train.epochs=1",
                         "--set", "eval.bootstrap=50")
    assert result.returncode == 0, result.stderr
    used = pd.read_csv(out / "synthetic_used.csv")
    assert len(used) == 12 and all(Path(p).is_file() for p in used["path"])
    assert set(used["class"]) <= {"benign", "malignant"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["synthetic_images"] == 12 and metrics["train_images"] == 108 and metrics["n"] == 32


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"prepared_hash": "0" * 64}, "not on this one"),
    ({"train_split": "val"}, "only a GAN trained on the 'train' split"),
])
def test_leakage_is_refused(tiny_prepared, tmp_path, kwargs, fragment):
    folder = write_sample_folder(tmp_path / "leaky", tiny_prepared, per_class=2, **kwargs)
    result = run_skingan("train-classifier", "--data", tiny_prepared, "--out", tmp_path / "run",
                         "--synthetic", folder, "--balance", "--set", "data.image_size=32")
    assert_clean_error(result, fragment)
    assert not (tmp_path / "run").exists()  # refused before the run folder was made


def test_choose_synthetic_amounts(tiny_prepared, tmp_path):
    folder = write_sample_folder(tmp_path / "s", tiny_prepared, per_class=10)
    manifest = read_manifest(folder)
    balanced = choose_synthetic(manifest, {0: 20, 1: 12}, balance=True)
    assert len(balanced) == 8 and set(balanced["class"]) == {"malignant"}
    assert len(choose_synthetic(manifest, {0: 20, 1: 10}, ratio=0.5, seed=1)) == 15
    assert choose_synthetic(manifest, {0: 20, 1: 10}, ratio=0.5, seed=1).equals(
        choose_synthetic(manifest, {0: 20, 1: 10}, ratio=0.5, seed=1))
    assert len(choose_synthetic(manifest, {0: 5, 1: 5}, only=True)) == 20
    with pytest.raises(UserError, match="needs 30 synthetic"):
        choose_synthetic(manifest, {0: 40, 1: 10}, balance=True)
    malignant_only = read_manifest(write_sample_folder(tmp_path / "m", tiny_prepared, 3, classes=("malignant",)))
    with pytest.raises(UserError, match="both classes"):
        choose_synthetic(malignant_only, {0: 5, 1: 5}, only=True)


def test_synthetic_without_dir_takes_the_newest_sample_folder(tiny_prepared, tmp_path):
    old = write_sample_folder(tmp_path / "outputs" / "samples" / "old", tiny_prepared, per_class=1)
    new = write_sample_folder(tmp_path / "outputs" / "samples" / "new", tiny_prepared, per_class=1)
    past = time.time() - 100
    os.utime(old / "manifest.csv", (past, past))
    assert newest_sample_dir(tmp_path / "outputs") == new
    result = run_skingan("train-classifier", "--data", tiny_prepared, "--out", tmp_path / "run", "--synthetic",
                         "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"dir: {Path('outputs/samples/new')}" in result.stdout and "ratio: 0.1" in result.stdout
    empty = run_skingan("train-classifier", "--data", tiny_prepared, "--out", tmp_path / "run", "--synthetic",
                        cwd=tmp_path / "outputs" / "samples")
    assert_clean_error(empty, "no 'skingan sample' output")
