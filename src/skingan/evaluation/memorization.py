"""Memorisation: how close each fake is to its nearest real training image, against how close real
held-out images come to the training set (val, else test: never train with itself). A fake nearer than
almost any real↔real pair is a candidate copy of a patient's image."""

from __future__ import annotations

import numpy as np

from skingan.evaluation.distribution import pairwise_distances

PERCENTILE = 1.0
HELDOUT_ORDER = ("val", "test")  # the held-out split the threshold comes from: the first with enough images
MIN_HELDOUT = 2


def nearest_neighbours(query: np.ndarray, reference: np.ndarray, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """For each query row: (index of the nearest reference row, its Euclidean distance)."""
    index = np.empty(len(query), dtype=np.int64)
    dist = np.empty(len(query), dtype=np.float64)
    for start in range(0, len(query), chunk):
        block = pairwise_distances(query[start:start + chunk], reference)
        index[start:start + chunk] = block.argmin(axis=1)
        dist[start:start + chunk] = block[np.arange(len(block)), index[start:start + chunk]]
    return index, dist


def choose_heldout(counts: dict[str, int], minimum: int = MIN_HELDOUT) -> tuple[str | None, str | None]:
    """(split, None) for the first of val, test with `minimum` images of the class, else (None, the reason)."""
    for split in HELDOUT_ORDER:
        if counts.get(split, 0) >= minimum:
            return split, None
    listed = ", ".join(f"{counts.get(s, 0)} {s}" for s in HELDOUT_ORDER)
    return None, (f"not measurable: the class has {listed} image(s); a threshold from held-out→train distances "
                  f"needs at least {minimum} held-out images (never train↔train)")


def memorization(fake_features: np.ndarray, train_features: np.ndarray, heldout_features: np.ndarray | None,
                 closest: int = 16, heldout_split: str | None = "val", reason: str | None = None) -> dict:
    """Fake→train nearest distances vs held-out real→train nearest distances (both in feature space).

    Without held-out features (`reason` says why) the fraction, threshold and held-out distances are null:
    the fake→train distances and closest pairs are still measured and reported."""
    fake_index, fake_dist = nearest_neighbours(fake_features, train_features)
    order = np.argsort(fake_dist)[:closest]
    record = {
        "n_fake": int(len(fake_features)), "n_train": int(len(train_features)), "n_heldout": 0,
        "heldout_split": None, "reason": reason,
        "threshold_percentile": PERCENTILE, "threshold": None, "fraction_below_threshold": None,
        "expected_fraction_if_like_real": PERCENTILE / 100,
        "fake_nn_distance": _summary(fake_dist), "heldout_nn_distance": None,
        "closest_pairs": [{"fake": int(i), "train": int(fake_index[i]), "distance": float(fake_dist[i])}
                          for i in order],
        "_nearest_train": fake_index,  # for the nn IQA protocol; dropped before writing metrics.json
    }
    if heldout_features is None:
        return record
    _, real_dist = nearest_neighbours(heldout_features, train_features)
    threshold = float(np.percentile(real_dist, PERCENTILE))
    record.update({"n_heldout": int(len(heldout_features)), "heldout_split": heldout_split, "threshold": threshold,
                   "fraction_below_threshold": float((fake_dist < threshold).mean()),
                   "heldout_nn_distance": _summary(real_dist)})
    return record


def _summary(dist: np.ndarray) -> dict:
    return {"min": float(dist.min()), "median": float(np.median(dist)), "mean": float(dist.mean())}
