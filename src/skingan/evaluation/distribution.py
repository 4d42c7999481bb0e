"""Distribution metrics between two feature sets (rows = images): FD, KID, precision/recall, density/coverage.

All arithmetic is float64. The Fréchet distance uses the symmetric form
tr sqrt(C1^½ C2 C1^½) computed by eigen-decomposition of positive semi-definite matrices, so it stays
real and exact when N < D (singular covariances) — no `scipy.linalg.sqrtm`, no "imaginary component".
With fewer samples than dimensions the same trace is the nuclear norm of X1 X2ᵀ / sqrt((n1-1)(n2-1))
(X centred), an (n1, n2) SVD instead of two (D, D) eigen-decompositions: exact, and much faster.
"""

from __future__ import annotations

import numpy as np

PR_K = 3  # Kynkäänniemi et al. 2019
DC_K = 5  # Naeem et al. 2020


def _as_float64(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be (N, D), got shape {x.shape}")
    return x


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (tiny negative eigenvalues clipped to 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = _as_float64(features)
    if len(x) < 2:
        raise ValueError("at least 2 feature vectors are needed for a covariance")
    return x.mean(axis=0), np.cov(x, rowvar=False)


def frechet_distance_from_stats(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """||mu1 - mu2||² + tr C1 + tr C2 - 2 tr sqrt(C1^½ C2 C1^½)."""
    root1 = _psd_sqrt(np.asarray(cov1, dtype=np.float64))
    middle = root1 @ np.asarray(cov2, dtype=np.float64) @ root1
    eigen = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = float(np.sqrt(np.clip(eigen, 0, None)).sum())
    diff = np.asarray(mu1, dtype=np.float64) - np.asarray(mu2, dtype=np.float64)
    value = float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * trace_sqrt)
    return max(value, 0.0)


def frechet_distance(x: np.ndarray, y: np.ndarray) -> float:
    x, y = _as_float64(x), _as_float64(y)
    if max(len(x), len(y)) < x.shape[1]:
        return frechet_distance_from_samples(x, y)
    return frechet_distance_from_stats(*gaussian_stats(x), *gaussian_stats(y))


def frechet_distance_from_samples(x: np.ndarray, y: np.ndarray) -> float:
    """The same FD via the sample matrices: tr sqrt(C1^½ C2 C1^½) = ||X1 X2ᵀ||_* / sqrt((n1-1)(n2-1))."""
    x, y = _as_float64(x), _as_float64(y)
    if len(x) < 2 or len(y) < 2:
        raise ValueError("at least 2 feature vectors are needed for a covariance")
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    scale_x, scale_y = len(x) - 1, len(y) - 1
    trace_sqrt = float(np.linalg.svd(xc @ yc.T, compute_uv=False).sum() / np.sqrt(scale_x * scale_y))
    diff = x.mean(axis=0) - y.mean(axis=0)
    value = float(diff @ diff + (xc * xc).sum() / scale_x + (yc * yc).sum() / scale_y - 2 * trace_sqrt)
    return max(value, 0.0)


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(a, b) = (a·b / d + 1)³, the kernel of Bińkowski et al. 2018."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with the polynomial kernel (diagonal terms excluded)."""
    x, y = _as_float64(x), _as_float64(y)
    m, n = len(x), len(y)
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    term_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    term_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(term_x + term_y - 2 * kxy.mean())


def kid(real: np.ndarray, fake: np.ndarray, *, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float, int]:
    """KID: mean and std of unbiased MMD² over random subsets; returns (mean, std, subset size used)."""
    real, fake = _as_float64(real), _as_float64(fake)
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError("KID needs at least 2 real and 2 fake feature vectors")
    rng = np.random.default_rng(seed)
    values = [
        mmd2_unbiased(real[rng.choice(len(real), size, replace=False)],
                      fake[rng.choice(len(fake), size, replace=False)])
        for _ in range(subsets)
    ]
    return float(np.mean(values)), float(np.std(values)), size


def pairwise_distances(x: np.ndarray, y: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Euclidean distances (len(x), len(y)) in float64, computed in row chunks."""
    x, y = _as_float64(x), _as_float64(y)
    y_sq = (y * y).sum(axis=1)
    out = np.empty((len(x), len(y)), dtype=np.float64)
    for start in range(0, len(x), chunk):
        block = x[start:start + chunk]
        sq = (block * block).sum(axis=1)[:, None] + y_sq[None, :] - 2 * block @ y.T
        out[start:start + chunk] = np.sqrt(np.clip(sq, 0, None))
    return out


def knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each point to its k-th nearest neighbour in the same set (itself excluded)."""
    if len(x) <= k:
        raise ValueError(f"need more than k={k} points for k-NN radii, got {len(x)}")
    dist = pairwise_distances(x, x)
    return np.sort(dist, axis=1)[:, k]  # column 0 is the point itself


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = PR_K) -> tuple[float, float]:
    """Improved precision/recall (Kynkäänniemi 2019): fakes inside the real k-NN manifold, and vice versa."""
    real_radii, fake_radii = knn_radii(real, k), knn_radii(fake, k)
    dist = pairwise_distances(real, fake)  # (R, F)
    precision = float((dist <= real_radii[:, None]).any(axis=0).mean())
    recall = float((dist <= fake_radii[None, :]).any(axis=1).mean())
    return precision, recall


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = DC_K) -> tuple[float, float]:
    """Density and coverage (Naeem 2020); density can exceed 1."""
    real_radii = knn_radii(real, k)
    dist = pairwise_distances(real, fake)  # (R, F)
    inside = dist < real_radii[:, None]
    density = float(inside.sum() / (k * dist.shape[1]))
    coverage = float((dist.min(axis=1) < real_radii).mean())
    return density, coverage


def real_halves_fd(real: np.ndarray, seed: int = 0) -> tuple[float, int]:
    """FD between two random disjoint halves of the real set; returns (FD, images per half).

    This is FD's small-sample bias at N/2 vs N/2 of one set, not a target: a perfect generator scored at N
    fakes against the whole set sits well above it (reference.py measures what it does score)."""
    real = _as_float64(real)
    order = np.random.default_rng(seed).permutation(len(real))
    half = len(real) // 2
    return frechet_distance(real[order[:half]], real[order[half:2 * half]]), half


def distribution_metrics(real: np.ndarray, fake: np.ndarray, *, seed: int = 0, kid_subsets: int = 100,
                         kid_subset_size: int = 1000, halves: bool = True) -> dict:
    """Every distribution metric of metrics.json for one real and one fake feature set (with `halves`, the
    real-halves FD of the real set too)."""
    kid_mean, kid_std, kid_size = kid(real, fake, subsets=kid_subsets, subset_size=kid_subset_size, seed=seed)
    precision, recall = precision_recall(real, fake)
    density, coverage = density_coverage(real, fake)
    metrics = {
        "fd": frechet_distance(real, fake), "kid_mean": kid_mean, "kid_std": kid_std,
        "kid_subsets": kid_subsets, "kid_subset_size": kid_size,
        "precision": precision, "recall": recall, "density": density, "coverage": coverage,
    }
    if halves:
        metrics["fd_real_halves"], metrics["fd_real_halves_n"] = real_halves_fd(real, seed=seed)
    return metrics
