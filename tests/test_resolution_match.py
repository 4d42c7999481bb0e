"""Synthetic images from a generator smaller than the classifier's input: refused, or matched by sending the real
TRAINING images through the generator's size (val/test untouched); a study applies one matched size to all cells."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import assert_clean_error, make_prepared_set, run_skingan
from skingan.classifier import train as T
from skingan.classifier.config import ClassifierConfig
from skingan.classifier.study_plan import ExperimentConfig, plan_cells, study_resolution
from skingan.classifier.synthetic import generator_size, read_manifest
from skingan.config import load_config
from skingan.data.prepared import open_prepared
from skingan.errors import UserError
from test_synthetic_mixing import write_sample_folder

LANCZOS = Image.Resampling.LANCZOS


@pytest.fixture(scope="module")
def small_samples(tiny_prepared, tmp_path_factory):
    """A 32-px 'generator' (the classifier below reads 64 px) and a 64-px one, 6 images per class each."""
    root = tmp_path_factory.mktemp("resolution")
    return {32: write_sample_folder(root / "gan32", tiny_prepared, per_class=6, size=32),
            64: write_sample_folder(root / "gan64", tiny_prepared, per_class=6, size=64)}


def config_with(*overrides: str) -> ClassifierConfig:
    return load_config(ClassifierConfig, "efficientnet", ["data.image_size=64", *overrides])


def datasets_for(config: ClassifierConfig, prepared_root) -> tuple[dict, object]:
    prepared = open_prepared(prepared_root)
    rows = T.select_synthetic(config, prepared, seed=0)
    return T.build_datasets(config, prepared, rows), prepared


def test_the_generator_size_is_the_png_size_checked_against_the_manifest(small_samples, tmp_path, tiny_prepared):
    assert generator_size(read_manifest(small_samples[32])) == 32
    liar = write_sample_folder(tmp_path / "liar", tiny_prepared, per_class=1, size=32)
    manifest = (liar / "manifest.csv").read_text().replace(",32,", ",64,")
    (liar / "manifest.csv").write_text(manifest)
    with pytest.raises(UserError, match=r"lists image_size 64 but '.*' is 32 px"):
        generator_size(read_manifest(liar))


def test_refuse_stops_a_mismatched_mix_before_the_run_folder(tiny_prepared, small_samples, tmp_path):
    config = config_with(f"synthetic.dir={small_samples[32]}", "synthetic.ratio=0.1",
                         "data.synthetic_resolution=refuse")
    with pytest.raises(UserError) as error:
        datasets_for(config, tiny_prepared)
    message = str(error.value)
    assert f"synthetic folder '{small_samples[32].resolve()}' holds 32-px images" in message
    assert "the classifier reads 64 px" in message and "data.synthetic_resolution=match" in message
    result = run_skingan("train-classifier", "--data", tiny_prepared, "--out", tmp_path / "run", "--synthetic",
                         small_samples[32], "--synthetic-ratio", "0.1", "--set", "data.image_size=64",
                         "--set", "data.synthetic_resolution=refuse")
    assert_clean_error(result, "holds 32-px images", "classifier reads 64 px")
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
    datasets_for(config_with(f"synthetic.dir={small_samples[64]}", "synthetic.ratio=0.1",
                             "data.synthetic_resolution=refuse"), tiny_prepared)  # equal sizes: nothing to refuse


def test_match_degrades_real_training_images_only(tiny_prepared, small_samples):
    config = config_with(f"synthetic.dir={small_samples[32]}", "synthetic.ratio=0.1")
    datasets, prepared = datasets_for(config, tiny_prepared)
    train = datasets["train"]
    real, synthetic = train.parts
    cache = prepared.images(64)
    for index in (0, 17, len(real) - 1):  # real: the 64-px cache, Lanczos down to 32 and back up to 64
        row = real.rows[index]
        expected = Image.fromarray(np.asarray(cache[row])).resize((32, 32), LANCZOS).resize((64, 64), LANCZOS)
        np.testing.assert_array_equal(real.image(index), np.asarray(expected))
        assert np.abs(real.image(index).astype(int) - cache[row]).mean() > 0.5  # it really changed
    for index in range(len(synthetic)):  # synthetic: the 32-px PNG, Lanczos up to 64, as before
        with Image.open(synthetic.ids[index]) as png:
            np.testing.assert_array_equal(synthetic.image(index), np.asarray(png.convert("RGB").resize((64, 64),
                                                                                                      LANCZOS)))
    for split in ("val", "test"):  # never touched
        dataset = datasets[split]
        assert dataset.matched_size is None
        np.testing.assert_array_equal(np.stack([dataset.image(i) for i in range(len(dataset))]),
                                      cache[dataset.rows])
    assert train.resolution == {"policy": "match", "classifier_size": 64, "generator_size": 32,
                                "study_matched_size": None, "matched_size": 32, "applied": True,
                                "real_train": "cache 64 px → 32 → 64 (Lanczos)", "val_test": "cache 64 px"}


def test_equal_or_larger_generator_and_no_synthetic_change_nothing(tiny_prepared, small_samples):
    for overrides in ([f"synthetic.dir={small_samples[64]}", "synthetic.ratio=0.1"], []):
        datasets, prepared = datasets_for(config_with(*overrides), tiny_prepared)
        real = datasets["train"].parts[0]
        assert real.matched_size is None and datasets["train"].resolution["applied"] is False
        np.testing.assert_array_equal(np.stack([real.image(i) for i in range(len(real))]),
                                      prepared.images(64)[real.rows])
    datasets, _ = datasets_for(load_config(ClassifierConfig, "efficientnet", [
        "data.image_size=32", f"synthetic.dir={small_samples[64]}", "synthetic.ratio=0.1"]), tiny_prepared)
    assert datasets["train"].resolution["matched_size"] == 32 and not datasets["train"].resolution["applied"]


def test_a_set_matched_size_applies_without_synthetic_images(tiny_prepared):
    """A real-only baseline (a study's real-aug cell) trains on the same degraded images as its synthetic peers."""
    datasets, prepared = datasets_for(config_with("data.matched_size=32"), tiny_prepared)
    real = datasets["train"].parts[0]
    expected = Image.fromarray(np.asarray(prepared.images(64)[real.rows[3]])).resize((32, 32), LANCZOS)
    np.testing.assert_array_equal(real.image(3), np.asarray(expected.resize((64, 64), LANCZOS)))
    with pytest.raises(UserError, match=r"data.matched_size=128 is above data.image_size=64"):
        config_with("data.matched_size=128")


def test_a_study_gives_every_condition_the_same_matched_size(small_samples):
    config = ExperimentConfig(classifier=config_with())
    cells = plan_cells(config, [small_samples[64], small_samples[32]], seeds=[0])
    assert {c.config.data.matched_size for c in cells} == {32}  # real-noaug and real-aug too
    assert {"real-noaug", "real-aug", "synthetic-0.1@gan32"} <= {c.condition for c in cells}
    record = study_resolution(config, [small_samples[64], small_samples[32]])
    assert record["generator_sizes"] == {"gan64": 64, "gan32": 32} and record["matched_size"] == 32
    same = plan_cells(config, [small_samples[64]], seeds=[0])
    assert {c.config.data.matched_size for c in same} == {None}  # sizes equal: nothing happens
    real_only = ExperimentConfig(classifier=config_with())
    real_only.study.conditions = ["real-noaug", "real-aug"]
    assert {c.config.data.matched_size for c in plan_cells(real_only, [small_samples[32]], [0])} == {None}
    refusing = ExperimentConfig(classifier=config_with("data.synthetic_resolution=refuse"))
    with pytest.raises(UserError, match=r"holds 32-px images .* classifier.data.synthetic_resolution=match"):
        plan_cells(refusing, [small_samples[32]], seeds=[0])


@pytest.mark.slow
def test_experiment_records_the_matched_size_in_every_cell(tiny_prepared, tmp_path):
    """End to end: a 16-px generator, a 32-px classifier → experiment.json, each cell's config and metrics.json."""
    prepared = open_prepared(tiny_prepared)
    rows = np.concatenate([prepared.indices(split, [c])[:n] for split, n in (("train", 12), ("val", 4),
                                                                            ("test", 4)) for c in (0, 1)])
    meta = prepared.metadata.iloc[rows]
    data = make_prepared_set(tmp_path / "micro", [Image.fromarray(np.asarray(prepared.images(128)[i])) for i in rows],
                             meta["target"].tolist(), meta["split"].tolist(), sizes=(16, 32))
    samples = write_sample_folder(tmp_path / "gan16", data, per_class=6, size=16)
    out = tmp_path / "experiment"
    result = run_skingan("experiment", "--config", "augmentation", "--data", data, "--out", out, "--synthetic",
                         samples, "--seeds", "1", "--set", "classifier.data.image_size=32",
                         "--set", "classifier.train.epochs=1", "--set", "classifier.train.batch_size=8",
                         "--set", "classifier.eval.bootstrap=20", "--set", "study.ratios=[0.25]",
                         "--set", "study.conditions=[real-aug,synthetic]")
    assert result.returncode == 0, result.stderr
    record = json.loads((out / "experiment.json").read_text())["synthetic_resolution"]
    assert record["matched_size"] == 16 and record["generator_sizes"] == {"gan16": 16} and record["applied"]
    for condition in ("real-aug", "synthetic-0.25"):
        cell = out / "cells" / condition / "seed0"
        assert "matched_size: 16" in (cell / "config.yaml").read_text()
        metrics = json.loads((cell / "metrics.json").read_text())["synthetic_resolution"]
        assert metrics["matched_size"] == 16 and metrics["study_matched_size"] == 16 and metrics["applied"]
        assert metrics["generator_size"] == (16 if condition == "synthetic-0.25" else None)
