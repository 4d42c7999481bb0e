"""DeLong's test for correlated ROC-AUCs scored on the SAME images (DeLong, DeLong & Clarke-Pearson 1988).

Each predictor's AUC is the mean of its structural components: for a positive image i, V10[i] is the
fraction of negatives it outscores (ties count one half); for a negative j, V01[j] the fraction of positives
that outscore it. With m positives and n negatives the covariance of k AUCs is S10/m + S01/n, S10 and S01
the (k × k) sample covariances of the components. Any contrast L·AUC then has variance L S Lᵀ, which
gives z = L·AUC / sqrt(L S Lᵀ) and a two-sided normal p-value. Components come from midranks (Sun & Xu
2014): V10[i] = (rank of X_i among all − rank among positives) / n, the same numbers as the pairwise
definition without its m × n matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class DelongResult:
    difference: float  # the contrast L·AUC (e.g. AUC_a − AUC_b)
    variance: float
    z: float
    p_value: float


def structural_components(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(aucs (k,), V10 (k, m), V01 (k, n)) of k predictors: `scores` is (k, N), `labels` (N,) of 0/1."""
    y = np.asarray(labels).astype(np.int64).ravel()
    s = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    if s.shape[1] != len(y):
        raise ValueError(f"{len(y)} labels but {s.shape[1]} scores per predictor")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinity")
    if not set(np.unique(y)) <= {0, 1}:
        raise ValueError(f"labels must be 0/1, got {sorted(set(np.unique(y).tolist()))}")
    pos, neg = s[:, y == 1], s[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    if m < 1 or n < 1:
        raise ValueError(f"DeLong needs both classes: {m} positive and {n} negative images")
    ranks = stats.rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    v10 = (ranks[:, :m] - stats.rankdata(pos, axis=1)) / n
    v01 = 1.0 - (ranks[:, m:] - stats.rankdata(neg, axis=1)) / m
    return v10.mean(axis=1), v10, v01


def auc_covariance(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(aucs (k,), DeLong covariance (k, k)) of k predictors scored on the same images."""
    aucs, v10, v01 = structural_components(labels, scores)
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.atleast_2d(np.cov(v10, ddof=1)) if m > 1 else np.zeros((len(aucs), len(aucs)))
    s01 = np.atleast_2d(np.cov(v01, ddof=1)) if n > 1 else np.zeros((len(aucs), len(aucs)))
    return aucs, s10 / m + s01 / n


def contrast_test(labels: np.ndarray, scores: np.ndarray, contrast: np.ndarray) -> DelongResult:
    """z-test of contrast·AUC = 0 for k predictors on the same images (contrast of length k).

    A contrast with zero variance (e.g. two identical predictors) gives z = 0, p = 1 when it is 0 and NaN
    otherwise (no variance to scale by).
    """
    aucs, cov = auc_covariance(labels, scores)
    c = np.asarray(contrast, dtype=np.float64).ravel()
    if c.shape != aucs.shape:
        raise ValueError(f"contrast has {c.size} weights for {aucs.size} predictors")
    difference = float(c @ aucs)
    variance = max(float(c @ cov @ c), 0.0)
    scale = np.sqrt(variance)
    if scale <= 1e-12 * max(1.0, abs(difference)):
        if abs(difference) <= 1e-12:
            return DelongResult(difference, variance, 0.0, 1.0)
        return DelongResult(difference, variance, float("nan"), float("nan"))
    z = difference / scale
    return DelongResult(difference, variance, float(z), float(2 * stats.norm.sf(abs(z))))


def paired_test(labels: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray) -> DelongResult:
    """DeLong's paired test of AUC(a) − AUC(b) for two predictors on the same images."""
    return contrast_test(labels, np.vstack([np.ravel(scores_a), np.ravel(scores_b)]), np.array([1.0, -1.0]))


def paired_mean_test(labels: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray) -> DelongResult:
    """DeLong's test of the mean over seeds of AUC(a_k) − AUC(b_k), all 2K models on the same images.

    `scores_a` and `scores_b` are (K, N): row k is seed k's condition and reference. The full 2K × 2K
    covariance carries the correlation between seeds that scoring one fixed test set induces, which a
    combination of per-seed z values (Stouffer, Fisher) would ignore by treating the seeds as independent.
    """
    a, b = np.atleast_2d(scores_a), np.atleast_2d(scores_b)
    if a.shape != b.shape:
        raise ValueError(f"condition scores {a.shape} and reference scores {b.shape} differ in shape")
    k = a.shape[0]
    contrast = np.r_[np.full(k, 1.0 / k), np.full(k, -1.0 / k)]
    return contrast_test(labels, np.vstack([a, b]), contrast)
