"""C2ST: a from-scratch CNN cannot tell two halves of one real set apart, and tells noise from lesions at once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skingan.data.prepared import open_prepared
from skingan.evaluation.c2st import C2STSettings, SmallCNN, c2st

FAST = C2STSettings(size=32, folds=4, epochs=6, bootstrap=200)


@pytest.fixture(scope="module")
def lesions(tiny_prepared: Path) -> np.ndarray:
    prepared = open_prepared(tiny_prepared)
    return prepared.images(64)[prepared.indices(classes=["malignant"])]


def test_two_halves_of_one_real_set_are_indistinguishable(lesions: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    order = rng.permutation(len(lesions))
    half = len(order) // 2
    result = c2st(lesions[order[:half]], lesions[order[half:2 * half]], settings=FAST, seed=1)
    assert result["n"] == half
    assert 0.25 < result["auc"] < 0.75
    assert result["ci"][0] < 0.5 < result["ci"][1] + 0.1


def test_noise_is_told_from_lesions(lesions: np.ndarray) -> None:
    noise = np.random.default_rng(0).integers(0, 256, size=lesions.shape, dtype=np.uint8)
    result = c2st(noise, lesions, settings=FAST, seed=1)
    assert result["auc"] > 0.95 and result["ci"][0] > 0.85


def test_c2st_is_seeded_and_balances_the_sets(lesions: np.ndarray) -> None:
    a, b = lesions[:12], lesions[12:]
    first, again = (c2st(a, b, settings=FAST, seed=3) for _ in range(2))
    assert first == again and first["n"] == 12
    with pytest.raises(ValueError, match="at least 4 images"):
        c2st(lesions[:3], lesions[3:], settings=FAST)


def test_the_judge_starts_from_random_weights() -> None:
    import torch

    torch.manual_seed(0)
    a = SmallCNN().state_dict()
    torch.manual_seed(1)
    b = SmallCNN().state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())
