"""--source medmnist: a DermaMNIST .npz (MedMNIST's key layout, written here from real ISIC images) → a prepared
set with the official split kept, mel-vs-rest or malignant targets, caches at any size, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import assert_clean_error, run_skingan
from skingan.cli import main as skingan_main
from skingan.data.prepared import open_prepared

# DermaMNIST labels per split: every class in train, melanoma (4) and a carcinoma in val and test
LABELS = {"train": [0, 1, 2, 3, 4, 5, 6, 4, 5, 5, 1, 4], "val": [4, 5, 2, 0], "test": [5, 4, 1, 6, 4, 3]}


def real_pixels(isic2017: Path, n: int, side: int) -> np.ndarray:
    """n real ISIC 2017 images as uint8 side×side×3 (MedMNIST+ files hold squares at 28/64/128/224 px)."""
    labels = pd.read_csv(isic2017 / "labels.csv").sort_values("isic_id").head(n)
    return np.stack([np.asarray(Image.open(isic2017 / p).convert("RGB").resize((side, side), Image.Resampling.LANCZOS))
                     for p in labels["image"]]).astype(np.uint8)


def write_npz(path: Path, isic2017: Path, side: int = 64, **replace: np.ndarray) -> dict[str, np.ndarray]:
    pixels = real_pixels(isic2017, sum(len(v) for v in LABELS.values()), side)
    arrays, start = {}, 0
    for split, labels in LABELS.items():
        arrays[f"{split}_images"] = pixels[start:start + len(labels)]
        arrays[f"{split}_labels"] = np.array(labels, dtype=np.uint8).reshape(-1, 1)  # N×1, as MedMNIST stores them
        start += len(labels)
    arrays.update(replace)
    np.savez_compressed(path, **arrays)
    return arrays


@pytest.fixture(scope="module")
def dermamnist(isic2017, tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    path = tmp_path_factory.mktemp("medmnist") / "dermamnist_64.npz"
    return path, write_npz(path, isic2017)


def test_official_split_kept_melanoma_target_and_caches(dermamnist, tmp_path, capsys):
    path, arrays = dermamnist
    out = tmp_path / "p"
    assert skingan_main(["prepare", "--source", "medmnist", "--input", str(path), "--target", "melanoma",
                         "--sizes", "32", "64", "--out", str(out)]) == 0
    prepared = open_prepared(out)
    meta = prepared.metadata
    for split, labels in LABELS.items():
        rows = meta[meta["split"] == split]
        assert rows["image_id"].tolist() == [f"{split}_{i:05d}" for i in range(len(labels))]
        assert rows["target"].tolist() == [int(v == 4) for v in labels]  # mel vs the rest
        assert rows["diagnosis"].tolist()[:1] == [{0: "actinic keratoses and intraepithelial carcinoma",
                                                   4: "melanoma", 5: "melanocytic nevi"}[labels[0]]]
        # the file's own pixels at its own size; Lanczos-reduced at 32 px
        np.testing.assert_array_equal(prepared.images(64)[rows.index], arrays[f"{split}_images"])
        expected = [np.asarray(Image.fromarray(a).resize((32, 32), Image.Resampling.LANCZOS, reducing_gap=3.0))
                    for a in arrays[f"{split}_images"]]
        np.testing.assert_array_equal(prepared.images(32)[rows.index], np.stack(expected))
    info = prepared.info
    assert info["split"]["method"] == "kept the official split of --source medmnist"
    assert info["split"]["groups_across_splits"] == 0 and "carved_from_train" not in info["split"]
    assert any("positive = mel (4)" in note for note in info["notes"])
    assert any("no patient or lesion ids" in note for note in info["notes"])
    assert set(meta["source"]) == {"medmnist"} and set(meta["license"]) == {"CC-BY-NC"}
    assert "already up to date" not in capsys.readouterr().out
    assert skingan_main(["prepare", "--source", "medmnist", "--input", str(path), "--target", "melanoma",
                         "--sizes", "32", "64", "--out", str(out)]) == 0
    assert "already up to date" in capsys.readouterr().out  # same file, same options: reused


def test_malignant_target_is_mel_bcc_akiec(dermamnist, tmp_path):
    path, _ = dermamnist
    assert skingan_main(["prepare", "--source", "medmnist", "--input", str(path), "--sizes", "32",
                         "--out", str(tmp_path / "p")]) == 0
    prepared = open_prepared(tmp_path / "p")
    labels = [v for split in ("train", "val", "test") for v in LABELS[split]]
    assert prepared.targets.tolist() == [int(v in (0, 1, 4)) for v in labels]
    assert any("mel, bcc and akiec (4, 1, 0)" in note for note in prepared.info["notes"])
    assert prepared.counts()["val"] == {"benign": 2, "malignant": 2}


def test_an_image_repeated_across_splits_keeps_only_its_train_copy(isic2017, tmp_path):
    first = write_npz(tmp_path / "a.npz", isic2017, side=28)
    test_images = first["test_images"].copy()
    test_images[2] = first["train_images"][5]
    write_npz(tmp_path / "b.npz", isic2017, side=28, test_images=test_images)
    assert skingan_main(["prepare", "--source", "medmnist", "--input", str(tmp_path / "b.npz"), "--sizes", "28",
                         "--out", str(tmp_path / "p")]) == 0
    info = json.loads((tmp_path / "p" / "prepare.json").read_text())
    assert info["dropped"]["duplicate_bytes"] == [{"image_id": "test_00002", "same_as": "train_00005"}]
    assert info["counts"]["test"]["benign"] + info["counts"]["test"]["malignant"] == 5


@pytest.mark.parametrize(("replace", "fragments"), [
    ({"val_labels": None}, ("has no key val_labels", "train_images, train_labels, val_images")),
    ({"train_images": np.zeros((12, 28, 28), np.uint8)}, ("key train_images has shape (12, 28, 28) uint8",
                                                          "N×H×W×3 uint8")),
    ({"test_images": np.zeros((6, 28, 28, 3), np.float32)}, ("key test_images", "float32", "N×H×W×3 uint8")),
    ({"val_labels": np.array([[4], [5], [2]], np.uint8)}, ("key val_labels has shape (3, 1)", "4×1 integers")),
    ({"train_labels": np.full((12, 1), 9, np.int64)}, ("key train_labels holds 9", "classes 0-6", "4 mel")),
])
def test_bad_keys_and_shapes_are_one_line_errors(isic2017, tmp_path, replace, fragments):
    arrays = write_npz(tmp_path / "ok.npz", isic2017, side=28)
    arrays.update(replace)
    np.savez(tmp_path / "bad.npz", **{k: v for k, v in arrays.items() if v is not None})
    result = run_skingan("prepare", "--source", "medmnist", "--input", tmp_path / "bad.npz", "--out", tmp_path / "p")
    assert_clean_error(result, f"--input '{tmp_path / 'bad.npz'}'", *fragments)
    assert len(result.stderr.strip().splitlines()) == 1


def test_wrong_input_and_split_flags_are_refused(dermamnist, tmp_path):
    path, _ = dermamnist
    (tmp_path / "notes.npz").write_text("not a zip")
    cases = [
        (("--input", tmp_path), ("is not a file", "--source medmnist reads one file")),
        (("--input", tmp_path / "notes.npz"), ("is not a readable .npz file", "dermamnist_128.npz")),
        (("--input", path, "--keep-split", "split"), ("--keep-split: --source medmnist keeps the file's official",)),
        (("--input", path, "--regroup"), ("--regroup: --source medmnist keeps",)),
    ]
    for flags, fragments in cases:
        assert_clean_error(run_skingan("prepare", "--source", "medmnist", *flags, "--out", tmp_path / "p"),
                           *fragments)
