"""Classifier metrics on probabilities over a whole set, a seeded bootstrap CI, and the figures.

ROC-AUC is the Mann-Whitney statistic (ties count one half), PR-AUC is average precision; both match
scikit-learn. Threshold metrics use a threshold chosen on the VALIDATION set (Youden's J) and applied
unchanged to test sets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.stats import rankdata


def _check(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"{y.shape[0]} labels but {s.shape[0]} scores")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinity")
    return y, s


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    y, s = _check(y_true, scores)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_auc_batch(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """ROC-AUC of each row of (B, n) label and score matrices (NaN for single-class rows)."""
    ranks = rankdata(s, axis=1)
    n_pos = y.sum(axis=1)
    n_neg = y.shape[1] - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * y).sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    auc[(n_pos == 0) | (n_neg == 0)] = np.nan
    return auc


def average_precision(y_true: np.ndarray, scores: np.ndarray) -> float:
    """PR-AUC as average precision: sum over thresholds of (recall step) × precision."""
    y, s = _check(y_true, scores)
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    y_sorted, s_sorted = y[order], s[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s_sorted)), len(s_sorted) - 1]
    tp = np.cumsum(y_sorted)[last_of_tie]
    predicted = last_of_tie + 1
    precision = tp / predicted
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_points(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) with predictions `score >= threshold`, from the strictest threshold down."""
    y, s = _check(y_true, scores)
    order = np.argsort(-s, kind="mergesort")
    y_sorted, s_sorted = y[order], s[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s_sorted)), len(s_sorted) - 1]
    tp = np.r_[0, np.cumsum(y_sorted)[last_of_tie]]
    fp = np.r_[0, last_of_tie + 1] - tp
    thresholds = np.r_[np.inf, s_sorted[last_of_tie]]
    return fp / max(int((y == 0).sum()), 1), tp / max(int(y.sum()), 1), thresholds


def youden_threshold(y_true: np.ndarray, scores: np.ndarray) -> float:
    """The threshold maximising sensitivity + specificity − 1 (midpoint to the next lower score)."""
    fpr, tpr, thresholds = roc_points(y_true, scores)
    best = int(np.argmax(tpr - fpr))
    if not np.isfinite(thresholds[best]):
        return float(np.nextafter(thresholds[1], np.inf)) if len(thresholds) > 1 else 0.5
    lower = thresholds[best + 1] if best + 1 < len(thresholds) else thresholds[best] - 1e-6
    return float((thresholds[best] + lower) / 2)


def confusion(y_true: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, int]:
    y, s = _check(y_true, scores)
    pred = s >= threshold
    return {"tn": int((~pred & (y == 0)).sum()), "fp": int((pred & (y == 0)).sum()),
            "fn": int((~pred & (y == 1)).sum()), "tp": int((pred & (y == 1)).sum())}


def threshold_metrics(y_true: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    c = confusion(y_true, scores, threshold)
    sensitivity = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else float("nan")
    specificity = c["tn"] / (c["tn"] + c["fp"]) if c["tn"] + c["fp"] else float("nan")
    precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
    f1 = 2 * precision * sensitivity / (precision + sensitivity) if precision + sensitivity else 0.0
    return {"balanced_accuracy": float(np.nanmean([sensitivity, specificity])), "sensitivity": sensitivity,
            "specificity": specificity, "f1": float(f1), "accuracy": (c["tp"] + c["tn"]) / max(sum(c.values()), 1)}


def bootstrap_auc_ci(y_true: np.ndarray, scores: np.ndarray, *, n_boot: int = 1000, level: float = 0.95,
                     seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of ROC-AUC (resampling images with replacement; seeded)."""
    y, s = _check(y_true, scores)
    if len(np.unique(y)) < 2 or n_boot < 1:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    aucs = []
    for start in range(0, n_boot, 200):  # chunks keep memory small for large sets
        idx = rng.integers(0, len(y), size=(min(200, n_boot - start), len(y)))
        aucs.append(roc_auc_batch(y[idx], s[idx]))
    values = np.concatenate(aucs)
    values = values[np.isfinite(values)]
    alpha = (1 - level) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


def classification_report(y_true: np.ndarray, scores: np.ndarray, threshold: float, *, n_boot: int = 1000,
                          seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """Every number `metrics.json` holds for one set."""
    y, s = _check(y_true, scores)
    low, high = bootstrap_auc_ci(y, s, n_boot=n_boot, seed=seed, level=level)
    report = {"auc": roc_auc(y, s), "auc_ci_low": low, "auc_ci_high": high, "pr_auc": average_precision(y, s)}
    report.update(threshold_metrics(y, s, threshold))
    report.update({"threshold": float(threshold), "n": int(len(y)), "n_pos": int(y.sum())})
    report.update(confusion(y, s, threshold))
    return report


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> None:
    """ROC curves of several sets (name → (labels, scores)) on one figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for name, (y, s) in curves.items():
        fpr, tpr, _ = roc_points(y, s)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc(y, s):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set(xlabel="1 − specificity", ylabel="sensitivity", title="ROC")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_pr(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for name, (y, s) in curves.items():
        y, s = _check(y, s)
        order = np.argsort(-s, kind="mergesort")
        tp = np.cumsum(y[order])
        precision = tp / np.arange(1, len(y) + 1)
        recall = tp / max(int(y.sum()), 1)
        ax.plot(recall, precision, label=f"{name} (AP {average_precision(y, s):.3f})")
        ax.axhline(y.mean(), color="grey", linestyle=":", linewidth=0.8)
    ax.set(xlabel="recall (sensitivity)", ylabel="precision", title="Precision-recall", ylim=(0, 1.02))
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_confusion(counts: dict[str, int], path: Path, title: str = "test") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.array([[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]])
    fig, ax = plt.subplots(figsize=(3.6, 3.2))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center",
                color="white" if value > matrix.max() / 2 else "black")
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["benign", "malignant"],
           yticklabels=["benign", "malignant"], xlabel="predicted", ylabel="true", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
