"""Classifier metrics against scikit-learn on fixed predictions; the bootstrap CI; the Youden threshold."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from skingan.classifier import metrics as M


@pytest.fixture
def predictions() -> tuple[np.ndarray, np.ndarray]:
    """400 labels (25 % positive) with rounded scores, so many ties."""
    rng = np.random.default_rng(7)
    y = (rng.random(400) < 0.25).astype(int)
    scores = np.round(np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1), 2)
    return y, scores


def test_auc_and_average_precision_match_sklearn(predictions):
    y, s = predictions
    assert M.roc_auc(y, s) == pytest.approx(sk.roc_auc_score(y, s), abs=1e-12)
    assert M.average_precision(y, s) == pytest.approx(sk.average_precision_score(y, s), abs=1e-12)
    assert M.roc_auc_batch(np.stack([y, y]), np.stack([s, -s])) == pytest.approx(
        [sk.roc_auc_score(y, s), sk.roc_auc_score(y, -s)])


def test_roc_points_match_sklearn(predictions):
    y, s = predictions
    fpr, tpr, thresholds = M.roc_points(y, s)
    sk_fpr, sk_tpr, sk_thresholds = sk.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thresholds[1:], sk_thresholds[1:])


def test_threshold_metrics_match_sklearn(predictions):
    y, s = predictions
    threshold = 0.5
    pred = s >= threshold
    got = M.threshold_metrics(y, s, threshold)
    assert got["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(y, pred))
    assert got["sensitivity"] == pytest.approx(sk.recall_score(y, pred))
    assert got["specificity"] == pytest.approx(sk.recall_score(1 - y, ~pred))
    assert got["f1"] == pytest.approx(sk.f1_score(y, pred))
    tn, fp, fn, tp = sk.confusion_matrix(y, pred).ravel()
    assert M.confusion(y, s, threshold) == {"tn": tn, "fp": fp, "fn": fn, "tp": tp}


def test_youden_threshold_maximises_j(predictions):
    y, s = predictions
    threshold = M.youden_threshold(y, s)
    fpr, tpr, _ = sk.roc_curve(y, s)
    best_j = np.max(tpr - fpr)
    got = M.threshold_metrics(y, s, threshold)
    assert got["sensitivity"] + got["specificity"] - 1 == pytest.approx(best_j)
    assert not np.isin(threshold, s)  # between two observed scores, so the rule does not hinge on ties


def test_bootstrap_ci_contains_estimate_and_narrows_with_n():
    rng = np.random.default_rng(0)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.r_[np.zeros(n // 2), np.ones(n // 2)].astype(int)
        return y, rng.normal(0.8 * y, 1.0)

    widths = []
    for n in (60, 600, 6000):
        y, s = sample(n)
        low, high = M.bootstrap_auc_ci(y, s, n_boot=400, seed=1)
        assert low <= M.roc_auc(y, s) <= high
        widths.append(high - low)
    assert widths[0] > 2 * widths[1] > 4 * widths[2]
    y, s = sample(200)
    assert M.bootstrap_auc_ci(y, s, seed=3) == M.bootstrap_auc_ci(y, s, seed=3)  # seeded
    assert M.bootstrap_auc_ci(y, s, seed=3) != M.bootstrap_auc_ci(y, s, seed=4)


def test_single_class_gives_nan_not_a_crash():
    y = np.zeros(10, dtype=int)
    assert np.isnan(M.roc_auc(y, np.linspace(0, 1, 10)))
    assert np.isnan(M.bootstrap_auc_ci(y, np.linspace(0, 1, 10))[0])


def test_report_holds_every_metrics_json_key(predictions, tmp_path):
    y, s = predictions
    report = M.classification_report(y, s, 0.5, n_boot=100, seed=0)
    for key in ("auc", "auc_ci_low", "auc_ci_high", "pr_auc", "balanced_accuracy", "sensitivity",
                "specificity", "f1", "threshold", "n", "n_pos"):
        assert key in report
    assert report["n"] == 400 and report["n_pos"] == int(y.sum())
    M.plot_roc({"test": (y, s)}, tmp_path / "roc.png")
    M.plot_pr({"test": (y, s)}, tmp_path / "pr.png")
    M.plot_confusion(M.confusion(y, s, 0.5), tmp_path / "confusion.png")
    assert all((tmp_path / f).stat().st_size > 1000 for f in ("roc.png", "pr.png", "confusion.png"))
