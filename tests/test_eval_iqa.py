"""The five PIQA metrics: inputs in [0, 1], directions, ranges, and the three protocols."""

from __future__ import annotations

import math

import numpy as np
import pytest

from skingan.data.prepared import open_prepared
from skingan.evaluation import iqa


@pytest.fixture(scope="module")
def reals(tiny_prepared):
    prepared = open_prepared(tiny_prepared)
    return np.asarray(prepared.images(64)[prepared.indices("train", ["malignant"])])


def noisy(images, sigma, seed=0):
    x = images.astype(np.float64) + np.random.default_rng(seed).normal(0, sigma, images.shape)
    return np.clip(x, 0, 255).astype(np.uint8)


def test_uint8_inputs_are_rescaled_to_unit_range():
    a = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    b = np.full((2, 32, 32, 3), 51, dtype=np.uint8)  # 0.2 in [0, 1] → MSE 0.04 → PSNR 10·log10(25)
    scores = iqa.paired_scores(a, b, ("psnr",))
    assert scores["psnr"] == pytest.approx([10 * math.log10(25)] * 2, rel=1e-5)


def test_identical_images_score_perfectly(reals):
    scores = iqa.paired_scores(reals[:8], reals[:8])
    assert (scores["psnr"] > 60).all()
    np.testing.assert_allclose(scores["ssim"], 1, atol=1e-5)
    np.testing.assert_allclose(scores["haarpsi"], 1, atol=1e-5)
    np.testing.assert_allclose(scores["ms_gmsd"], 0, atol=1e-5)
    np.testing.assert_allclose(scores["mdsi"], 0, atol=1e-5)


def test_directions_and_ranges_under_increasing_noise(reals):
    assert iqa.DIRECTIONS == {"psnr": "higher", "ssim": "higher", "ms_gmsd": "lower", "mdsi": "lower",
                              "haarpsi": "higher"}
    means = []
    for sigma in (5, 20, 60):
        scores = iqa.paired_scores(reals[:16], noisy(reals[:16], sigma))
        assert ((scores["ssim"] >= -1) & (scores["ssim"] <= 1)).all()
        assert ((scores["haarpsi"] >= 0) & (scores["haarpsi"] <= 1)).all()
        assert (scores["ms_gmsd"] >= 0).all() and (scores["mdsi"] >= 0).all() and (scores["psnr"] > 0).all()
        means.append({k: v.mean() for k, v in scores.items()})
    for name, better in iqa.DIRECTIONS.items():
        values = [m[name] for m in means]  # noise grows: quality must get worse in the recorded direction
        worse = np.diff(values) < 0 if better == "higher" else np.diff(values) > 0
        assert worse.all(), (name, values)


def test_seed_and_nn_protocols(reals):
    fakes = reals[[3, 7, 11, 20]]  # exact copies of training images: the nn protocol must find them
    nearest = np.array([3, 7, 11, 20])
    nn = iqa.nn_protocol(fakes, reals, nearest)
    assert nn["ssim"]["mean"] == pytest.approx(1, abs=1e-5) and nn["psnr"]["n"] == 4
    seed = iqa.seed_protocol(noisy(reals[:30], 10), reals, seed=0)
    assert seed["psnr"]["n"] == 30 and seed["ms_gmsd"]["better"] == "lower"
    assert seed["ssim"]["mean"] < 0.9 and seed["psnr"]["mean"] < nn["psnr"]["mean"]
    assert iqa.seed_protocol(reals[:30], reals, seed=0) == iqa.seed_protocol(reals[:30], reals, seed=0)


def test_diversity_flags_mode_collapse(reals):
    collapsed = noisy(np.repeat(reals[:1], 30, axis=0), 3)
    result = iqa.diversity(collapsed, reals, pairs=60)
    assert result["ssim"]["fake"] > 0.8 > result["ssim"]["real"]
    assert result["ssim"]["ratio"] > 1.5 and result["haarpsi"]["ratio"] > 1.2
    healthy = iqa.diversity(reals[:24], reals[24:], pairs=60)
    assert 0.6 < healthy["ssim"]["ratio"] < 1.6
