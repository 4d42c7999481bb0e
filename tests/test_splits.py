"""Splits: grouped by patient/lesion, stratified, seeded, and kept or carved from a given column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skingan.data.splits import assign_splits, group_ids, normalise_split_values
from skingan.errors import UserError


def patient_table(n_patients: int = 300, seed: int = 0) -> pd.DataFrame:
    """1–6 images per patient, lesions nested in patients, ~20 % malignant patients."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        malignant = rng.random() < 0.2
        for k in range(int(rng.integers(1, 7))):
            rows.append({"image_id": f"IMG_{len(rows):05d}", "patient_id": f"P{p:04d}",
                         "lesion_id": f"L{p:04d}_{k // 2}", "target": int(malignant and k % 2 == 0)})
    return pd.DataFrame(rows)


def test_no_patient_in_two_splits_and_classes_stratified():
    table = patient_table()
    split, info = assign_splits(table, val_size=0.15, test_size=0.15, seed=0)
    table["split"] = split
    assert table.groupby("patient_id")["split"].nunique().max() == 1
    assert table.groupby("lesion_id")["split"].nunique().max() == 1
    assert info["groups"] == table["patient_id"].nunique()
    for name, fraction in (("train", 0.7), ("val", 0.15), ("test", 0.15)):
        part = table[table["split"] == name]
        assert abs(len(part) / len(table) - fraction) < 0.03, name
        assert abs(part["target"].mean() - table["target"].mean()) < 0.04, name


def test_same_seed_same_split_other_seed_other_split():
    table = patient_table()
    first, _ = assign_splits(table, val_size=0.2, test_size=0.1, seed=5)
    again, _ = assign_splits(table, val_size=0.2, test_size=0.1, seed=5)
    other, _ = assign_splits(table, val_size=0.2, test_size=0.1, seed=6)
    assert list(first) == list(again)
    assert (first != other).mean() > 0.2


def test_groups_join_through_shared_patient_lesion_and_bytes():
    table = pd.DataFrame({"image_id": ["a", "b", "c", "d", "e"], "patient_id": ["p1", "p1", "", "", ""],
                          "lesion_id": ["", "l1", "l1", "", ""], "sha256": ["x", "y", "z", "z", "w"]})
    groups = group_ids(table)
    assert groups[0] == groups[1] == groups[2] == groups[3] and groups[4] != groups[0]


def test_kept_split_is_kept_and_test_is_carved_from_train_grouped():
    table = patient_table(200)
    official = np.where(table["patient_id"] < "P0040", "validation", "Train")
    kept = normalise_split_values(pd.Series(official), "split")
    split, info = assign_splits(table, val_size=0.15, test_size=0.2, seed=1, kept=kept)
    assert (split[kept == "val"] == "val").all()
    assert set(split[kept == "train"]) == {"train", "test"}
    assert abs((split == "test").mean() - 0.2) < 0.03
    assert info["carved_from_train"] == ["test"] and info["groups_across_splits"] == 0
    table["split"] = split
    assert table.groupby("patient_id")["split"].nunique().max() == 1


def test_bad_split_values_and_sizes_are_user_errors():
    with pytest.raises(UserError, match="'holdout2'"):
        normalise_split_values(pd.Series(["train", "holdout2"]), "fold")
    with pytest.raises(UserError, match="--val-size 0.6"):
        assign_splits(patient_table(10), val_size=0.6, test_size=0.5, seed=0)
    with pytest.raises(UserError, match="--test-size"):
        assign_splits(patient_table(10), val_size=0.1, test_size=-0.1, seed=0)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(3, 80), seed=st.integers(0, 10**6), positives=st.floats(0.05, 0.95))
def test_every_row_gets_a_split_and_groups_stay_whole(n, seed, positives):
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({"image_id": [f"i{k}" for k in range(n)],
                          "patient_id": [f"p{int(v)}" for v in rng.integers(0, max(1, n // 2), n)],
                          "target": (rng.random(n) < positives).astype(int)})
    split, _ = assign_splits(table, val_size=0.15, test_size=0.15, seed=seed)
    assert set(split) <= {"train", "val", "test"} and len(split) == n
    table["split"] = split
    assert table.groupby("patient_id")["split"].nunique().max() == 1
