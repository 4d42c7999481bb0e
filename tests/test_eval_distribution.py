"""Distribution metrics against closed forms, hand computations and an independent implementation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skingan.evaluation.distribution import (
    density_coverage,
    distribution_metrics,
    frechet_distance,
    frechet_distance_from_samples,
    frechet_distance_from_stats,
    gaussian_stats,
    kid,
    mmd2_unbiased,
    precision_recall,
    real_halves_fd,
)


def random_spd(rng: np.random.Generator, d: int, rank: int | None = None) -> np.ndarray:
    a = rng.normal(size=(d, rank or d))
    return a @ a.T / d


def test_fd_closed_form_diagonal_gaussians_including_singular():
    mu1, mu2 = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 1.0, 0.0, 3.0])
    var1, var2 = np.array([4.0, 1.0, 0.0, 2.0]), np.array([1.0, 9.0, 0.0, 0.0])  # singular
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(var1) - np.sqrt(var2)) ** 2).sum()  # 5 + 1 + 4 + 2
    assert expected == pytest.approx(12.0)
    assert frechet_distance_from_stats(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(12.0, abs=1e-10)


def test_fd_closed_form_full_covariances_matches_scipy_sqrtm():
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(0)
    c1, c2 = random_spd(rng, 6), random_spd(rng, 6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    root = sqrtm(c1)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(c1 + c2 - 2 * np.real(sqrtm(root @ c2 @ root)))
    assert frechet_distance_from_stats(mu1, c1, mu2, c2) == pytest.approx(expected, rel=1e-9)


def test_fd_of_samples_approaches_the_closed_form():
    rng = np.random.default_rng(1)
    c1, c2 = random_spd(rng, 3), random_spd(rng, 3)
    mu1, mu2 = np.zeros(3), np.array([1.0, -1.0, 0.5])
    exact = frechet_distance_from_stats(mu1, c1, mu2, c2)
    x = rng.multivariate_normal(mu1, c1, size=100_000)
    y = rng.multivariate_normal(mu2, c2, size=100_000)
    assert frechet_distance(x, y) == pytest.approx(exact, rel=0.02)


def test_fd_self_is_zero_and_real_when_n_below_d():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(20, 64))  # N < D: singular covariance
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)
    y = rng.normal(size=(20, 64)) + 0.5
    value = frechet_distance(x, y)
    assert np.isfinite(value) and value > 0


@pytest.mark.parametrize(("n1", "n2", "d"), [(30, 50, 80), (200, 150, 12)])
def test_fd_sample_path_equals_covariance_path(n1, n2, d):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(n1, d)) @ rng.normal(size=(d, d))
    y = rng.normal(size=(n2, d)) * 2 + 1
    by_stats = frechet_distance_from_stats(*gaussian_stats(x), *gaussian_stats(y))
    # (singular covariances: sqrt of round-off eigenvalues ~1e-12 adds ~1e-6 each on the D×D path)
    assert frechet_distance_from_samples(x, y) == pytest.approx(by_stats, rel=1e-7)
    assert frechet_distance(x, y) == pytest.approx(by_stats, rel=1e-7)


class _Identity(torch.nn.Module):
    """A 'feature extractor' that returns its input, so torchmetrics sees exactly our features."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.num_features = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@pytest.mark.parametrize(("n", "d"), [(300, 16), (40, 64)])
def test_fd_agrees_with_torchmetrics(n, d):
    fid_module = pytest.importorskip("torchmetrics.image.fid")
    rng = np.random.default_rng(3)
    real = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.3
    fake = rng.normal(size=(n, d)) * 1.2 + 0.3
    metric = fid_module.FrechetInceptionDistance(feature=_Identity(d))
    metric.update(torch.from_numpy(real), real=True)
    metric.update(torch.from_numpy(fake), real=False)
    reference = float(metric.compute())
    assert frechet_distance(real, fake) == pytest.approx(reference, rel=1e-6)


def test_mmd_unbiased_matches_the_formula_by_hand():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(7, 5)), rng.normal(size=(9, 5)) + 0.2
    d = x.shape[1]

    def k(a, b):
        return (float(a @ b) / d + 1) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kid_subsets_mean_std_and_full_subset():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(40, 8)), rng.normal(size=(40, 8)) + 1.0
    mean, std, size = kid(x, y, subsets=5, subset_size=1000)  # subset size capped at N: every subset is all
    assert size == 40 and std == pytest.approx(0.0, abs=1e-12)
    assert mean == pytest.approx(mmd2_unbiased(x, y), rel=1e-12)
    same_mean, _, _ = kid(x, rng.normal(size=(40, 8)), subsets=20, subset_size=20)
    assert same_mean < mean / 10  # unbiased: ≈ 0 for the same distribution
    _, std_small, _ = kid(x, y, subsets=20, subset_size=10)
    assert std_small > 0


def line(*xs: float) -> np.ndarray:
    return np.array([[x, 0.0] for x in xs])


def test_precision_recall_by_hand():
    # real radii (3rd NN): 3, 2, 2, 2, 3; only fake 0.5 lies inside a real ball → precision 1/5.
    # fake radii: 11.5 (for 0.5), 3, 2, 2, 3; every real lies within 11.5 of 0.5 → recall 1.
    precision, recall = precision_recall(line(0, 1, 2, 3, 4), line(0.5, 10, 11, 12, 13), k=3)
    assert precision == pytest.approx(0.2)
    assert recall == pytest.approx(1.0)
    # swapped roles: reals 0.5,10..13 ; fakes 0..4 → all fakes within 11.5 of 0.5 → precision 1; recall: only 0.5
    precision, recall = precision_recall(line(0.5, 10, 11, 12, 13), line(0, 1, 2, 3, 4), k=3)
    assert (precision, recall) == (pytest.approx(1.0), pytest.approx(0.2))


def test_density_coverage_by_hand():
    # real radii (5th NN) for 0..6: 5, 4, 3, 3, 3, 4, 5. A fake at 1 is strictly inside the balls of reals
    # 0, 1, 2, 3 (4 balls; distance 3, 4, 5 to reals 4, 5, 6 equal their radii, so not inside).
    density, coverage = density_coverage(line(0, 1, 2, 3, 4, 5, 6), line(1, 1, 20), k=5)
    assert density == pytest.approx(8 / 15)
    assert coverage == pytest.approx(4 / 7)


def test_density_can_exceed_one_and_identical_sets_score_perfectly():
    rng = np.random.default_rng(6)
    real = rng.normal(size=(200, 4))
    dense = rng.normal(scale=0.05, size=(50, 4))  # all fakes at the mode, inside many overlapping real balls
    density, coverage = density_coverage(real, dense)
    assert density > 1 and coverage < 0.1
    precision, recall = precision_recall(real, real)
    assert precision == 1.0 and recall == 1.0


def test_distribution_metrics_worsen_with_a_shift_and_real_halves():
    rng = np.random.default_rng(7)
    real, same = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    shifted = rng.normal(size=(400, 8)) + 1.5
    good = distribution_metrics(real, same, kid_subsets=10, kid_subset_size=200)
    bad = distribution_metrics(real, shifted, kid_subsets=10, kid_subset_size=200)
    assert good["fd"] < 0.2 < 8 < bad["fd"]  # closed form of the shift: 8 × 1.5² = 18
    assert good["kid_mean"] < bad["kid_mean"] / 10
    for key in ("precision", "recall", "density", "coverage"):
        assert good[key] > bad[key]
    halves, half = real_halves_fd(real)
    assert half == 200 and 0 < halves < 0.5
    assert good["fd_real_halves"] == pytest.approx(halves) and good["fd_real_halves_n"] == 200
    # neither a floor nor a target: with the same distribution and N fakes = N reals, FD's small-sample bias
    # makes two halves of N/2 score ABOVE a perfect generator's N fakes (on ISIC, held-out reals score far above)
    assert good["fd"] < halves
    assert "fd_real_halves" not in distribution_metrics(real, same, kid_subsets=2, kid_subset_size=50, halves=False)
