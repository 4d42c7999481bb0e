"""Procedural dermoscopy phantoms: determinism, labels, format, and that the classes differ (but overlap)."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score

from conftest import REPO, run_skingan
from skingan.data.phantom import (
    BENIGN_DIAGNOSES,
    MALIGNANT_DIAGNOSIS,
    build_phantom,
    malignant_flags,
    phantom_id,
    phantom_records,
    render_phantom,
)
from skingan.errors import UserError


def _bytes_of(records) -> list[bytes]:
    return [image.tobytes() for _, _, _, image in records]


def test_same_seed_gives_identical_bytes_and_labels():
    first = list(phantom_records(8, seed=3, size=64))
    second = list(phantom_records(8, seed=3, size=64))
    assert [r[:3] for r in first] == [r[:3] for r in second]
    assert _bytes_of(first) == _bytes_of(second)


def test_different_seed_gives_different_images():
    a = _bytes_of(phantom_records(6, seed=1, size=64))
    b = _bytes_of(phantom_records(6, seed=2, size=64))
    assert all(x != y for x, y in zip(a, b, strict=True))
    assert len(set(a)) == len(a)  # and no two images of one set are alike


def test_image_is_the_same_alone_in_a_set_and_in_another_process():
    records = list(phantom_records(12, seed=5, size=96))
    jobs = [(i, 5, bool(records[i][1]), 96) for i in (0, 4, 11)]
    alone = [render_phantom(*job).tobytes() for job in jobs]
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        parallel = [image.tobytes() for image in pool.map(render_phantom, *zip(*jobs, strict=True))]
    in_set = [records[i][3].tobytes() for i in (0, 4, 11)]
    assert alone == in_set == parallel


def test_image_depends_on_its_class():
    assert render_phantom(3, 0, False, 64).tobytes() != render_phantom(3, 0, True, 64).tobytes()


@pytest.mark.parametrize(("n", "fraction", "expected"),
                         [(10, 0.3, 3), (7, 0.5, 4), (101, 0.3, 30), (5, 0.0, 0), (5, 1.0, 5), (0, 0.3, 0)])
def test_malignant_count_is_round_n_fraction(n, fraction, expected):
    assert expected == round(n * fraction)
    flags = malignant_flags(n, seed=9, malignant_fraction=fraction)
    assert flags.dtype == bool and len(flags) == n and int(flags.sum()) == expected


def test_which_indices_are_malignant_is_seeded():
    a, b = malignant_flags(200, 1), malignant_flags(200, 1)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, malignant_flags(200, 2))
    assert not a[:60].all()  # a permutation, not simply the first round(n * f) indices
    targets = [t for _, t, _, _ in phantom_records(20, seed=1, size=32)]
    assert targets == [int(f) for f in malignant_flags(20, 1)]


@pytest.mark.parametrize("size", [32, 64, 256])
def test_format_ids_and_diagnoses(size):
    records = list(phantom_records(40, seed=0, size=size) if size < 256 else phantom_records(4, seed=0))
    for k, (image_id, target, diagnosis, image) in enumerate(records):
        assert image_id == f"PHANTOM_{k:07d}"
        assert isinstance(image, Image.Image) and image.mode == "RGB" and image.size == (size, size)
        pixels = np.asarray(image)
        assert pixels.dtype == np.uint8 and pixels.shape == (size, size, 3)
        assert target in (0, 1)
        assert diagnosis == MALIGNANT_DIAGNOSIS if target else diagnosis in BENIGN_DIAGNOSES
    if size == 64:
        assert {d for _, t, d, _ in records if t == 0} == set(BENIGN_DIAGNOSES)
        assert phantom_id(42) == "PHANTOM_0000042"


def test_skin_tones_vary_and_the_lesion_is_darker_than_the_skin():
    skin_means, lesion_gap = [], []
    for i in range(16):
        phantom = build_phantom(i, 7, i % 2 == 1, 128)
        grey = np.asarray(phantom.image.convert("L"), dtype=np.float64)
        mask = phantom.lesion_mask
        y, x = np.mgrid[-1:1:128j, -1:1:128j]
        skin = (mask < 0.01) & (x * x + y * y < 0.6 ** 2)
        lesion = mask > 0.9
        if skin.sum() > 50:
            skin_means.append(grey[skin].mean())
            lesion_gap.append(grey[skin].mean() - grey[lesion].mean())
    assert len(skin_means) >= 10
    assert np.ptp(skin_means) > 25  # varied tones across images
    assert min(lesion_gap) > 15     # every lesion clearly visible


def test_vignette_darkens_the_corners():
    for i in range(12):
        phantom = build_phantom(i, 11, i % 3 == 0, 128)
        grey = np.asarray(phantom.image.convert("L"), dtype=np.float64)
        corners = np.concatenate([grey[:8, :8], grey[:8, -8:], grey[-8:, :8], grey[-8:, -8:]]).mean()
        y, x = np.mgrid[-1:1:128j, -1:1:128j]
        skin = (phantom.lesion_mask < 0.01) & (x * x + y * y < 0.6 ** 2)
        centre = grey[skin].mean() if skin.sum() > 50 else grey[48:80, 48:80].mean()
        assert corners < 0.6 * centre, (i, corners, centre)


def test_edges_are_soft_not_aliased():
    for i in range(6):
        mask = build_phantom(i, 0, i % 2 == 1, 256).lesion_mask
        assert mask.dtype == np.float32 and mask.min() >= 0 and mask.max() <= 1
        band = ((mask > 0.05) & (mask < 0.95)).sum()  # partially covered pixels around the lesion
        perimeter = 2 * np.sqrt(np.pi * (mask > 0.5).sum())  # of a disc of the same area (a lower bound)
        assert 1.5 < band / perimeter < 30, (i, band / perimeter)


def point_asymmetry(mask: np.ndarray) -> float:
    """Mismatch of the mask with itself rotated 180 degrees about its centroid, over its area."""
    size = mask.shape[0]
    weights = mask / mask.sum()
    yy, xx = np.mgrid[:size, :size]
    cy, cx = (weights * yy).sum(), (weights * xx).sum()
    shift = (round(2 * cy - (size - 1)), round(2 * cx - (size - 1)))
    rotated = np.roll(mask[::-1, ::-1], shift, axis=(0, 1))
    return float(np.abs(mask - rotated).sum() / mask.sum())


def colour_variance(phantom) -> float:
    pixels = np.asarray(phantom.image, dtype=np.float64)[phantom.lesion_mask > 0.5] / 255
    return float(np.trace(np.cov(pixels.T)))


@pytest.fixture(scope="module")
def forty():
    """20 benign and 20 malignant phantoms at 128 px, with their measured features."""
    rows = []
    for i in range(40):
        phantom = build_phantom(i, 2024, i % 2 == 1, 128)
        rows.append((i % 2, point_asymmetry(phantom.lesion_mask), colour_variance(phantom),
                     float(phantom.lesion_mask.mean())))
    return np.array(rows)


def test_malignant_lesions_are_more_asymmetric(forty):
    benign, malignant = forty[forty[:, 0] == 0], forty[forty[:, 0] == 1]
    assert malignant[:, 1].mean() > 1.5 * benign[:, 1].mean()
    assert np.median(malignant[:, 1]) > np.median(benign[:, 1])


def test_malignant_lesions_have_more_colour_variance_and_are_larger(forty):
    benign, malignant = forty[forty[:, 0] == 0], forty[forty[:, 0] == 1]
    assert malignant[:, 2].mean() > 1.2 * benign[:, 2].mean()
    assert malignant[:, 3].mean() > 1.2 * benign[:, 3].mean()


def test_classes_overlap_so_no_single_cue_is_perfect(forty):
    for column in (1, 2, 3):
        auc = roc_auc_score(forty[:, 0], forty[:, column])
        assert 0.6 < auc < 0.99, (column, auc)


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"n": -1, "seed": 0}, "n=-1"),
    ({"n": 3, "seed": -2}, "seed=-2"),
    ({"n": 3, "seed": 0, "size": 8}, "size=8"),
    ({"n": 3, "seed": 0, "malignant_fraction": 1.5}, "malignant_fraction=1.5"),
])
def test_bad_arguments_are_user_errors(kwargs, fragment):
    with pytest.raises(UserError, match=fragment):
        list(phantom_records(**kwargs))


def test_grid_script_writes_a_small_png(tmp_path):
    out = tmp_path / "grid.png"
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "make_phantom_grid.py"), "--out", str(out),
                             "--cols", "3", "--rows", "1", "--tile", "64", "--size", "96", "--bench", "4"],
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout and "images/s" in result.stdout
    grid = Image.open(out)
    assert grid.mode == "RGB" and grid.width == 3 * 64 + 2 * 4
    assert out.stat().st_size < 400_000


def test_a_simple_classifier_finds_a_real_but_imperfect_signal():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, targets = [], []
    for _, target, _, image in phantom_records(240, seed=0, size=64):
        centre = np.asarray(image, dtype=np.float32)[16:48, 16:48].reshape(-1, 3) / 255
        grey = centre.mean(axis=1)
        features.append(np.r_[centre.mean(0), centre.std(0), np.percentile(grey, [5, 25, 50, 75, 95]),
                              (grey < 0.35).mean()])
        targets.append(target)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    auc = cross_val_score(model, np.array(features), np.array(targets), cv=5, scoring="roc_auc").mean()
    assert 0.65 < auc < 0.97, auc


def test_prepare_source_phantom_as_the_readme_shows(tmp_path):
    """`skingan prepare --source phantom` stores exactly these phantoms (ids, labels, pixels)."""
    from skingan.data.prepared import open_prepared

    out = tmp_path / "phantom"
    result = run_skingan("prepare", "--source", "phantom", "--n", "40", "--seed", "0", "--sizes", "64",
                         "--out", out)
    assert result.returncode == 0, result.stderr
    prepared = open_prepared(out)
    meta = prepared.metadata
    assert len(meta) == 40 and set(meta["source"]) == {"phantom"}
    assert int(meta["target"].sum()) == 12
    row = meta.index[meta["image_id"] == "PHANTOM_0000007"][0]
    assert int(meta.loc[row, "target"]) == int(malignant_flags(40, 0)[7])
    expected = render_phantom(7, 0, bool(meta.loc[row, "target"]), 256).resize((64, 64), Image.LANCZOS)
    difference = np.abs(prepared.images(64)[row].astype(int) - np.asarray(expected, dtype=int))
    assert difference.mean() < 3  # the same image, resized by prepare's own (antialiased) path
