"""Importers: label mapping, and small real-image copies of the ISIC-cli, HAM10000, SIIM-2020 and folder layouts.

The layout builders here are also used by test_prepare.py.
"""

from __future__ import annotations

import json
import shutil
import sys
import types
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from skingan.data.prepare_options import PrepareOptions
from skingan.data.sources import ham10000, isic, isic_json, phantom, siim_isic_2020
from skingan.data.sources.labels import isic_fields_target, label_to_target
from skingan.data.sources.registry import import_source
from skingan.errors import UserError

CURRENT_MELANOMA = ("Malignant", "Malignant melanocytic proliferations (Melanoma)", "Melanoma Invasive")
CURRENT_NEVUS = ("Benign", "Benign melanocytic proliferations", "Nevus")
CURRENT_BCC = ("Malignant", "Malignant epidermal proliferations", "Basal cell carcinoma")
CURRENT_UNSURE = ("Indeterminate", "Indeterminate melanocytic proliferations", "Atypical melanocytic neoplasm")


def real_images(isic2017: Path, benign: int, malignant: int) -> list[tuple[str, Path, int]]:
    """(isic_id, file, target) of real 256-px ISIC 2017 images, the first ones of each class by id."""
    labels = pd.read_csv(isic2017 / "labels.csv").sort_values("isic_id")
    picked = pd.concat([labels[labels["target"] == 0].head(benign), labels[labels["target"] == 1].head(malignant)])
    return [(r.isic_id, isic2017 / r.image, int(r.target)) for r in picked.itertuples()]


def build_isic_cli(root: Path, rows: list[tuple[str, Path, int]], schema: str, flat: bool) -> Path:
    """An isic-cli / `skingan download` folder: metadata.csv + images; two extra rows: a BCC and an unsure one."""
    folder = root if flat else root / "images"
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for k, (isic_id, path, target) in enumerate(rows):
        shutil.copy(path, folder / f"{isic_id}.jpg")
        kind = CURRENT_MELANOMA if target else CURRENT_NEVUS
        if k == 0:
            kind = CURRENT_BCC
        elif k == 1:
            kind = CURRENT_UNSURE
        record = {"isic_id": isic_id, "attribution": "Test Hospital", "copyright_license": "CC-BY-NC",
                  "age_approx": "45", "sex": "female", "patient_id": f"IP_{k // 2:04d}", "lesion_id": f"IL_{k:04d}"}
        if schema == "current":
            record.update({f"diagnosis_{i + 1}": v for i, v in enumerate(kind)}, anatom_site_1="Trunk")
        else:
            legacy = {CURRENT_MELANOMA: ("malignant", "melanoma"), CURRENT_NEVUS: ("benign", "nevus"),
                      CURRENT_BCC: ("malignant", "basal cell carcinoma"),
                      CURRENT_UNSURE: ("indeterminate/benign", "atypical melanocytic proliferation")}[kind]
            record.update(benign_malignant=legacy[0], diagnosis=legacy[1], anatom_site_general="anterior torso")
        records.append(record)
    pd.DataFrame(records).to_csv(root / "metadata.csv", index=False)
    return root


def build_ham10000(root: Path, rows: list[tuple[str, Path, int]]) -> Path:
    """HAM10000_metadata.csv + images split over two part folders; images come in pairs of one lesion."""
    records = []
    for k, (isic_id, path, target) in enumerate(rows):
        part = root / f"HAM10000_images_part_{1 + k % 2}"
        part.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, part / f"{isic_id}.jpg")
        dx = "mel" if target else "nv"
        dx = "bcc" if k == 0 else "vasc" if k == 1 else dx
        records.append({"lesion_id": f"HAM_{k // 2:07d}", "image_id": isic_id, "dx": dx, "dx_type": "histo",
                        "age": "50.0", "sex": "male", "localization": "back"})
    pd.DataFrame(records).to_csv(root / "HAM10000_metadata.csv", index=False)
    return root


def build_siim_2020(root: Path, rows: list[tuple[str, Path, int]], duplicate_of: str) -> Path:
    """Kaggle layout: train.csv + jpeg/train/; one extra image is a byte copy listed in the duplicates file."""
    images = root / "jpeg" / "train"
    images.mkdir(parents=True)
    records = []
    for k, (isic_id, path, target) in enumerate(rows):
        shutil.copy(path, images / f"{isic_id}.jpg")
        records.append({"image_name": isic_id, "patient_id": f"IP_{k // 3:07d}", "sex": "male", "age_approx": "60.0",
                        "anatom_site_general_challenge": "torso",
                        "diagnosis": "melanoma" if target else "unknown",
                        "benign_malignant": "malignant" if target else "benign", "target": str(target)})
    source = next(r for r in records if r["image_name"] == duplicate_of)
    shutil.copy(images / f"{duplicate_of}.jpg", images / "ISIC_DUPLICATE.jpg")
    records.append({**source, "image_name": "ISIC_DUPLICATE"})
    pd.DataFrame(records).to_csv(root / "train.csv", index=False)
    pd.DataFrame({"image_name_1": [duplicate_of], "image_name_2": ["ISIC_DUPLICATE"]}).to_csv(
        root / "ISIC_2020_Training_Duplicates.csv", index=False)
    return root


@pytest.mark.parametrize("value, malignant, melanoma", [
    ("Malignant", 1, None), ("malignant", 1, None), ("Benign", 0, 0), ("1.0", 1, 1), ("0.0", 0, 0), ("1", 1, 1),
    ("yes", 1, 1), ("No", 0, 0), ("TRUE", 1, 1), ("mel", 1, 1), ("MEL", 1, 1), ("melanoma", 1, 1),
    ("Melanoma in situ", 1, 1), ("nevus", 0, 0), ("nv", 0, 0), ("bcc", 1, 0), ("basal cell carcinoma", 1, 0),
    ("seborrheic_keratosis", 0, 0), ("nevus_or_seborrheic_keratosis", 0, 0), ("unknown", None, None),
    ("", None, None), ("Indeterminate", None, None), ("other", None, None), ("banana", None, None),
])
def test_label_strings(value, malignant, melanoma):
    assert label_to_target(value, "malignant") == malignant
    assert label_to_target(value, "melanoma") == melanoma


def test_isic_fields_current_and_legacy_schema():
    current = dict(zip(["diagnosis_1", "diagnosis_2", "diagnosis_3"], CURRENT_MELANOMA, strict=True))
    assert isic_fields_target(current, "malignant")[:1] == (1,)
    assert isic_fields_target(current, "melanoma")[0] == 1
    assert isic_fields_target(current, "melanoma")[2] == "Melanoma Invasive"
    bcc = dict(zip(["diagnosis_1", "diagnosis_2", "diagnosis_3"], CURRENT_BCC, strict=True))
    assert (isic_fields_target(bcc, "malignant")[0], isic_fields_target(bcc, "melanoma")[0]) == (1, 0)
    assert isic_fields_target({"diagnosis_1": "Indeterminate"}, "malignant")[0] is None
    legacy = {"benign_malignant": "benign", "diagnosis": "nevus"}
    assert (isic_fields_target(legacy, "malignant")[0], isic_fields_target(legacy, "melanoma")[0]) == (0, 0)
    assert isic_fields_target({"benign_malignant": "indeterminate/malignant"}, "malignant")[0] is None
    assert isic_fields_target({"diagnosis": "melanoma"}, "malignant")[0] == 1


@pytest.mark.parametrize("schema, flat", [("current", True), ("legacy", False)])
def test_isic_cli_folder(isic2017, tmp_path, schema, flat):
    rows = real_images(isic2017, 4, 3)
    root = build_isic_cli(tmp_path / schema, rows, schema, flat)
    table = isic.read(root, PrepareOptions(target="malignant")).table
    assert list(table["image_id"]) == [r[0] for r in rows]
    assert all(Path(p).is_file() for p in table["path"])
    # row 0 is a BCC (malignant), row 1 indeterminate (unknown), the rest follow the real labels
    assert table["target"].iloc[0] == 1 and pd.isna(table["target"].iloc[1])
    assert list(table["target"].iloc[2:]) == [r[2] for r in rows[2:]]
    assert set(table["license"]) == {"CC-BY-NC"} and set(table["attribution"]) == {"Test Hospital"}
    assert table["patient_id"].iloc[3] == "IP_0001"
    melanoma = isic.read(root, PrepareOptions(target="melanoma")).table
    assert melanoma["target"].iloc[0] == 0  # a BCC is not a melanoma


def test_isic_cli_folder_without_labels_is_a_user_error(tmp_path):
    (tmp_path / "metadata.csv").write_text("isic_id,attribution\nISIC_1,x\n")
    with pytest.raises(UserError, match="diagnosis_1"):
        isic.read(tmp_path, PrepareOptions())


def test_ham10000_layout(isic2017, tmp_path):
    rows = real_images(isic2017, 5, 3)
    table = ham10000.read(build_ham10000(tmp_path, rows), PrepareOptions(target="malignant")).table
    assert all(Path(p).is_file() for p in table["path"])
    assert {Path(p).parent.name for p in table["path"]} == {"HAM10000_images_part_1", "HAM10000_images_part_2"}
    assert list(table["target"]) == [1, 0] + [r[2] for r in rows[2:]]  # bcc malignant, vasc benign
    assert table["diagnosis"].iloc[0] == "basal cell carcinoma" and table["lesion_id"].iloc[1] == "HAM_0000000"
    melanoma = ham10000.read(tmp_path, PrepareOptions(target="melanoma")).table
    assert list(melanoma["target"]) == [0, 0] + [r[2] for r in rows[2:]]


def test_siim_2020_drops_listed_duplicates(isic2017, tmp_path):
    rows = real_images(isic2017, 4, 2)
    imported = siim_isic_2020.read(build_siim_2020(tmp_path, rows, rows[0][0]), PrepareOptions())
    assert "ISIC_DUPLICATE" not in set(imported.table["image_id"]) and len(imported.table) == 6
    assert imported.dropped[0]["image_id"] == "ISIC_DUPLICATE"
    assert list(imported.table["target"]) == [r[2] for r in rows]
    assert imported.table["patient_id"].iloc[4] == "IP_0000001"


def test_isic_json_records_of_the_fullres_originals(isic_fullres):
    labels = pd.read_csv(isic_fullres / "labels.csv").set_index("isic_id")
    table = isic_json.read(isic_fullres, PrepareOptions()).table.set_index("image_id")
    assert len(table) == 40 and int(table["target"].sum()) == 20
    assert (table["target"] == labels.loc[table.index, "target"]).all()
    assert set(table["license"]) == {"CC-0"} and table["attribution"].iloc[0].startswith("UDA-1")
    assert all(Path(p).is_file() for p in table["path"])


def test_isic_json_reads_v2_records_too(isic2017, tmp_path):
    (isic_id, path, _), = real_images(isic2017, 0, 1)
    shutil.copy(path, tmp_path / f"{isic_id}.jpg")
    record = {"isic_id": isic_id, "copyright_license": "CC-BY", "attribution": "Somebody",
              "metadata": {"clinical": dict(zip(["diagnosis_1", "diagnosis_2"], CURRENT_MELANOMA, strict=False)),
                           "acquisition": {"pixels_x": 256}}}
    (tmp_path / f"{isic_id}.json").write_text(json.dumps(record))
    table = isic_json.read(tmp_path, PrepareOptions()).table
    assert list(table["target"]) == [1] and table["license"].iloc[0] == "CC-BY"


def test_phantom_importer_follows_the_phantom_signature(monkeypatch, isic2017):
    """The importer against the agreed signature, with real lesions standing in for the generator."""
    rows = real_images(isic2017, 2, 2)

    def phantom_records(n: int, seed: int, size: int = 256, malignant_fraction: float = 0.3):
        for k, (_, path, target) in enumerate(rows[:n]):
            yield f"PH_{seed}_{k}", target, "melanoma" if target else "seborrheic_keratosis", Image.open(path)

    fake = types.ModuleType("skingan.data.phantom")
    fake.phantom_records = phantom_records
    monkeypatch.setitem(sys.modules, "skingan.data.phantom", fake)
    imported = phantom.read(None, PrepareOptions(n=4, seed=3, target="melanoma"))
    assert list(imported.table["image_id"]) == [f"PH_3_{k}" for k in range(4)]
    assert list(imported.table["target"]) == [r[2] for r in rows]
    assert set(imported.images) == set(imported.table["image_id"]) and set(imported.table["source"]) == {"phantom"}


def test_real_phantom_module():
    pytest.importorskip("skingan.data.phantom")
    imported = phantom.read(None, PrepareOptions(n=12, seed=1))
    assert len(imported.table) == 12 and set(imported.table["target"]) <= {0, 1}
    assert all(im.size == (256, 256) for im in imported.images.values())


def test_source_and_input_checks(tmp_path):
    with pytest.raises(UserError, match="accepted: isic, ham10000"):
        import_source("kaggle", tmp_path, PrepareOptions())
    with pytest.raises(UserError, match="is not a folder"):
        import_source("isic", tmp_path / "absent", PrepareOptions())
    with pytest.raises(UserError, match="HAM10000_metadata.csv"):
        import_source("ham10000", tmp_path, PrepareOptions())


def test_command_lists_every_source():
    from skingan.cli import build_parser
    from skingan.data.sources.registry import source_names
    from skingan.data.sources.tables import clean_age

    prepare = next(a for a in build_parser()._actions if a.dest == "command").choices["prepare"]
    assert tuple(next(a for a in prepare._actions if a.dest == "source").choices) == source_names()
    assert [clean_age(v) for v in ("50.0", "35", "unknown", "", "None", "nan")] == ["50", "35", "", "", "", ""]
