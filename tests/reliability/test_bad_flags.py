"""Number flags of every command refuse NaN, infinity and words in one argparse line, and `quickstart` refuses
options that do not fit together before it writes anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from skingan.cli import main

FLOAT_FLAGS = {
    "prepare --val-size": ["prepare", "--source", "phantom", "--out", "{tmp}/p", "--val-size"],
    "prepare --test-size": ["prepare", "--source", "phantom", "--out", "{tmp}/p", "--test-size"],
    "prepare --max-ratio": ["prepare", "--source", "phantom", "--out", "{tmp}/p", "--max-ratio"],
    "quickstart --minutes": ["quickstart", "--out", "{tmp}/q", "--minutes"],
    "train-classifier --synthetic-ratio": ["train-classifier", "--data", "{tmp}/d", "--out", "{tmp}/c",
                                           "--synthetic-ratio"],
    "evaluate-classifier --threshold": ["evaluate-classifier", "--checkpoint", "{tmp}/b.pt", "--data", "{tmp}/d",
                                        "--out", "{tmp}/e", "--threshold"],
}
VALUES = {"nan": "is not a finite number", "inf": "is not a finite number", "-inf": "is not a finite number",
          "NaN": "is not a finite number", "fast": "is not a number", "": "is not a number"}


def run_cli(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    return int(code or 0), capsys.readouterr().err


@pytest.mark.parametrize("value", sorted(VALUES))
@pytest.mark.parametrize("flag", sorted(FLOAT_FLAGS))
def test_number_flags_refuse_nan_infinity_and_words(flag, value, tmp_path, capsys):
    *argv, name = [part.replace("{tmp}", str(tmp_path)) for part in FLOAT_FLAGS[flag]]
    argv.append(f"{name}={value}")  # '--flag=-inf': as a separate word argparse would read -inf as an option
    code, err = run_cli(argv, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert f"argument {flag.split()[1]}: '{value}' {VALUES[value]}" in lines[0]
    assert not any(tmp_path.iterdir())  # refused before anything was written


@pytest.mark.parametrize("argv, fragment", [
    (["--source", "isic", "--input", "."], "--input is only read with --source folder (this is --source isic)"),
    (["--source", "phantom", "--input", "."], "--input is only read with --source folder"),
    (["--source", "folder"], "--source folder needs --input DIR"),
    (["--source", "folder", "--input", "/no/such/folder"], "'/no/such/folder' is not a folder"),
    (["--minutes", "-1"], "--minutes -1.0: must be > 0"),
])
def test_quickstart_refuses_options_that_do_not_fit_before_writing(argv, fragment, tmp_path, capsys):
    out = tmp_path / "quickstart"
    code, err = run_cli(["quickstart", *argv, "--out", str(out)], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and fragment in lines[0], err
    assert not Path(out).exists()


@pytest.mark.parametrize("command", [["sample", "--checkpoint", "{tmp}/last.pt"],
                                     ["train-gan", "--data", "{tmp}/d"],
                                     ["prepare", "--source", "phantom"],
                                     ["experiment", "--data", "{tmp}/d"]])
@pytest.mark.parametrize("seed, fragment", [("-1", "-1 is outside 0 … 4294967295"),
                                            ("4294967296", "4294967296 is outside 0 … 4294967295"),
                                            ("1.5", "'1.5' is not an integer")])
def test_seed_flag_takes_what_every_generator_accepts(command, seed, fragment, tmp_path, capsys):
    argv = [part.replace("{tmp}", str(tmp_path)) for part in command]
    code, err = run_cli([*argv, "--out", str(tmp_path / "out"), f"--seed={seed}"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and f"argument --seed: {fragment}" in err, err
    assert not any(tmp_path.iterdir())


def test_evaluate_classifier_threshold_and_bootstrap_ranges(tmp_path, capsys):
    base = ["evaluate-classifier", "--checkpoint", str(tmp_path / "best.pt"), "--data", str(tmp_path / "d"),
            "--out", str(tmp_path / "e")]
    for extra, fragment in ((["--threshold", "1.5"], "--threshold 1.5: a threshold on P(malignant) lies in [0, 1]"),
                            (["--threshold=-0.1"], "--threshold -0.1: a threshold"),
                            (["--bootstrap", "-1"], "--bootstrap -1: must be 0 (no confidence interval) or more")):
        code, err = run_cli([*base, *extra], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1 and fragment in err, err
    assert not any(tmp_path.iterdir())
