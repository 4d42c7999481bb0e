"""Prepared sets written before prepare's options became a typed config (PrepareOptions) are reused by the same
command, and refused or rebuilt when a flag changes, exactly as before.

tests/fixtures/prepare_json/ holds prepare.json files that the earlier code wrote (its README gives the
commands). Each test rebuilds the set from the same inputs with today's code, checks that the files are the
same (content hash) and that the options record as the earlier code recorded them, then puts the earlier
prepare.json in place and runs the command again.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from skingan.cli import build_parser, main
from skingan.commands.prepare import resolve_options
from skingan.data.prepare_options import RECORDED

FIXTURES = Path(__file__).parent / "fixtures" / "prepare_json"
PHANTOM_FLAGS = ["--source", "phantom", "--n", "40", "--sizes", "32", "--seed", "3"]
FOLDER_FLAGS = ["--source", "folder", "--image-col", "image", "--label-col", "target", "--id-col", "isic_id",
                "--keep-split", "split", "--target", "melanoma", "--sizes", "16", "32", "--resize", "pad",
                "--val-size", "0.2", "--test-size", "0.2", "--seed", "5", "--no-draft", "--max-ratio", "2",
                "--reduce", "14", "--workers", "1"]


def earlier(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def replaced(value: Any, paths: dict[str, str]) -> Any:
    """`value` with every string that is a key of `paths` replaced (the capture's folders by this test's)."""
    if isinstance(value, dict):
        return {k: replaced(v, paths) for k, v in value.items()}
    if isinstance(value, list):
        return [replaced(v, paths) for v in value]
    return paths.get(value, value) if isinstance(value, str) else value


def prepare(capsys: pytest.CaptureFixture, *flags: str | Path) -> tuple[int, str, str]:
    code = main(["prepare", *map(str, flags)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def recorded(*flags: str | Path) -> dict:
    return resolve_options(build_parser().parse_args(["prepare", *map(str, flags)])).recorded()


def check_reuse(capsys: pytest.CaptureFixture, flags: list[str | Path], out: Path, old: dict,
                changed: tuple[list[str], str]) -> None:
    """`out` holds a set whose prepare.json is `old`: the same flags reuse it, flags that are not recorded too,
    a changed recorded flag is refused naming it, and --force rebuilds."""
    (out / "prepare.json").write_text(json.dumps(old, indent=2) + "\n", encoding="utf-8")
    before = (out / "prepare.json").read_bytes()
    for extra in ([], ["--workers", "2", "--strict", "--device", "cpu"]):  # the second: options not recorded
        code, stdout, err = prepare(capsys, *flags, *extra, "--out", out)
        assert code == 0, err
        assert f"prepared set already up to date at {out} ({old['total']} images, hash {old['hash'][:12]})" in stdout
        assert (out / "prepare.json").read_bytes() == before  # reused: not a byte rewritten
    flag, name = changed
    code, _, err = prepare(capsys, *flags, *flag, "--out", out)
    assert code == 2 and f"already holds a prepared set made with different parameters ({name})" in err, err
    assert (out / "prepare.json").read_bytes() == before
    code, stdout, err = prepare(capsys, *flags, *flag, "--force", "--out", out)
    assert code == 0 and "prepared set written to" in stdout, err
    assert json.loads((out / "prepare.json").read_text())["parameters"] != old["parameters"]


def test_a_phantom_set_written_before_is_reused_and_rebuilt_as_before(tmp_path, capsys):
    old = earlier("phantom.json")
    out = tmp_path / "phantom"
    new_recorded = recorded(*PHANTOM_FLAGS, "--out", out)
    assert new_recorded == old["parameters"] and list(new_recorded) == list(old["parameters"]) == list(RECORDED)

    code, _, err = prepare(capsys, *PHANTOM_FLAGS, "--out", out)
    assert code == 0, err
    new = json.loads((out / "prepare.json").read_text())
    # the same files (metadata.csv and caches hash alike) from the same inputs, recorded alike
    assert new["hash"] == old["hash"] and new["inputs"] == old["inputs"]
    volatile = {"created_utc", "elapsed_s", "workers"}
    assert {k: v for k, v in new.items() if k not in volatile} == {k: v for k, v in old.items() if k not in volatile}
    check_reuse(capsys, PHANTOM_FLAGS, out, old, (["--seed", "4"], "seed"))


def test_a_folder_set_written_before_is_reused_and_rebuilt_as_before(isic2017, tmp_path, capsys):
    old = earlier("folder.json")
    labels = tmp_path / "labels.csv"
    shutil.copy(FIXTURES / "folder-labels.csv", labels)
    out = tmp_path / "folder"
    flags = [*FOLDER_FLAGS, "--input", isic2017, "--labels", labels]
    here = {old["parameters"]["input"]: str(isic2017.resolve()), old["parameters"]["labels"]: str(labels.resolve())}
    old = replaced(old, here)
    new_recorded = recorded(*flags, "--out", out)
    assert new_recorded == old["parameters"] and list(new_recorded) == list(old["parameters"])

    code, _, err = prepare(capsys, *flags, "--out", out)
    assert code == 0, err
    new = json.loads((out / "prepare.json").read_text())
    assert new["hash"] == old["hash"]  # the same 14 images, labels, splits and caches
    volatile = {"created_utc", "elapsed_s", "inputs"}
    assert {k: v for k, v in new.items() if k not in volatile} == {k: v for k, v in old.items() if k not in volatile}
    # the input fingerprint covers the labels file's path and mtime, which are this test's own
    assert {**new["inputs"], "fingerprint": None} == {**old["inputs"], "fingerprint": None}
    old["inputs"]["fingerprint"] = new["inputs"]["fingerprint"]
    check_reuse(capsys, flags, out, old, (["--resize", "crop"], "resize"))
