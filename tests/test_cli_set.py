"""--set takes several KEY=VALUE after one flag as well as repeated flags, for every command with a config."""

from __future__ import annotations

import yaml

from conftest import assert_clean_error, run_skingan


def test_set_takes_several_values_and_repeats(tmp_path) -> None:
    result = run_skingan("train-gan", "--config", "gan-tiny32", "--data", tmp_path, "--out", tmp_path / "g",
                         "--set", "train.steps=7", "train.lr_d=0.001", "--set", "sngan.ngf=4", "--dry-run")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert (config["train"]["steps"], config["train"]["lr_d"], config["sngan"]["ngf"]) == (7, 0.001, 4)
    result = run_skingan("train-classifier", "--data", tmp_path, "--out", tmp_path / "c",
                         "--set", "train.epochs=2", "train.lr=0.01", "--dry-run")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert (config["train"]["epochs"], config["train"]["lr"]) == (2, 0.01)


def test_an_empty_set_and_a_bad_pair_are_one_line_errors(tmp_path) -> None:
    assert_clean_error(run_skingan("train-gan", "--config", "gan-tiny32", "--data", tmp_path, "--set", "--dry-run"),
                       "--set", "expected at least one argument")
    assert_clean_error(run_skingan("train-gan", "--config", "gan-tiny32", "--data", tmp_path, "--out", tmp_path,
                                   "--set", "train.steps=3", "oops", "--dry-run"), "--set 'oops'", "KEY=VALUE")
