"""Memorisation: how close each fake is to its nearest real training image, against how close real
held-out (val) images come to the training set. A fake nearer than almost any real↔real pair is a
candidate copy of a patient's image."""

from __future__ import annotations

import numpy as np

from skingan.evaluation.distribution import pairwise_distances

PERCENTILE = 1.0


def nearest_neighbours(query: np.ndarray, reference: np.ndarray, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """For each query row: (index of the nearest reference row, its Euclidean distance)."""
    index = np.empty(len(query), dtype=np.int64)
    dist = np.empty(len(query), dtype=np.float64)
    for start in range(0, len(query), chunk):
        block = pairwise_distances(query[start:start + chunk], reference)
        index[start:start + chunk] = block.argmin(axis=1)
        dist[start:start + chunk] = block[np.arange(len(block)), index[start:start + chunk]]
    return index, dist


def memorization(fake_features: np.ndarray, train_features: np.ndarray, heldout_features: np.ndarray,
                 closest: int = 16) -> dict:
    """Fake→train nearest distances vs held-out real→train nearest distances (both in feature space)."""
    fake_index, fake_dist = nearest_neighbours(fake_features, train_features)
    _, real_dist = nearest_neighbours(heldout_features, train_features)
    threshold = float(np.percentile(real_dist, PERCENTILE))
    order = np.argsort(fake_dist)[:closest]
    return {
        "n_fake": int(len(fake_features)), "n_train": int(len(train_features)),
        "n_heldout": int(len(heldout_features)),
        "threshold_percentile": PERCENTILE, "threshold": threshold,
        "fraction_below_threshold": float((fake_dist < threshold).mean()),
        "expected_fraction_if_like_real": PERCENTILE / 100,
        "fake_nn_distance": {"min": float(fake_dist.min()), "median": float(np.median(fake_dist)),
                             "mean": float(fake_dist.mean())},
        "heldout_nn_distance": {"min": float(real_dist.min()), "median": float(np.median(real_dist)),
                                "mean": float(real_dist.mean())},
        "closest_pairs": [{"fake": int(i), "train": int(fake_index[i]), "distance": float(fake_dist[i])}
                          for i in order],
        "_nearest_train": fake_index,  # for the nn IQA protocol; dropped before writing metrics.json
    }
