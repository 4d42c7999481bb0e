"""`skingan prepare` end to end on real images: ISIC 2017 (one shared run), full-resolution originals,
synthetic HAM10000 / SIIM-2020 / isic-cli layouts, broken files, re-runs and user mistakes."""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import assert_clean_error, run_skingan
from skingan.cli import main as skingan_main
from skingan.data.images import decode_file
from skingan.data.prepare import prepare
from skingan.data.prepare_options import PrepareOptions
from skingan.data.prepared import open_prepared
from test_importers import build_ham10000, build_isic_cli, build_siim_2020, real_images

ISIC2017_FLAGS = ("--source", "folder", "--labels", "labels.csv", "--image-col", "image", "--label-col", "target",
                  "--id-col", "isic_id", "--keep-split", "split")


@pytest.fixture(scope="module")
def isic2017_run(isic2017, tmp_path_factory):
    """One real prepare of all 2,150 ISIC 2017 images, shared by the assertions below."""
    out = tmp_path_factory.mktemp("prepared") / "isic2017"
    started = time.time()
    result = run_skingan("prepare", *ISIC2017_FLAGS, "--input", isic2017, "--out", out, "--workers", "2")
    return out, result, time.time() - started


def test_isic2017_counts_and_duplicate(isic2017_run):
    out, result, _ = isic2017_run
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith(f"prepared set written to {out}")
    prepared = open_prepared(out)
    info = prepared.info
    # 2,150 listed; two files are byte-identical (one official train, one official val): the val copy goes
    assert info["inputs"]["rows_listed"] == 2150 and len(prepared) == 2149
    assert info["dropped"]["duplicate_bytes"] == [{"image_id": "ISIC_0012127", "same_as": "ISIC_0012970"}]
    assert int(prepared.targets.sum()) == 404 and info["skipped"] == []
    assert sum(sum(c.values()) for c in prepared.counts().values()) == 2149
    assert "train" in result.stdout and "1745" in result.stdout  # the summary table: 1,745 benign in all


def test_isic2017_official_split_kept_and_test_carved_from_train(isic2017, isic2017_run):
    prepared = open_prepared(isic2017_run[0])
    official = pd.read_csv(isic2017 / "labels.csv").set_index("isic_id")["split"]
    meta = prepared.metadata.set_index("image_id")
    given = official.loc[meta.index]
    assert (meta.loc[given == "val", "split"] == "val").all() and (meta["split"] == "val").sum() == 149
    assert set(meta.loc[given == "train", "split"]) == {"train", "test"}
    test = meta[meta["split"] == "test"]
    assert abs(len(test) - 0.15 * 2149) <= 3
    assert abs(test["target"].mean() - meta["target"].mean()) < 0.02
    assert prepared.info["split"]["carved_from_train"] == ["test"]


def test_isic2017_caches_match_a_direct_decode(isic2017, isic2017_run):
    prepared = open_prepared(isic2017_run[0])
    assert prepared.sizes == [64, 128]
    assert prepared.images(64).shape == (2149, 64, 64, 3) and prepared.images(128).shape == (2149, 128, 128, 3)
    for row in (0, 777, 2148):
        path = isic2017 / prepared.metadata["path"].iat[row]
        assert np.array_equal(prepared.images(128)[row], decode_file(path, [128], "crop").arrays[128])
    assert prepared.images(64).std() > 20


def test_isic2017_speed(isic2017_run):
    _, _, wall = isic2017_run
    decode = open_prepared(isic2017_run[0]).info["elapsed_s"]
    assert decode < 90, f"prepare of 2,150 256-px images took {decode} s"  # ~2 s on an idle 2-core CPU
    assert wall < 120


def test_rerun_reuses_refuses_or_replaces(isic2017, isic2017_run):
    out = isic2017_run[0]
    before = open_prepared(out).hash
    again = run_skingan("prepare", *ISIC2017_FLAGS, "--input", isic2017, "--out", out)
    assert again.returncode == 0 and "already up to date" in again.stdout
    assert open_prepared(out).hash == before
    changed = run_skingan("prepare", *ISIC2017_FLAGS, "--input", isic2017, "--out", out, "--sizes", "32")
    assert_clean_error(changed, "already holds a prepared set", "sizes", "--force")


def test_seed_decides_the_carved_split_and_force_replaces(isic2017, isic2017_run, tmp_path):
    reference = open_prepared(isic2017_run[0]).metadata.set_index("image_id")["split"]
    out = tmp_path / "seeded"
    other = run_skingan("prepare", *ISIC2017_FLAGS, "--input", isic2017, "--out", out, "--sizes", "16",
                        "--seed", "1")
    assert other.returncode == 0, other.stderr
    seed1 = open_prepared(out).metadata.set_index("image_id")["split"]
    assert (seed1.loc[reference.index] != reference).sum() > 100  # another test split carved from train
    assert (seed1[reference == "val"] == "val").all()  # the official validation split never moves
    refused = run_skingan("prepare", *ISIC2017_FLAGS, "--input", isic2017, "--out", out, "--sizes", "16")
    assert_clean_error(refused, "different parameters (seed)")
    forced = run_skingan("prepare", *ISIC2017_FLAGS, "--input", isic2017, "--out", out, "--sizes", "16", "--force")
    assert forced.returncode == 0, forced.stderr
    seed0 = open_prepared(out).metadata.set_index("image_id")["split"]
    assert seed0.loc[reference.index].equals(reference)  # same seed, same split (cache sizes do not matter)
    assert not (out / "cache" / "64.npy").exists() and open_prepared(out).sizes == [16]


def test_fullres_json_keeps_overlapping_pictures_in_the_2017_split(isic_fullres, isic2017_run, tmp_path):
    out = tmp_path / "fullres"
    result = run_skingan("prepare", "--source", "isic-json", "--input", isic_fullres, "--out", out,
                         "--splits-from", isic2017_run[0], "--sizes", "64", "128")
    assert result.returncode == 0, result.stderr
    full, low = open_prepared(out), open_prepared(isic2017_run[0])
    assert len(full) == 40 and int(full.targets.sum()) == 20 and full.images(128).shape == (40, 128, 128, 3)
    low_split = low.metadata.set_index("image_id")["split"]
    shared = full.metadata[full.metadata["image_id"].isin(low_split.index)]
    assert len(shared) == 33
    assert (shared["split"].to_numpy() == low_split.loc[shared["image_id"]].to_numpy()).all()
    assert set(full.metadata["license"]) == {"CC-0"}
    assert (full.metadata["width"].astype(int) >= 767).all()


def test_fullres_through_folder_csv_without_draft(isic_fullres, tmp_path):
    out = tmp_path / "fullres-folder"
    code = skingan_main(["prepare", "--source", "folder", "--input", str(isic_fullres), "--labels", "labels.csv",
                         "--id-col", "isic_id", "--out", str(out), "--sizes", "64", "--resize", "pad",
                         "--no-draft", "--seed", "3"])
    assert code == 0
    prepared = open_prepared(out)
    assert len(prepared) == 40 and prepared.info["parameters"]["draft"] is False
    assert prepared.images(64)[:, :4].mean() < prepared.images(64)[:, 28:36].mean()  # pad: dark bands on top


def copy_broken_files(folder: Path, real: Path) -> None:
    jpeg = real.read_bytes()
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("not a picture\n" * 30)
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    (folder / "corrupt.jpg").write_bytes(jpeg[:20] + bytes(range(256)) * 30)


def copy_odd_modes(folder: Path, real: Path) -> None:
    image = Image.open(real).convert("RGB")
    image.convert("CMYK").save(folder / "cmyk.jpg")
    image.convert("L").save(folder / "gray.jpg")
    gray16 = np.asarray(image.convert("L"), dtype=np.uint16) * 257
    Image.fromarray(gray16).save(folder / "gray16.png")


@pytest.fixture
def broken_folder(isic2017, tmp_path) -> Path:
    root = tmp_path / "classes"
    rows = real_images(isic2017, 6, 6)
    for isic_id, path, target in rows:
        folder = root / ("malignant" if target else "benign")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / f"{isic_id}.jpg")
    copy_broken_files(root / "benign", rows[0][1])
    copy_odd_modes(root / "malignant", rows[-1][1])
    return root


def test_broken_files_are_skipped_and_reported(broken_folder, tmp_path):
    out = tmp_path / "prepared"
    result = run_skingan("prepare", "--source", "folder", "--input", broken_folder, "--out", out, "--sizes", "32")
    assert result.returncode == 0, result.stderr
    info = json.loads((out / "prepare.json").read_text())
    reasons = {Path(s["path"]).name: s["reason"] for s in info["skipped"]}
    assert set(reasons) == {"empty.jpg", "notes.jpg", "truncated.jpg", "corrupt.jpg"}
    assert reasons["empty.jpg"].startswith("empty") and reasons["notes.jpg"].startswith("not an image")
    assert "truncated" in reasons["truncated.jpg"]
    assert "skipped (unreadable): 4" in result.stdout and "truncated.jpg" in result.stdout
    prepared = open_prepared(out)
    assert len(prepared) == 15 and prepared.counts()["train"]["malignant"] + prepared.counts()["val"]["malignant"] \
        + prepared.counts()["test"]["malignant"] == 9  # 6 real + CMYK, gray, 16-bit gray converted to RGB
    gray_row = prepared.metadata.index[prepared.metadata["image_id"] == "gray16"][0]
    pixels = prepared.images(32)[gray_row].astype(int)
    assert (pixels[..., 0] == pixels[..., 2]).all() and 40 < pixels.mean() < 230


def test_strict_fails_on_a_broken_file(broken_folder, tmp_path):
    result = run_skingan("prepare", "--source", "folder", "--input", broken_folder, "--out", tmp_path / "p",
                         "--sizes", "32", "--strict")
    assert_clean_error(result, "could not be used (--strict)")
    assert not (tmp_path / "p" / "prepare.json").exists()


@pytest.mark.parametrize("schema, flat", [("current", True), ("legacy", False)])
def test_isic_cli_layouts(isic2017, tmp_path, capsys, schema, flat):
    rows = real_images(isic2017, 10, 6)
    root = build_isic_cli(tmp_path / "isic", rows, schema, flat)
    assert skingan_main(["prepare", "--source", "isic", "--input", str(root), "--out", str(tmp_path / "p"),
                         "--sizes", "32"]) == 0
    prepared = open_prepared(tmp_path / "p")
    assert len(prepared) == 15 and prepared.info["dropped"]["unknown_label"][0]["image_id"] == rows[1][0]
    assert int(prepared.targets.sum()) == 6 + 1  # row 0 became a BCC (malignant); row 1 (unsure) is dropped
    assert prepared.metadata.groupby("patient_id")["split"].nunique().max() == 1
    assert "unknown label: 1" in capsys.readouterr().out


def test_ham10000_layout_grouped_by_lesion(isic2017, tmp_path):
    root = build_ham10000(tmp_path / "ham", real_images(isic2017, 14, 6))
    assert skingan_main(["prepare", "--source", "ham10000", "--input", str(root), "--target", "melanoma",
                         "--out", str(tmp_path / "p"), "--sizes", "32"]) == 0
    meta = open_prepared(tmp_path / "p").metadata
    assert len(meta) == 20 and int(meta["target"].sum()) == 6
    assert meta.groupby("lesion_id")["split"].nunique().max() == 1 and meta["lesion_id"].nunique() == 10
    assert set(meta["license"]) == {"CC-BY-NC"}


def test_siim_2020_layout_drops_duplicates(isic2017, tmp_path):
    rows = real_images(isic2017, 9, 3)
    root = build_siim_2020(tmp_path / "siim", rows, rows[1][0])
    assert skingan_main(["prepare", "--source", "siim-isic-2020", "--input", str(root),
                         "--out", str(tmp_path / "p"), "--sizes", "32"]) == 0
    prepared = open_prepared(tmp_path / "p")
    assert prepared.info["dropped"]["by_source_rules"][0]["image_id"] == "ISIC_DUPLICATE"
    meta = prepared.metadata
    assert len(meta) == 12 and meta.groupby("patient_id")["split"].nunique().max() == 1


def test_reduce_and_max_ratio_keep_the_ratio(isic_fullres, tmp_path):
    base = dict(source="isic-json", input=str(isic_fullres), sizes=[16], seed=2)
    capped = prepare(PrepareOptions(**base, out=str(tmp_path / "capped"), max_ratio=0.5))
    assert capped.info["counts"] and open_prepared(capped.out).targets.tolist().count(0) == 10
    assert skingan_main(["prepare", "--source", "isic-json", "--input", str(isic_fullres), "--max-ratio", "0.5",
                         "--reduce", "12", "--resize", "squash", "--out", str(tmp_path / "reduced"), "--sizes", "16",
                         "--seed", "2"]) == 0
    reduced = open_prepared(tmp_path / "reduced")
    assert len(reduced) == 12 and reduced.targets.sum() == 8  # 10:20 scaled to 12 is 4:8
    assert reduced.info["dropped"]["reduce"] == 18


def test_phantom_source(tmp_path):
    pytest.importorskip("skingan.data.phantom")
    result = run_skingan("prepare", "--source", "phantom", "--n", "40", "--out", tmp_path / "p", "--sizes", "64")
    assert result.returncode == 0, result.stderr
    prepared = open_prepared(tmp_path / "p")
    assert len(prepared) == 40 and set(prepared.metadata["source"]) == {"phantom"}
    assert 0 < prepared.targets.sum() < 40 and prepared.images(64).std() > 5


@pytest.mark.parametrize("extra, fragments", [
    (("--source", "folder", "--input", "{missing}"), ("--input", "is not a folder")),
    (("--source", "isic"), ("--source isic needs --input",)),
    ((*ISIC2017_FLAGS, "--input", "{isic2017}", "--label-col", "grade"), ("--label-col 'grade'", "isic_id")),
    ((*ISIC2017_FLAGS[:-2], "--keep-split", "sex", "--input", "{isic2017}"), ("--keep-split sex", "'female'")),
    (("--source", "phantom", "--sizes", "4"), ("--sizes 4",)),
    (("--source", "phantom", "--val-size", "0.6", "--test-size", "0.5"), ("--val-size 0.6",)),
    (("--source", "kaggle"), ("invalid choice: 'kaggle'",)),
    (("--source", "folder", "--input", "{isic2017}", "--labels", "nope.csv"), ("--labels", "nope.csv", "does not exist")),
    (("--source", "folder", "--input", "{isic2017}"), ("no class sub-folders",)),
])
def test_user_mistakes_are_one_line_errors(isic2017, tmp_path, extra, fragments):
    args = [str(a).format(missing=tmp_path / "absent", isic2017=isic2017) for a in extra]
    assert_clean_error(run_skingan("prepare", *args, "--out", tmp_path / "p"), *fragments)


def test_out_folder_with_other_files_is_refused(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "my_notes.txt").write_text("keep me")
    result = run_skingan("prepare", "--source", "phantom", "--n", "10", "--out", tmp_path / "p")
    assert_clean_error(result, "not empty and not a prepared set", "my_notes.txt")


def test_in_memory_cmyk_helper_roundtrip():
    """The odd-mode files written above really are in those modes (guards the fixture itself)."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).convert("CMYK").save(buffer, "JPEG")
    assert Image.open(io.BytesIO(buffer.getvalue())).mode == "CMYK"


def test_isic2017_challenge_files_give_the_same_set(isic2017, isic2017_run, tmp_path):
    """The official label tables (orig_label_files/) → the same images, labels and official split."""
    code = skingan_main(["prepare", "--source", "isic2017", "--input", str(isic2017), "--keep-split", "official",
                         "--out", str(tmp_path / "p"), "--sizes", "16"])
    assert code == 0
    challenge = open_prepared(tmp_path / "p").metadata.set_index("image_id")
    folder = open_prepared(isic2017_run[0]).metadata.set_index("image_id")
    assert sorted(challenge.index) == sorted(folder.index)
    assert challenge["target"].equals(folder.loc[challenge.index, "target"])
    assert (challenge["split"] == "val").sum() == 149 and (folder.loc[challenge["split"] == "val", "split"] == "val").all()
    assert float(challenge.loc["ISIC_0000000", "age"]) == 55


def test_folder_csv_with_a_missing_file_and_an_unknown_label(isic2017, tmp_path, capsys):
    rows = real_images(isic2017, 3, 3)
    rows = rows[:5]  # + a listed file that does not exist
    table = pd.DataFrame({"file": [p.name for _, p, _ in rows] + ["gone.jpg"],
                          "label": ["Benign", "benign", "?", "Malignant", "1.0", "yes"],
                          "patient": ["a", "a", "b", "c", "c", "d"]})
    for _, path, _ in rows:
        shutil.copy(path, tmp_path / path.name)
    table.to_csv(tmp_path / "labels.csv", index=False)
    code = skingan_main(["prepare", "--source", "folder", "--input", str(tmp_path), "--labels", "labels.csv",
                         "--image-col", "file", "--label-col", "label", "--patient-col", "patient",
                         "--out", str(tmp_path / "p"), "--sizes", "16"])
    assert code == 0
    info = open_prepared(tmp_path / "p").info
    assert [s["reason"] for s in info["skipped"]] == ["file not found"]
    assert info["dropped"]["unknown_label"] == [{"image_id": rows[2][1].stem, "label": "?"}]
    assert info["total"] == 4 and int(open_prepared(tmp_path / "p").targets.sum()) == 2
    assert "gone.jpg: file not found" in capsys.readouterr().out


def test_dry_run_prints_the_resolved_options_and_writes_nothing(tmp_path, capsys):
    import yaml

    from skingan.config import from_dict

    out = tmp_path / "p"
    flags = ["prepare", "--source", "folder", "--input", str(tmp_path), "--labels", "labels.csv", "--sizes", "32",
             "64", "--max-ratio", "2", "--keep-split", "fold", "--out", str(out), "--dry-run"]
    assert skingan_main(flags) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert from_dict(PrepareOptions, printed, origin="dry run") == PrepareOptions(
        source="folder", input=str(tmp_path), labels=str(tmp_path / "labels.csv"), sizes=[32, 64], max_ratio=2.0,
        keep_split="fold", out=str(out))  # --labels resolved against --input, as prepare reads it
    assert not out.exists()
    assert skingan_main([*flags, "--sizes", "4"]) == 2  # checked before anything is printed
    assert capsys.readouterr().err.strip() == ("skingan prepare: error: --sizes 4: each size must be between 8 and "
                                               "1024 pixels")


def test_options_through_the_config_machinery():
    """PrepareOptions is a config like the training ones: strict keys, checked types, check() with the flag's
    message (a config file's name in front)."""
    from skingan.config import from_dict, to_dict
    from skingan.errors import UserError

    with pytest.raises(UserError, match=r"x.yaml: unknown key 'size'; accepted keys here: draft, force"):
        from_dict(PrepareOptions, {"size": [64]}, origin="x.yaml")
    with pytest.raises(UserError, match=r"x.yaml: sizes\[0\]='64' is not accepted: expected an integer"):
        from_dict(PrepareOptions, {"sizes": ["64"]}, origin="x.yaml")
    with pytest.raises(UserError, match=r"^x.yaml: --sizes 4: each size must be between 8 and 1024 pixels$"):
        from_dict(PrepareOptions, {"sizes": [4]}, origin="x.yaml")
    with pytest.raises(UserError, match=r"^x.yaml: --n 1: phantom sets need at least 2 images$"):
        from_dict(PrepareOptions, {"source": "phantom", "n": 1}, origin="x.yaml")
    options = from_dict(PrepareOptions, {"source": "phantom", "n": 10, "sizes": [32]}, origin="x.yaml")
    assert from_dict(PrepareOptions, to_dict(options), origin="again") == options
    assert options.recorded()["input"] is None and "out" not in options.recorded()


def test_kept_split_that_splits_a_patient_is_refused_then_regrouped(isic2017, tmp_path, capsys):
    """A labels CSV whose own split puts patient 'p0' in train and val: refused naming it; --regroup moves the
    patient whole, records it in prepare.json, and a re-run with the same flags reuses the set."""
    rows = real_images(isic2017, 6, 6)
    for _, path, _ in rows:
        shutil.copy(path, tmp_path / path.name)
    patients = ["p0", "p0", "p0", "p1", "p2", "p3", "p0", "p4", "p5", "p6", "p7", "p8"]
    splits = ["train", "train", "val", "train", "val", "test", "train", "train", "val", "test", "train", "test"]
    pd.DataFrame({"file": [p.name for _, p, _ in rows], "label": [t for _, _, t in rows], "patient": patients,
                  "fold": splits}).to_csv(tmp_path / "labels.csv", index=False)
    flags = ["prepare", "--source", "folder", "--input", str(tmp_path), "--labels", "labels.csv", "--image-col",
             "file", "--label-col", "label", "--patient-col", "patient", "--keep-split", "fold", "--sizes", "16",
             "--out", str(tmp_path / "p")]
    assert skingan_main(flags) == 2
    error = capsys.readouterr().err.strip()
    assert error == ("skingan prepare: error: --keep-split fold: 1 patient/lesion group(s) have images in more than "
                     "one split, e.g. patient p0 (train+val); their images would leak between train, val and test. "
                     "Pass --regroup to move each whole group into the split holding most of its images (ties "
                     "broken by --seed)")
    assert not (tmp_path / "p").exists()
    assert skingan_main([*flags, "--regroup"]) == 0
    assert "regrouped (--regroup): 1 patient/lesion group(s), 1 image(s) moved" in capsys.readouterr().out
    prepared = open_prepared(tmp_path / "p")
    meta = prepared.metadata
    assert meta.groupby("patient_id")["split"].nunique().max() == 1
    assert set(meta.loc[meta["patient_id"] == "p0", "split"]) == {"train"}  # 3 of its 4 images were train
    moved = prepared.info["split"]["regrouped"]
    assert (moved["groups_moved"], moved["images_moved"], moved["seed"]) == (1, 1, 0)
    assert prepared.info["parameters"]["regroup"] is True
    capsys.readouterr()
    assert skingan_main([*flags, "--regroup"]) == 0 and "already up to date" in capsys.readouterr().out
    assert skingan_main(flags) == 2  # the set was made with --regroup: without it the parameters differ
    assert "different parameters (regroup)" in capsys.readouterr().err
