"""Property-based tests (hypothesis): the label mapping, the CSV readers, the prepared-set metadata round trip and
config overrides hold their promises for any input, and fail only with a UserError."""

from __future__ import annotations

import contextlib
import csv
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from skingan.config import apply_override, from_dict, load_config, setting, to_dict, to_yaml
from skingan.data.importers import (
    BENIGN_WORDS,
    NEGATIVE_WORDS,
    POSITIVE_WORDS,
    ImportOptions,
    import_folder_csv,
    label_to_target,
    read_csv_strings,
)
from skingan.data.prepared import METADATA_COLUMNS, open_prepared, write_prepared_set
from skingan.errors import UserError

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VOCABULARY = sorted(POSITIVE_WORDS | NEGATIVE_WORDS | BENIGN_WORDS | {
    "malignant", "Malignant", "melanoma", "MEL", "mel", "benign", "nevus", "bcc", "basal cell carcinoma", "1.0",
    "0.0", "+1", "-1", "2", "unknown", "indeterminate", "", "maybe", "Malignant melanoma", "melanoma in situ"})
labels = st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=12))
cell_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=12)


# -------------------------------------------------------------------------------------------- label mapping
@FAST
@given(labels, st.sampled_from(["malignant", "melanoma"]))
def test_label_mapping_is_total_and_ignores_case_spacing_and_underscores(label, target):
    value = label_to_target(label, target)
    assert value in (0, 1, None)
    assert label_to_target(f"  {label.upper()}\t", target) == label_to_target(label.lower(), target)
    assert label_to_target(label.replace(" ", "_"), target) == label_to_target(label.replace("_", " "), target)


@FAST
@given(labels)
def test_melanoma_is_a_subset_of_malignant(label):
    """Positive for melanoma ⇒ positive for malignant; benign ⇒ negative for melanoma too."""
    if label_to_target(label, "melanoma") == 1:
        assert label_to_target(label, "malignant") == 1
    if label_to_target(label, "malignant") == 0:
        assert label_to_target(label, "melanoma") == 0


@FAST
@given(st.integers(-5, 5), st.sampled_from(["{}", "{}.0", "{}.00", "+{}", " {} "]))
def test_numeric_labels_only_zero_and_one_count(number, spelling):
    text = spelling.format(number)
    assume(not (number < 0 and text.startswith("+")))
    expected = {0: 0, 1: 1}.get(number)
    assert label_to_target(text) == expected


# --------------------------------------------------------------------------------------------- CSV readers
rows = st.lists(st.tuples(cell_text, st.sampled_from(VOCABULARY), cell_text), min_size=1, max_size=12)


def write_csv(path: Path, header: list[str], body: list[tuple], separator: str, bom: bool, crlf: bool) -> None:
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as handle:
        writer = csv.writer(handle, delimiter=separator, lineterminator="\r\n" if crlf else "\n",
                            quoting=csv.QUOTE_MINIMAL)
        writer.writerow(header)
        writer.writerows(body)


@FAST
@given(rows, st.sampled_from([",", ";", "\t"]), st.booleans(), st.booleans())
def test_csv_cells_come_back_exactly(body, separator, bom, crlf):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "labels.csv"
        write_csv(path, ["image", "target", "patient"], body, separator, bom, crlf)
        frame = read_csv_strings(path)
    assert list(frame.columns) == ["image", "target", "patient"]
    assert [tuple(r) for r in frame.itertuples(index=False)] == [tuple(r) for r in body]


@FAST
@given(st.lists(st.tuples(st.text(alphabet="abcdefghij0123456789_-", min_size=1, max_size=10),
                          st.sampled_from(VOCABULARY)), min_size=1, max_size=15, unique_by=lambda r: r[0]),
       st.sampled_from(["malignant", "melanoma"]), st.sampled_from([",", ";"]))
def test_folder_csv_targets_follow_the_label_mapping(body, target, separator):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        path = root / "labels.csv"
        write_csv(path, ["image", "target"], [(f"{name}.jpg", label) for name, label in body], separator,
                  False, False)
        imported = import_folder_csv(root, ImportOptions(target=target, labels=path))
    table = imported.table
    assert list(table["image_id"]) == [name for name, _ in body]
    expected = [label_to_target(label, target) for _, label in body]
    assert [None if pd.isna(v) else int(v) for v in table["target"]] == expected
    assert list(table["label"]) == [label for _, label in body]


# ------------------------------------------------------------------------------------ prepared metadata
metadata_ids = st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                                min_size=1, max_size=10), min_size=2, max_size=8, unique=True)


@settings(max_examples=40, deadline=None)
@given(metadata_ids, st.lists(cell_text, min_size=8, max_size=8))
def test_prepared_metadata_round_trips_any_text(ids, texts):
    n = len(ids)
    table = pd.DataFrame({column: [""] * n for column in METADATA_COLUMNS})
    table["image_id"] = ids
    table["patient_id"] = [texts[i % 8] for i in range(n)]
    table["diagnosis"] = [texts[(i + 3) % 8] for i in range(n)]
    table["target"] = [i % 2 for i in range(n)]
    table["split"] = ["train", "val", "test"][: n] + ["train"] * max(0, n - 3)
    cache = np.arange(n * 8 * 8 * 3, dtype=np.uint64).astype(np.uint8).reshape(n, 8, 8, 3)
    with tempfile.TemporaryDirectory() as folder:
        write_prepared_set(folder, table, {8: cache}, {"source": "property"})
        prepared = open_prepared(folder)
        assert list(prepared.metadata["image_id"]) == ids
        assert [("" if pd.isna(v) else v) for v in prepared.metadata["patient_id"]] == list(table["patient_id"])
        assert list(prepared.targets) == list(table["target"])
        assert np.array_equal(prepared.images(8), cache)


# --------------------------------------------------------------------------------------------- configs
@dataclass
class Optim:
    lr: float = setting(1e-3, min=0.0, max=10.0)
    betas: tuple[float, float] = (0.5, 0.999)
    warmup: int | None = setting(None, min=0)


@dataclass
class Run:
    steps: int = setting(10, min=1)
    sizes: list[int] = setting(default_factory=lambda: [64], min=8)
    arch: str = setting("sngan", choices=("dcgan", "sngan", "wgan"))
    amp: bool = False
    name: str = "run"
    optim: Optim = field(default_factory=Optim)


KEYS = ["steps", "sizes", "arch", "amp", "name", "optim.lr", "optim.betas", "optim.warmup", "optim", "nope",
        "optim.nope", "steps.x", ""]


@FAST
@given(st.sampled_from(KEYS), st.text(max_size=20))
def test_any_override_either_applies_or_is_a_one_line_user_error(key, value):
    with contextlib.suppress(UserError):
        config = apply_override(from_dict(Run, {}, origin="x"), f"{key}={value}")
        assert isinstance(config, Run)
        check_limits(config)


def check_limits(config: Run) -> None:
    assert config.steps >= 1 and all(s >= 8 for s in config.sizes) and config.arch in ("dcgan", "sngan", "wgan")
    assert math.isfinite(config.optim.lr) and 0 <= config.optim.lr <= 10
    assert config.optim.warmup is None or config.optim.warmup >= 0


@FAST
@given(st.integers(min_value=-10**6, max_value=10**6))
def test_int_overrides_round_trip_or_are_refused_below_min(steps):
    try:
        config = apply_override(from_dict(Run, {}, origin="x"), f"steps={steps}")
    except UserError as error:
        assert steps < 1 and ">= 1" in str(error)
        return
    assert steps >= 1 and config.steps == steps


@FAST
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_float_overrides_round_trip_exactly_or_are_refused(lr):
    try:
        config = apply_override(from_dict(Run, {}, origin="x"), f"optim.lr={lr!r}")
    except UserError:
        assert not (math.isfinite(lr) and 0 <= lr <= 10)
        return
    assert config.optim.lr == lr


@FAST
@given(st.lists(st.integers(min_value=-100, max_value=2048), min_size=1, max_size=5))
def test_list_overrides_round_trip_or_name_the_bad_item(sizes):
    try:
        config = apply_override(from_dict(Run, {}, origin="x"), "sizes=" + ",".join(map(str, sizes)))
    except UserError as error:
        bad = next(i for i, s in enumerate(sizes) if s < 8)
        assert f"sizes[{bad}]" in str(error)
        return
    assert config.sizes == sizes


@FAST
@given(st.integers(1, 10**6), st.floats(0, 10, allow_nan=False), st.sampled_from(["dcgan", "sngan", "wgan"]),
       st.booleans(), cell_text, st.one_of(st.none(), st.integers(0, 100)))
def test_overrides_then_yaml_round_trip(steps, lr, arch, amp, name, warmup):
    config = from_dict(Run, {}, origin="x")
    for override in (f"steps={steps}", f"optim.lr={lr!r}", f"arch={arch}", f"amp={str(amp).lower()}",
                     f"optim.warmup={'null' if warmup is None else warmup}"):
        config = apply_override(config, override)
    config = apply_override(config, f"name={name}")
    assert config.name == name and config.optim.warmup == warmup
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run.yaml"
        path.write_text(to_yaml(config), encoding="utf-8")
        assert load_config(Run, path) == config
    assert to_dict(config)["optim"]["lr"] == lr
