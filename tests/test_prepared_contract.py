"""The prepared-set contract every stage reads."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import make_prepared_set
from skingan.data.prepared import class_index, open_prepared
from skingan.errors import UserError


def _images(n):
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)) for _ in range(n)]


def test_round_trip_and_selection(tmp_path):
    out = make_prepared_set(tmp_path / "p", _images(6), [0, 1, 0, 1, 0, 1],
                            ["train", "train", "val", "val", "test", "test"], sizes=(32,))
    prepared = open_prepared(out)
    assert len(prepared) == 6 and prepared.sizes == [32]
    assert prepared.images(32).shape == (6, 32, 32, 3)
    assert list(prepared.indices("train", ["malignant"])) == [1]
    assert list(prepared.indices("all", [0])) == [0, 2, 4]
    assert prepared.counts()["val"] == {"benign": 1, "malignant": 1}
    assert len(prepared.hash) == 64


def test_hash_changes_with_content(tmp_path):
    a = make_prepared_set(tmp_path / "a", _images(4), [0, 1, 0, 1], ["train"] * 4, sizes=(32,))
    b = make_prepared_set(tmp_path / "b", _images(4), [1, 1, 0, 1], ["train"] * 4, sizes=(32,))
    assert open_prepared(a).hash != open_prepared(b).hash


def test_clear_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        open_prepared(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="not a prepared set"):
        open_prepared(tmp_path / "empty")
    out = make_prepared_set(tmp_path / "p", _images(2), [0, 1], ["train", "val"], sizes=(32,))
    with pytest.raises(UserError, match="no 64-px cache"):
        open_prepared(out).images(64)
    with pytest.raises(UserError, match="split 'dev'"):
        open_prepared(out).indices("dev")
    with pytest.raises(UserError, match="class 'cancer'"):
        class_index("cancer")
    (out / "prepare.json").write_text(json.dumps({"sizes": [32]})[:5])
    with pytest.raises(UserError, match="truncated"):
        open_prepared(out)
