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


def leaky_table() -> tuple[pd.DataFrame, pd.Series]:
    """Six patients; P0 has 3 train + 1 val images, P1 1 train + 1 test (a tie), the others sit in one split."""
    rows = [("P0", "train"), ("P0", "train"), ("P0", "train"), ("P0", "val"), ("P1", "train"), ("P1", "test"),
            ("P2", "train"), ("P2", "train"), ("P3", "val"), ("P4", "test"), ("P5", "train"), ("P5", "")]
    table = pd.DataFrame({"image_id": [f"I{k}" for k in range(len(rows))], "patient_id": [p for p, _ in rows],
                          "lesion_id": "", "target": [k % 2 for k in range(len(rows))]})
    return table, pd.Series([s for _, s in rows])


def test_a_kept_split_that_splits_a_patient_is_refused_naming_it_and_the_fix():
    table, kept = leaky_table()
    with pytest.raises(UserError) as error:
        assign_splits(table, val_size=0.15, test_size=0.15, seed=0, kept=kept, flag="--keep-split fold")
    message = str(error.value)
    assert "\n" not in message and message.startswith("--keep-split fold: 2 patient/lesion group(s)")
    assert "patient P0 (train+val)" in message and "patient P1 (train+test)" in message and "--regroup" in message
    lesions = pd.DataFrame({"image_id": ["a", "b", "c"], "patient_id": "", "lesion_id": ["L9", "L9", "L8"],
                            "target": [0, 1, 0]})
    with pytest.raises(UserError, match=r"^--splits-from other: 1 patient/lesion group\(s\).*lesion L9 \(val\+test\)"):
        assign_splits(lesions, val_size=0.1, test_size=0.1, seed=0, kept=pd.Series(["test", "val", "train"]),
                      flag="--splits-from other")


def test_regroup_moves_whole_groups_to_their_majority_split_seeded_and_recorded():
    table, kept = leaky_table()
    split, info = assign_splits(table, val_size=0.15, test_size=0.15, seed=3, kept=kept, regroup=True)
    table["split"] = split
    assert table.groupby("patient_id")["split"].nunique().max() == 1 and info["groups_across_splits"] == 0
    assert set(table.loc[table["patient_id"] == "P0", "split"]) == {"train"}  # 3 train images beat 1 val
    assert set(table.loc[table["patient_id"] == "P5", "split"]) == {"train"}  # its unassigned row joins it
    record = info["regrouped"]
    assert record["groups_moved"] == 2 and record["images_moved"] == 2 and record["seed"] == 3
    assert "most of its images" in record["rule"] and info["joined_group_split"] == 1
    assert record["moved"][0] == {"group": "patient P0", "to": "train", "from": {"val": 1}, "tie": False}
    assert record["moved"][1]["tie"] is True and record["moved"][1]["to"] in ("train", "test")
    again, again_info = assign_splits(table, val_size=0.15, test_size=0.15, seed=3, kept=kept, regroup=True)
    assert list(again) == list(split) and again_info == info  # deterministic
    ties = {assign_splits(table, val_size=0.15, test_size=0.15, seed=s, kept=kept, regroup=True)[1]["regrouped"]
            ["moved"][1]["to"] for s in range(12)}
    assert ties == {"train", "test"}  # the seed breaks the P1 tie, both ways across seeds
    # rows outside the moved groups keep their given split
    untouched = ~table["patient_id"].isin(["P0", "P1", "P5"])
    assert (split[untouched.to_numpy()] == kept[untouched].to_numpy()).all()
