"""The bad-input corpus: every case gets a clear one-line error (non-zero exit, no traceback) or a counted,
reported skip — never a crash, never silently wrong output. All hostile files are generated in tmp_path."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import assert_clean_error, make_prepared_set, run_skingan
from reliability.conftest import (
    EXPECTED_SKIPS,
    EXPECTED_USABLE,
    ODD_FOLDER,
    png_bomb,
    real_rows,
)
from skingan.cli import main
from skingan.config import apply_override, from_dict, load_config, setting
from skingan.data.images import DecodeError, decode_bytes
from skingan.data.prepared import hash_files, open_prepared
from skingan.errors import UserError
from skingan.runs import TMP_PREFIX


def prepare_in_process(capsys: pytest.CaptureFixture, *args: str | Path) -> tuple[int, str, str]:
    code = main(["prepare", "--workers", "1", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code != 0
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"


def temporaries(folder: Path) -> list[Path]:
    return list(folder.rglob(f"{TMP_PREFIX}*")) if folder.exists() else []


# ----------------------------------------------------------------------------------------------- image files
@pytest.fixture(scope="module")
def corpus_run(corpus_folder: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory):
    root, labels = corpus_folder
    out = tmp_path_factory.mktemp("corpus_run") / "prepared"
    result = run_skingan("prepare", "--source", "folder", "--input", root, "--labels", labels.name,
                         "--label-col", "label", "--id-col", "image_id", "--sizes", "32", "64", "--out", out,
                         timeout=300)
    return result, out


def test_image_corpus_unusable_files_are_skipped_counted_and_reported(corpus_run):
    result, out = corpus_run
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    info = json.loads((out / "prepare.json").read_text())
    reasons = {Path(s["path"]).stem if s["path"] else s["image_id"]: s["reason"] for s in info["skipped"]}
    assert set(reasons) == set(EXPECTED_SKIPS)
    for name, fragment in EXPECTED_SKIPS.items():
        assert fragment in reasons[name], (name, reasons[name])
        assert name in result.stdout  # the summary names every skipped file
    assert f"skipped (unreadable): {len(EXPECTED_SKIPS)}" in result.stdout
    prepared = open_prepared(out)
    assert set(prepared.metadata["image_id"]) >= EXPECTED_USABLE
    assert not set(EXPECTED_SKIPS) & set(prepared.metadata["image_id"])
    assert len(prepared) == 20 + len(EXPECTED_USABLE)  # 20 real images + every odd-but-valid file
    assert info["dropped"]["duplicate_bytes"] == []


def _pixels(prepared, image_id: str, size: int = 64) -> np.ndarray:
    row = int(np.flatnonzero(prepared.metadata["image_id"].to_numpy() == image_id)[0])
    return prepared.images(size)[row].astype(np.int16)


def test_image_corpus_odd_modes_become_the_right_rgb(corpus_run, corpus_folder):
    _, out = corpus_run
    prepared = open_prepared(out)
    gray, png16, cmyk, rgba = (_pixels(prepared, n) for n in ("grayscale", "png16", "cmyk_jpeg", "rgba"))
    for channels in (gray, png16):  # one channel spread to three, scaled (16-bit) rather than clipped
        assert (channels[..., 0] == channels[..., 1]).all() and (channels[..., 1] == channels[..., 2]).all()
        assert 40 < channels.mean() < 230 and channels.std() > 5
    assert np.abs(gray - png16).mean() < 4  # the same picture through 8-bit JPEG and 16-bit PNG
    assert np.abs(cmyk.mean(axis=(0, 1)) - rgba[:, 40:].mean(axis=(0, 1))).max() < 25  # CMYK keeps the colours
    assert rgba[:, :28].max() < 10 and rgba[:, 36:].mean() > 40  # transparent half on black, opaque half kept
    odd = prepared.metadata.set_index("image_id").loc["odd_folder_name", "path"]
    assert odd.startswith(ODD_FOLDER + "/") and (corpus_folder[0] / odd).is_file()
    assert _pixels(prepared, "odd_folder_name").std() > 5


def test_image_corpus_strict_is_a_clean_error(corpus_folder, tmp_path):
    root, labels = corpus_folder
    result = run_skingan("prepare", "--source", "folder", "--input", root, "--labels", labels, "--label-col", "label",
                         "--id-col", "image_id", "--sizes", "32", "--strict", "--out", tmp_path / "p", timeout=120)
    assert_clean_error(result, "could not be used (--strict)", str(len(EXPECTED_SKIPS)))
    assert not (tmp_path / "p" / "prepare.json").exists()


def test_png_bomb_is_tiny_and_refused_without_allocating():
    data = png_bomb()
    assert len(data) < 200
    start = time.perf_counter()
    with pytest.raises(DecodeError, match="bomb"):
        decode_bytes(data, [64])
    assert time.perf_counter() - start < 2.0


# ------------------------------------------------------------------------------------------------- CSV files
@dataclass
class CsvCase:
    text: str | bytes
    error: str | None = None  # fragment of the one-line error; None: the run succeeds
    extra: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def real_table(isic2017: Path) -> pd.DataFrame:
    rows = real_rows(isic2017, 10)
    return rows.assign(path=[str(isic2017 / p) for p in rows["image"]])


def _lines(table: pd.DataFrame, sep: str = ",", label=lambda t: str(t)) -> list[str]:
    return [f"{p}{sep}{label(t)}" for p, t in zip(table["path"], table["target"], strict=True)]


def csv_cases(table: pd.DataFrame) -> dict[str, CsvCase]:
    ok = _lines(table)
    spelled = ["Malignant", "1.0", "yes", " MALIGNANT ", "melanoma", "TRUE", "1", "mel", "Malignant", "+1"]
    benign = ["Benign", "0.0", "no", "nevus", "NEGATIVE", "0", "false", "bkl", "Seborrheic keratosis", "n"]
    words = iter(benign + spelled)
    return {
        "plain": CsvCase("image,target\n" + "\n".join(ok) + "\n"),
        "extra_columns": CsvCase("note,image,weight,target,x\n" + "\n".join(f"a,{line.split(',')[0]},3.5,"
                                                                           f"{line.split(',')[1]},"
                                                                           for line in ok) + "\n"),
        "bom": CsvCase("\ufeffimage,target\n" + "\n".join(ok) + "\n"),
        "semicolons": CsvCase("image;target\n" + "\n".join(_lines(table, ";")) + "\n"),
        "tabs": CsvCase("image\ttarget\n" + "\n".join(_lines(table, "\t")) + "\n"),
        "crlf": CsvCase("image,target\r\n" + "\r\n".join(ok) + "\r\n"),
        "empty_lines": CsvCase("\nimage,target\n\n" + "\n\n".join(ok) + "\n\n\n"),
        "label_spellings": CsvCase("image,target\n" + "\n".join(f"{p},{next(words)}" for p in table["path"]) + "\n"),
        "duplicated_ids": CsvCase("image,target\n" + "\n".join(ok + ok[:3]) + "\n"),
        "unknown_labels": CsvCase("image,target\n" + "\n".join(ok) + "\n" + f"{ok[0].split(',')[0]}x,maybe\n"),
        "nul_in_name": CsvCase("image,target\n" + "\n".join(ok) + "\nreal/x\x00y.jpg,1\n"),
        "missing_column": CsvCase("image,diagnosis_text\n" + "\n".join(ok) + "\n", "--label-col 'target'"),
        "empty_file": CsvCase("", "not a readable CSV"),
        "header_only": CsvCase("image,target\n", "lists no images"),
        "binary_junk": CsvCase(bytes(range(256)) * 8, "not UTF-8"),
        "latin1": CsvCase(("image,target,note\n" + "\n".join(f"{line},café" for line in ok)).encode("latin-1"),
                          "not UTF-8"),
        "ragged_row": CsvCase("image,target\n" + "\n".join(ok) + "\na,b,c,d\n", "not a readable CSV"),
        "only_unknown_labels": CsvCase("image,target\n" + "\n".join(f"{p},maybe" for p in table["path"]) + "\n",
                                       "no images"),
        "one_class": CsvCase("image,target\n" + "\n".join(f"{p},benign" for p in table["path"]) + "\n",
                             "only class benign"),
        "wrong_image_col": CsvCase("image,target\n" + "\n".join(ok) + "\n", "--image-col 'picture'",
                                   ["--image-col", "picture"]),
        "wrong_split_col": CsvCase("image,target\n" + "\n".join(ok) + "\n", "--keep-split 'fold'",
                                   ["--keep-split", "fold"]),
    }


CSV_CASE_NAMES = ["plain", "extra_columns", "bom", "semicolons", "tabs", "crlf", "empty_lines", "label_spellings",
                  "duplicated_ids", "unknown_labels", "nul_in_name", "missing_column", "empty_file", "header_only",
                  "binary_junk", "latin1", "ragged_row", "only_unknown_labels", "one_class", "wrong_image_col",
                  "wrong_split_col"]


@pytest.fixture(scope="module")
def plain_hash(real_table, tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("plain")
    (folder / "labels.csv").write_text(csv_cases(real_table)["plain"].text)
    code = main(["prepare", "--source", "folder", "--input", str(folder), "--labels", str(folder / "labels.csv"),
                 "--sizes", "32", "--workers", "1", "--out", str(folder / "out")])
    assert code == 0
    return open_prepared(folder / "out").hash


@pytest.mark.parametrize("name", CSV_CASE_NAMES)
def test_csv_corpus(name, real_table, plain_hash, tmp_path, capsys):
    case = csv_cases(real_table)[name]
    assert set(csv_cases(real_table)) == set(CSV_CASE_NAMES)
    labels = tmp_path / "labels.csv"
    labels.write_bytes(case.text if isinstance(case.text, bytes) else case.text.encode("utf-8"))
    out = tmp_path / "out"
    code, stdout, err = prepare_in_process(capsys, "--source", "folder", "--input", tmp_path, "--labels", labels,
                                           "--sizes", "32", "--out", out, *case.extra)
    if case.error is not None:
        assert_one_line_error(code, err, case.error)
        assert not (out / "prepare.json").exists()
        return
    assert code == 0, err
    prepared = open_prepared(out)
    info = prepared.info
    by_id = dict(zip(prepared.metadata["image_id"], prepared.targets, strict=True))
    truth = dict(zip(real_table["isic_id"], real_table["target"], strict=True))
    if name in ("plain", "extra_columns", "bom", "semicolons", "tabs", "crlf", "empty_lines", "label_spellings",
                "duplicated_ids", "unknown_labels", "nul_in_name"):
        assert by_id == truth  # every spelling, separator and layout gives the same labelled set
        assert prepared.hash == plain_hash  # ... byte for byte
    if name == "duplicated_ids":
        assert sorted(d["image_id"] for d in info["dropped"]["duplicate_id"]) == sorted(real_table["isic_id"][:3])
        assert "duplicates: 3" in stdout
    if name == "unknown_labels":
        assert [d["label"] for d in info["dropped"]["unknown_label"]] == ["maybe"] and "unknown label: 1" in stdout
    if name == "nul_in_name":
        assert len(info["skipped"]) == 1 and "file name" in info["skipped"][0]["reason"]


# ------------------------------------------------------------------------------------------- prepare flags
PREPARE_FLAG_CASES = {
    "sizes_negative": (["--sizes", "-5"], "--sizes -5"),
    "sizes_zero": (["--sizes", "0"], "--sizes 0"),
    "sizes_huge": (["--sizes", "64", "100000"], "--sizes 100000"),
    "val_size_above_one": (["--val-size", "1.5"], "--val-size"),
    "val_plus_test_too_big": (["--val-size", "0.6", "--test-size", "0.6"], "0.6"),
    "test_size_negative": (["--test-size", "-0.1"], "--test-size"),
    "workers_negative": (["--workers", "-1"], "--workers -1"),
    "reduce_one": (["--reduce", "1"], "--reduce 1"),
    "max_ratio_zero": (["--max-ratio", "0"], "--max-ratio 0"),
    "input_missing": (["--input", "/nonexistent/skingan-input"], "is not a folder"),
    "labels_missing": (["--labels", "no-such-labels.csv"], "does not exist"),
    "splits_from_not_prepared": (["--splits-from", "{tmp}"], "is not a prepared set"),
    "out_is_a_file": (["--out", "{tmp}/file.txt"], "is not a folder"),
    "out_is_the_input": (["--out", "{input}"], "is the --input folder"),
    "out_holds_other_files": (["--out", "{tmp}/busy"], "is not empty and not a prepared set"),
}


@pytest.mark.parametrize("name", sorted(PREPARE_FLAG_CASES))
def test_prepare_flag_corpus(name, corpus_folder, tmp_path, capsys):
    root, labels = corpus_folder
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.docx").write_text("precious")
    flags, fragment = PREPARE_FLAG_CASES[name]
    flags = [f.format(tmp=tmp_path, input=root) for f in flags]
    base = {"--source": "folder", "--input": str(root), "--labels": str(labels), "--label-col": "label",
            "--out": str(tmp_path / "out"), "--sizes": "32"}
    args = [x for flag, value in base.items() if flag not in flags for x in (flag, value)] + flags
    code, _, err = prepare_in_process(capsys, *args)
    assert_one_line_error(code, err, fragment)
    assert (tmp_path / "busy" / "thesis.docx").read_text() == "precious"
    assert not (tmp_path / "out").exists()


def test_phantom_n_below_two_and_non_numeric_sizes(tmp_path):
    assert_clean_error(run_skingan("prepare", "--source", "phantom", "--n", "1", "--out", tmp_path / "p"), "--n 1")
    result = run_skingan("prepare", "--source", "phantom", "--sizes", "abc", "--out", tmp_path / "p")
    assert_clean_error(result, "--sizes", "invalid int value")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------------------ configs
@dataclass
class Model:
    arch: str = setting("sngan", choices=("dcgan", "sngan"))
    image_size: int = setting(64, choices=(64, 128))


@dataclass
class Data:
    sizes: list[int] = setting(default_factory=lambda: [64], min=8)
    batch: int = setting(16, min=1)
    lr: float = setting(2e-4, min=0.0)


@dataclass
class SmallConfig:
    model: Model = field(default_factory=Model)
    data: Data = field(default_factory=Data)


YAML_CASES = {
    "unknown_key": ("model: {arch: sngan, depth: 3}\n", "unknown key 'model.depth'"),
    "unknown_section": ("trainer: {steps: 3}\n", "unknown key 'trainer'"),
    "numeric_key": ("1: 2\ndata: {batch: 2}\n", "unknown key '1'"),
    "wrong_type_int": ("data: {batch: many}\n", "data.batch='many'"),
    "float_for_int": ("data: {batch: 2.5}\n", "an integer"),
    "bool_for_int": ("data: {batch: yes}\n", "an integer"),
    "list_for_scalar": ("model: {arch: [sngan]}\n", "a string"),
    "scalar_for_list": ("data: {sizes: 64}\n", "a list"),
    "negative_batch": ("data: {batch: -5}\n", ">= 1"),
    "negative_size_in_list": ("data: {sizes: [64, -5]}\n", "data.sizes[1]=-5"),
    "image_size_100": ("model: {image_size: 100}\n", "one of 64, 128"),
    "nan": ("data: {lr: .nan}\n", "a finite number"),
    "infinity": ("data: {lr: .inf}\n", "a finite number"),
    "duplicate_key": ("data: {batch: 2}\ndata: {batch: 4}\n", "given twice"),
    "section_not_mapping": ("data: [1, 2]\n", "must be a mapping"),
    "top_not_mapping": ("- a\n- b\n", "mapping of sections"),
    "invalid_yaml": ("model: {arch: [\n", "not valid YAML"),
    "python_tag": ("model: !!python/object/apply:os.system ['touch PWNED']\n", "not valid YAML"),
    "tab_indent": ("data:\n\tbatch: 2\n", "not valid YAML"),
    "binary": (b"\xff\xfe\x00junk", "not UTF-8"),
}

OVERRIDE_CASES = {
    "unknown": ("data.batchsize=3", "unknown key 'batchsize'"),
    "negative": ("data.batch=-1", ">= 1"),
    "nan": ("data.lr=nan", "a finite number"),
    "not_a_number": ("data.lr=fast", "a number"),
    "section": ("data=3", "is a section"),
    "no_equals": ("data.batch", "KEY=VALUE"),
    "choice": ("model.image_size=100", "one of 64, 128"),
    "list_item": ("data.sizes=64,-5", "data.sizes[1]=-5"),
}


@pytest.mark.parametrize("name", sorted(YAML_CASES))
def test_yaml_corpus(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text, fragment = YAML_CASES[name]
    path = tmp_path / "config.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(UserError) as error:
        load_config(SmallConfig, path)
    message = str(error.value)
    assert "\n" not in message and fragment in message and "config.yaml" in message
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("name", sorted(OVERRIDE_CASES))
def test_override_corpus(name):
    override, fragment = OVERRIDE_CASES[name]
    with pytest.raises(UserError) as error:
        apply_override(from_dict(SmallConfig, {}, origin="defaults"), override)
    assert "\n" not in str(error.value) and fragment in str(error.value)


def test_yaml_merge_keys_and_empty_files_still_work(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("data: &d {batch: 4, lr: 0.001}\nmodel: {image_size: 128}\n")
    config = load_config(SmallConfig, path)
    assert config.data.batch == 4 and config.model.image_size == 128
    path.write_text("")
    assert load_config(SmallConfig, path) == SmallConfig()


# ----------------------------------------------------------------------------------- not a prepared set
@pytest.fixture
def small_set(tmp_path, isic2017) -> Path:
    from PIL import Image

    rows = real_rows(isic2017, 4)
    images = [Image.open(isic2017 / p).convert("RGB") for p in rows["image"]]
    (tmp_path / "corpus_images").mkdir()
    for path in rows["image"]:
        shutil.copy(isic2017 / path, tmp_path / "corpus_images")
    return make_prepared_set(tmp_path / "set", images, rows["target"].tolist(), ["train"] * 4 + ["test"] * 4,
                             sizes=(32,))


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


PREPARED_CASES = {
    "missing_folder": (lambda s: shutil.rmtree(s), "does not exist"),
    "empty_folder": (lambda s: (shutil.rmtree(s), s.mkdir()), "is not a prepared set"),
    "no_prepare_json": (lambda s: (s / "prepare.json").unlink(), "is not a prepared set"),
    "images_folder": (lambda s: (shutil.rmtree(s), shutil.copytree(s.parent / "corpus_images", s)),
                      "is not a prepared set"),
    "prepare_json_truncated": (lambda s: _truncate(s / "prepare.json"), "unreadable or truncated"),
    "prepare_json_no_hash": (lambda s: (s / "prepare.json").write_text('{"sizes": [32]}'), "no content hash"),
    "metadata_missing_columns": (lambda s: (s / "metadata.csv").write_text("image_id,x\na,1\n"), "lacks column"),
    "metadata_binary": (lambda s: (s / "metadata.csv").write_bytes(bytes(range(256)) * 4), "unreadable"),
    "metadata_empty": (lambda s: (s / "metadata.csv").write_text(""), "unreadable"),
    "metadata_bad_target": (lambda s: _edit_metadata(s, "target", 7), "target 7"),
    "metadata_bad_split": (lambda s: _edit_metadata(s, "split", "training"), "split 'training'"),
}
CACHE_CASES = {
    "cache_truncated": (lambda s: _truncate(s / "cache" / "32.npy"), "unreadable or truncated"),
    "cache_not_npy": (lambda s: (s / "cache" / "32.npy").write_bytes(b"hello" * 100), "unreadable or truncated"),
    "cache_wrong_shape": (lambda s: np.save(s / "cache" / "32.npy", np.zeros((8, 16, 16, 3), np.uint8)), "shape"),
    "cache_wrong_dtype": (lambda s: np.save(s / "cache" / "32.npy", np.zeros((8, 32, 32, 3), np.float32)),
                          "float32"),
    "cache_wrong_rows": (lambda s: np.save(s / "cache" / "32.npy", np.zeros((5, 32, 32, 3), np.uint8)), "(5, 32"),
    "cache_missing": (lambda s: (s / "cache" / "32.npy").unlink(), "no 32-px cache"),
}


def _edit_metadata(root: Path, column: str, value) -> None:
    table = pd.read_csv(root / "metadata.csv")
    table.loc[3, column] = value
    table.to_csv(root / "metadata.csv", index=False)


@pytest.mark.parametrize("name", sorted(PREPARED_CASES))
def test_not_a_prepared_set_corpus(name, small_set):
    damage, fragment = PREPARED_CASES[name]
    damage(small_set)
    with pytest.raises(UserError) as error:
        open_prepared(small_set)
    assert "\n" not in str(error.value) and fragment in str(error.value)


@pytest.mark.parametrize("name", sorted(CACHE_CASES))
def test_damaged_cache_corpus(name, small_set):
    damage, fragment = CACHE_CASES[name]
    damage(small_set)
    prepared = open_prepared(small_set)
    with pytest.raises(UserError) as error:
        prepared.images(32)
    assert "\n" not in str(error.value) and fragment in str(error.value)
    with pytest.raises(UserError, match="no 64-px cache"):
        prepared.images(64)


# ------------------------------------------------------------------------------------------- disk full
def _fail_after(limit: int):
    """A np.save that writes `limit` bytes and then fails as a full disk does."""
    real_save = np.save

    def save(handle, array, *args, **kwargs):
        import io

        buffer = io.BytesIO()
        real_save(buffer, array, *args, **kwargs)
        data = buffer.getvalue()
        handle.write(data[:limit])
        if len(data) > limit:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return save


def _prepare_args(labels: Path, out: Path, *sizes: str) -> list[str]:
    return ["--source", "folder", "--input", str(labels.parent), "--labels", str(labels), "--sizes", *sizes,
            "--out", str(out)]


def test_disk_full_while_writing_keeps_the_last_good_set(real_table, tmp_path, capsys, monkeypatch):
    labels = tmp_path / "labels.csv"
    labels.write_text(csv_cases(real_table)["plain"].text)
    out = tmp_path / "out"
    assert prepare_in_process(capsys, *_prepare_args(labels, out, "32"))[0] == 0
    good = open_prepared(out)
    good_json = (out / "prepare.json").read_bytes()
    monkeypatch.setattr(np, "save", _fail_after(20_000))  # the 20-image 64-px cache is 245 kB
    code, _, err = prepare_in_process(capsys, *_prepare_args(labels, out, "32", "64"), "--force")
    assert_one_line_error(code, err, "No space left on device", "run the same command again")
    assert code == 1
    assert (out / "prepare.json").read_bytes() == good_json  # the older set is whole and still 'prepared'
    assert hash_files([out / "metadata.csv", out / "cache" / "32.npy"]) == good.hash
    assert not (out / "cache" / "64.npy").exists() and not temporaries(out)
    monkeypatch.undo()
    code, _, err = prepare_in_process(capsys, *_prepare_args(labels, out, "32", "64"), "--force")
    assert code == 0, err
    assert open_prepared(out).sizes == [32, 64]


@contextlib.contextmanager
def small_filesystem(folder: Path, size: str):
    """A tmpfs of `size` at `folder` (root only); skips the test when mounting is not permitted."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a tmpfs needs root and mount(8); disk full is covered in-process by the test above")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def test_disk_full_on_a_real_small_filesystem(real_table, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text(csv_cases(real_table)["plain"].text)
    with small_filesystem(tmp_path / "disk", "512k") as disk:
        out = disk / "prepared"
        first = run_skingan("prepare", *_prepare_args(labels, out, "32"), timeout=120)
        assert first.returncode == 0, first.stderr
        good_json = (out / "prepare.json").read_bytes()
        full = run_skingan("prepare", *_prepare_args(labels, out, "32", "128"), "--force", timeout=120)
        assert_clean_error(full, "No space left on device", "run the same command again")
        assert full.returncode == 1 and len(full.stderr.strip().splitlines()) == 1
        assert (out / "prepare.json").read_bytes() == good_json
        assert open_prepared(out).images(32).shape == (20, 32, 32, 3) and not temporaries(out)
        subprocess.run(["mount", "-o", "remount,size=4m", str(disk)], check=True)
        again = run_skingan("prepare", *_prepare_args(labels, out, "32", "128"), "--force", timeout=120)
        assert again.returncode == 0, again.stderr
        assert open_prepared(out).sizes == [32, 128] and not temporaries(out)
