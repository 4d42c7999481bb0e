"""evaluate-gan end to end: samples folders, a GAN run, the feature cache, memorisation, --compare."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_clean_error, run_skingan
from skingan.config import from_dict
from skingan.data.prepared import open_prepared
from skingan.evaluation.evaluate import EvalSettings, FakeSet, evaluate
from skingan.evaluation.features import build_extractor

METRIC_KEYS = {"fd", "kid_mean", "kid_std", "precision", "recall", "density", "coverage", "fd_real_halves",
               "reference", "c2st", "c2st_as_classifier_sees", "iqa_seed", "iqa_nn", "diversity", "memorization",
               "protocol"}
FAST = ["--resize", "64", "--batch-size", "32", "--no-c2st"]


def write_samples(folder: Path, images: np.ndarray, class_name: str = "malignant", prepared_hash: str = "",
                  manifest: bool = True) -> Path:
    """A folder in the `skingan sample` layout (or a plain folder of PNGs)."""
    from PIL import Image

    rows = []
    for index, image in enumerate(images):
        file = f"{class_name}/{class_name}_{index:06d}.png"
        (folder / class_name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / file)
        rows.append(f"{file},{class_name},1,0,{index},ckpt.pt,100,sngan,{image.shape[0]},cfg,{prepared_hash},train")
    if manifest:
        header = "file,class,target,seed,index,checkpoint,step,arch,image_size,config_hash,prepared_hash,train_split"
        (folder / "manifest.csv").write_text("\n".join([header, *rows]) + "\n")
    return folder


@pytest.fixture(scope="module")
def prepared(tiny_prepared):
    return open_prepared(tiny_prepared)


@pytest.fixture(scope="module")
def malignant(prepared):
    images = prepared.images(64)
    return {split: np.asarray(images[prepared.indices(split, ["malignant"])]) for split in ("train", "val", "test")}


@pytest.fixture(scope="module")
def lite0_64():
    return build_extractor("lite0", resize=64)


def fake_set_from(malignant) -> np.ndarray:
    """'Fakes' no model memorised: held-out test images and their mirror images (32 images)."""
    test = malignant["test"]
    return np.concatenate([test, test[:, :, ::-1]])


@pytest.mark.slow
def test_cli_on_a_samples_folder_writes_metrics_table_and_figures(tmp_path, tiny_prepared, prepared, malignant):
    samples = write_samples(tmp_path / "samples", fake_set_from(malignant), prepared_hash=prepared.hash)
    out = tmp_path / "eval"
    result = run_skingan("evaluate-gan", "--samples", samples, "--data", tiny_prepared, "--n", "32", *FAST,
                         "--feature-cache", tmp_path / "cache", "--out", out)
    assert result.returncode == 0, result.stderr
    assert str(out / "metrics.json") in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= METRIC_KEYS
    p = metrics["protocol"]
    assert (p["n_fake"], p["n_real"], p["class"], p["split"], p["extractor"]) == (32, 48, "malignant", "train", "lite0")
    assert p["prepared_hash_match"] is True and p["image_format"] == "png" and len(p["weights_sha256"]) == 64
    assert metrics["fd"] > 0 and metrics["fd_real_halves"] > 0 and 0 <= metrics["precision"] <= 1
    assert metrics["reference"]["n"] == 32 and metrics["c2st"]["auc"] is None and "--no-c2st" in metrics["c2st"]["reason"]
    assert 0 <= metrics["coverage"] <= 1 and metrics["kid_std"] >= 0
    assert metrics["iqa_seed"]["psnr"]["n"] == 32 and metrics["iqa_nn"]["mdsi"]["better"] == "lower"
    # held-out images are not copies: no fake is near-identical to a training image. (The fraction below
    # the 1st percentile is not ~0.01 here: this set's test images come from ISIC 2017's train pool, its
    # val images from ISIC's val pool, so val→train distances run longer than test→train ones.)
    memo = metrics["memorization"]
    # (a copy sits at ~1e-6; with Lite inputs the closest held-out test image is 0.45 × the val median)
    assert memo["fake_nn_distance"]["min"] > 0.3 * memo["heldout_nn_distance"]["median"]
    table = (out / "metrics.md").read_text()
    for fragment in ("FD_lite0 ↓", "precision ↑", "MS-GMSD ↓", "MDSI ↓", "HaarPSI ↑", "| fakes | 32 | 48 | lite0 |"):
        assert fragment in table
    for figure in ("samples_vs_real.png", "closest_pairs.png", "metric_bars.png"):
        assert (out / figure).stat().st_size > 5000
    # the resolved options are the run's record, and read back into the same typed config
    record = json.loads((out / "environment.json").read_text())["evaluate_settings"]
    assert from_dict(EvalSettings, record, origin="environment.json") == EvalSettings(
        n=32, resize=64, batch_size=32, feature_cache=str(tmp_path / "cache"), device=record["device"], c2st=False)
    again = run_skingan("evaluate-gan", "--samples", samples, "--data", tiny_prepared, "--out", out)
    assert_clean_error(again, "already holds a run")


@pytest.mark.slow
def test_real_features_are_cached_between_evaluations(tmp_path, prepared, malignant, lite0_64):
    fakes = FakeSet(fake_set_from(malignant), "malignant", {"kind": "samples", "path": "x", "image_format": "png"})
    settings = EvalSettings(n=32, feature_cache=tmp_path / "cache", kid_subsets=10, diversity_pairs=50, c2st=False)
    calls: list[int] = []
    original = lite0_64.features

    def counting(images, batch_size=64):
        calls.append(len(images))
        return original(images, batch_size)

    lite0_64.features = counting
    try:
        first = evaluate(fakes, prepared, settings, tmp_path / "one", extractor=lite0_64)
        assert sorted(calls) == [32, 32, 48]  # held-out (val+test) reals, fakes, train reals
        calls.clear()
        second = evaluate(fakes, prepared, settings, tmp_path / "two", extractor=lite0_64)
        assert calls == [32]  # only the fakes: no real image went through the network
    finally:
        lite0_64.features = original
    assert second["protocol"]["real_features_cached"] and not first["protocol"]["real_features_cached"]
    assert second["fd"] == pytest.approx(first["fd"], rel=1e-9)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2


def test_copies_of_training_images_are_flagged_as_memorised(tmp_path, prepared, malignant, lite0_64):
    copies = FakeSet(malignant["train"][:20].copy(), "malignant", {"kind": "samples", "path": "copies"})
    metrics = evaluate(copies, prepared, EvalSettings(n=20, feature_cache=None, kid_subsets=5, diversity_pairs=40,
                                                      c2st=False),
                       tmp_path / "copies", extractor=lite0_64)
    memo = metrics["memorization"]
    assert memo["fraction_below_threshold"] == 1.0 and memo["fake_nn_distance"]["min"] < 1e-3
    assert metrics["iqa_nn"]["ssim"]["mean"] == pytest.approx(1, abs=1e-4)
    assert metrics["precision"] == 1.0
    assert all(pair["train"] == pair["fake"] for pair in memo["closest_pairs"])


@pytest.mark.slow
def test_plain_folder_needs_a_class_and_compare_builds_one_table(tmp_path, tiny_prepared, prepared, malignant):
    plain = write_samples(tmp_path / "plain", malignant["val"], manifest=False)
    no_class = run_skingan("evaluate-gan", "--samples", plain, "--data", tiny_prepared, "--out", tmp_path / "e0")
    assert_clean_error(no_class, "--class")
    cache = ["--feature-cache", tmp_path / "cache"]
    ok = run_skingan("evaluate-gan", "--samples", plain, "--class", "malignant", "--data", tiny_prepared,
                     "--name", "val-as-fakes", *FAST, *cache, "--out", tmp_path / "e1")
    assert ok.returncode == 0, ok.stderr
    mismatched = write_samples(tmp_path / "other", fake_set_from(malignant), prepared_hash="0" * 64)
    warned = run_skingan("evaluate-gan", "--samples", mismatched, "--data", tiny_prepared, *FAST, *cache,
                         "--out", tmp_path / "e2")
    assert warned.returncode == 0 and "WARNING" in warned.stderr and "prepared set" in warned.stderr
    assert json.loads((tmp_path / "e2" / "metrics.json").read_text())["protocol"]["prepared_hash_match"] is False
    compared = run_skingan("evaluate-gan", "--compare", tmp_path / "e1", tmp_path / "e2" / "metrics.json",
                           "--out", tmp_path / "cmp")
    assert compared.returncode == 0, compared.stderr
    table = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| val-as-fakes | malignant | 16 | 48 | lite0 |" in table and "| ckpt @ step 100 | malignant | 32 | 48 |" in table
    for header in ("PSNR ↑", "SSIM ↑", "MS-GMSD ↓", "MDSI ↓", "HaarPSI ↑", "FD ↓", "KID ↓", "coverage ↑",
                   "memorised ↓", "SN-GAN 128"):
        assert header in table
    assert "differ in extractor or N" in table and "val-as-fakes" in compared.stdout
    rows = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert [r["n_fake"] for r in rows if r["row"] == "generator"] == [16, 32]
    assert [r["model"] for r in rows if r["row"] == "held-out real"] == ["held-out real (val+test, N=16)",
                                                                         "held-out real (val+test, N=32)"]
    missing = run_skingan("evaluate-gan", "--compare", tmp_path / "nothing", "--out", tmp_path / "cmp2")
    assert_clean_error(missing, "no metrics.json")


def test_user_errors_are_clean(tmp_path, tiny_prepared):
    samples = tmp_path / "s"
    samples.mkdir()
    cases = [
        (["--samples", samples, "--out", tmp_path / "o"], ["--data"]),
        (["--samples", samples, "--data", tiny_prepared, "--features", "vgg", "--out", tmp_path / "o"], ["vgg", "lite0"]),
        (["--samples", samples, "--data", tmp_path / "nope", "--out", tmp_path / "o"], ["does not exist"]),
        (["--run", tmp_path, "--data", tiny_prepared, "--out", tmp_path / "o"], ["checkpoints/last.pt"]),
        (["--checkpoint", tmp_path / "none.pt", "--data", tiny_prepared, "--out", tmp_path / "o"], ["does not exist"]),
        (["--samples", samples, "--data", tiny_prepared, "--n", "1", "--out", tmp_path / "o"], ["--n 1"]),
        (["--samples", samples, "--data", tiny_prepared, "--out", tmp_path / "o"], ["no manifest.csv"]),
    ]
    for args, fragments in cases:
        assert_clean_error(run_skingan("evaluate-gan", *args), *fragments)


@pytest.mark.slow
def test_gan_run_and_its_samples_evaluate_end_to_end(tmp_path, tiny_prepared):
    pytest.importorskip("skingan.gan.sample")
    run = tmp_path / "gan"
    trained = run_skingan("train-gan", "--config", "gan-tiny32", "--data", tiny_prepared, "--out", run,
                          "--set", "train.steps=2")
    assert trained.returncode == 0, trained.stderr
    cache = ["--feature-cache", tmp_path / "cache", *FAST]
    by_run = run_skingan("evaluate-gan", "--run", run, "--data", tiny_prepared, "--n", "24", *cache,
                         "--out", tmp_path / "eval-run")
    assert by_run.returncode == 0, by_run.stderr
    metrics = json.loads((tmp_path / "eval-run" / "metrics.json").read_text())
    p = metrics["protocol"]
    assert (p["n_fake"], p["image_size"], p["class"], p["prepared_hash_match"]) == (24, 32, "malignant", True)
    assert p["source"]["arch"] == "sngan" and p["model"] == "gan @ step 2"
    sampled = run_skingan("sample", "--checkpoint", run / "checkpoints" / "last.pt", "--n", "24",
                          "--out", tmp_path / "samples")
    assert sampled.returncode == 0, sampled.stderr
    by_samples = run_skingan("evaluate-gan", "--samples", tmp_path / "samples", "--data", tiny_prepared, *cache,
                             "--out", tmp_path / "eval-samples")
    assert by_samples.returncode == 0, by_samples.stderr
    from_png = json.loads((tmp_path / "eval-samples" / "metrics.json").read_text())
    # the same generator, seed and EMA weights: PNG files and in-memory images give the same numbers
    assert from_png["fd"] == pytest.approx(metrics["fd"], rel=1e-6)
    # an untrained 2-step generator is far from real skin: far worse than held-out reals at the same N
    assert metrics["fd"] > 1.5 * metrics["reference"]["fd"] and metrics["kid_mean"] > 0
