"""Bad input for the training commands and foreign checkpoints, through the real commands end to end.

`train-gan`, `train-classifier` and `experiment` get broken YAML files, bad `--set` values, `--data` folders that
are not prepared sets, prepared sets that cannot serve the run (no malignant training images, fewer images than
one batch, one class only); `sample`, `evaluate-classifier`, `evaluate-gan` and `--resume` get checkpoints of the
wrong kind, architecture, image size or prepared set, random dicts, text, empty files and pickled payloads.
Every case is one clear error line (non-zero exit, no traceback, naming the key/file/value at fault and what is
accepted): never a crash, never silently wrong output. A disk that fills up while a checkpoint is written stops
the run with exit 1, keeps the last good checkpoint, and `--resume` then finishes bitwise-identically.

Cheap cases run in-process (`skingan.cli.main`); every command also gets at least one subprocess case. The
`CORPUS` table at the end counts the cases per command (printed by `test_corpus_counts`).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import pickle
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import assert_clean_error, run_skingan
from reliability import test_kill_resume_stages as stages
from reliability.test_bad_inputs import assert_one_line_error, small_filesystem
from reliability.test_kill_resume_stages import (
    TIMEOUT,
    assert_same_weights,
    classifier_args,
    gan_args,
    metrics_without_timing,
    temporaries,
    with_out,
)
from reliability.test_security import SystemCall
from skingan.cli import main
from skingan.data.prepared import open_prepared, write_prepared_set
from skingan.runs import TMP_PREFIX, attach_log_file, safe_torch_load

NO_PROGRESS = ["--no-progress"]
prepared = stages.prepared  # the kill/resume tests' fixture: 40 real ISIC 2017 images at 32 px


# ------------------------------------------------------------------------------------------------ the world
@dataclass
class World:
    """Prepared sets, finished runs and foreign files every case draws from (built once per module)."""

    root: Path
    good: Path                     # 40 real ISIC 2017 images at 32 px: train 10+10, val 5+5, test 5+5
    sets: dict[str, Path]          # variants of `good` that cannot serve some run
    gan_run: Path                  # train-gan, gan-tiny32, GAN_STEPS steps (the uninterrupted reference)
    classifier_run: Path           # train-classifier, lite0 at 32 px, 2 epochs (the uninterrupted reference)
    samples: Path                  # a finished `skingan sample` folder
    files: dict[str, Path] = field(default_factory=dict)   # foreign/damaged checkpoint files by name
    marker: Path = Path()          # a pickled payload would create this file

    @property
    def gan_checkpoint(self) -> Path:
        return self.gan_run / "checkpoints" / "last.pt"

    @property
    def classifier_checkpoint(self) -> Path:
        return self.classifier_run / "checkpoints" / "best.pt"


def cli(*args: str | Path) -> int:
    return main([str(a) for a in args])


def run_in_process(capsys: pytest.CaptureFixture, *args: str | Path) -> tuple[int, str]:
    capsys.readouterr()
    code = cli(*args)
    return code, capsys.readouterr().err


def variant(source: Path, out: Path, keep: Callable[[pd.DataFrame], pd.Series]) -> Path:
    """The rows of prepared set `source` that `keep` selects, written as a new prepared set (same pixels)."""
    opened = open_prepared(source)
    chosen = keep(opened.metadata).to_numpy()
    metadata = opened.metadata[chosen].reset_index(drop=True)
    write_prepared_set(out, metadata, {32: np.ascontiguousarray(opened.images(32)[chosen])},
                       {"source": "variant", "seed": 0, "resize": "squash"})
    return out


def build_variants(good: Path, root: Path) -> dict[str, Path]:
    malignant, train, test = ("target", 1), ("split", "train"), ("split", "test")

    def rows(m: pd.DataFrame, column_value: tuple[str, object]) -> pd.Series:
        return m[column_value[0]] == column_value[1]

    def first_malignant_train(m: pd.DataFrame, n: int) -> pd.Series:
        hit = rows(m, malignant) & rows(m, train)
        return ~hit | (hit.cumsum() <= n)

    return {
        "no_malignant_train": variant(good, root / "no_malignant_train",
                                      lambda m: ~(rows(m, malignant) & rows(m, train))),
        "benign_only": variant(good, root / "benign_only", lambda m: ~rows(m, malignant)),
        "test_one_class": variant(good, root / "test_one_class", lambda m: ~(rows(m, malignant) & rows(m, test))),
        "three_malignant_train": variant(good, root / "three_malignant_train",
                                         lambda m: first_malignant_train(m, 3)),
        "retrained": variant(good, root / "retrained", lambda m: ~(rows(m, malignant) & rows(m, test))),
    }


def build_foreign_files(world: World) -> None:
    """Every checkpoint a user could hand the wrong command, written into world.root/files."""
    folder = world.root / "files"
    folder.mkdir()
    files = world.files

    def save(name: str, obj: object) -> None:
        files[name] = folder / name
        torch.save(obj, files[name])

    save("random_dict.pt", {"weights": torch.zeros(3), "step": 3, "epoch": 1})
    save("list.pt", [torch.zeros(2), 1, 2])
    files["text.pt"] = folder / "text.pt"
    files["text.pt"].write_text("this is a text file named like a checkpoint\n" * 10)
    files["empty.pt"] = folder / "empty.pt"
    files["empty.pt"].write_bytes(b"")
    files["payload.pt"] = folder / "payload.pt"
    torch.save({"G": {}, "D": {}, "step": 1, "config": {}, "model": {}, "meta": {},
                "extra": SystemCall(world.marker)}, files["payload.pt"], pickle_module=pickle)
    files["plain_pickle.pt"] = folder / "plain_pickle.pt"
    files["plain_pickle.pt"].write_bytes(pickle.dumps({"model": SystemCall(world.marker)}))
    gan = safe_torch_load(world.gan_checkpoint)
    save("gan_wrong_weights.pt", {**gan, "G": {"main.0.weight": torch.zeros(3)}, "G_ema": None})
    save("gan_other_size.pt", {**gan, **torch.load(world.root / "gan64.pt", weights_only=True)})
    save("gan_without_provenance.pt", {k: v for k, v in gan.items() if k not in ("arch", "image_size", "nz")})
    classifier = safe_torch_load(world.classifier_checkpoint)
    save("classifier_wrong_weights.pt", {**classifier, "model": {"fc.weight": torch.zeros(1, 7)}})
    save("classifier_without_meta.pt", {**classifier, "meta": {"prepared_hash": "x"}})
    files["classifier_truncated.pt"] = folder / "classifier_truncated.pt"
    raw = world.classifier_checkpoint.read_bytes()
    files["classifier_truncated.pt"].write_bytes(raw[: len(raw) // 2])


def gan64_weights(root: Path) -> None:
    """The generator of a 64-px run of the same config (another image size), for a foreign checkpoint."""
    from skingan.config import load_config
    from skingan.gan.config import GANConfig
    from skingan.gan.train import build_generator

    config = load_config(GANConfig, "gan-tiny32", ["model.image_size=64"])
    weights = build_generator(config).state_dict()
    torch.save({"G": weights, "G_ema": weights}, root / "gan64.pt")


@pytest.fixture(scope="module")
def world(prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("bad_training")
    gan_run, classifier_run, samples = root / "gan", root / "classifier", root / "samples"
    assert cli(*gan_args(prepared, gan_run), *NO_PROGRESS) == 0
    assert cli(*classifier_args(prepared, classifier_run)) == 0
    assert cli("sample", "--checkpoint", gan_run / "checkpoints" / "last.pt", "--n", "4", "--device", "cpu",
               "--out", samples) == 0
    gan64_weights(root)
    world = World(root=root, good=prepared, sets=build_variants(prepared, root), gan_run=gan_run,
                  classifier_run=classifier_run, samples=samples, marker=root / "PWNED")
    build_foreign_files(world)
    return world


@pytest.fixture(autouse=True)
def no_payload_ran(request):
    """No case may ever run a pickled payload."""
    yield
    if "world" in request.fixturenames:
        assert not request.getfixturevalue("world").marker.exists(), "a pickled payload ran"


def data_path(world: World, name: str) -> Path:
    """--data values: the good set, a variant, or something that is not a prepared set at all."""
    return {
        "good": world.good,
        "sample_folder": world.samples,
        "run_folder": world.gan_run,
        "a_file": world.gan_checkpoint,
        "missing": world.root / "no_such_set",
    }.get(name) or world.sets[name]


# ------------------------------------------------------------------------------------------------ YAML files
GAN_YAML = """model: {arch: sngan, image_size: 32, nz: 16, ngf: 8, ndf: 8}
data: {classes: [malignant]}
train: {steps: 4, batch_size: 8, checkpoint_every: 2, sample_every: 100, log_every: 1, grid_size: 4}
"""
CLASSIFIER_YAML = """model: {backbone: efficientnet-lite0}
data: {image_size: 32}
train: {epochs: 1, batch_size: 8}
eval: {bootstrap: 20}
"""
EXPERIMENT_YAML = """study: {seeds: 1, conditions: [real-noaug, real-aug]}
classifier:
  data: {image_size: 32}
  train: {epochs: 1, batch_size: 8}
  eval: {bootstrap: 20}
"""


def edited(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


# name → (YAML text, fragments of the one error line)
GAN_YAML_CASES = {
    "unknown_key": (edited(GAN_YAML, "nz: 16", "nz: 16, depth: 3"), ["unknown key 'model.depth'", "accepted"]),
    "unknown_section": (GAN_YAML + "trainer: {steps: 3}\n", ["unknown key 'trainer'"]),
    "wrong_type": (edited(GAN_YAML, "steps: 4", "steps: many"), ["train.steps='many'", "an integer"]),
    "float_for_int": (edited(GAN_YAML, "batch_size: 8", "batch_size: 8.5"), ["train.batch_size", "an integer"]),
    "negative_steps": (edited(GAN_YAML, "steps: 4", "steps: -4"), ["train.steps=-4", ">= 1"]),
    "negative_batch": (edited(GAN_YAML, "batch_size: 8", "batch_size: -8"), ["train.batch_size=-8", ">= 1"]),
    "negative_nz": (edited(GAN_YAML, "nz: 16", "nz: -16"), ["model.nz=-16", ">= 1"]),
    "image_size_100": (edited(GAN_YAML, "image_size: 32", "image_size: 100"),
                       ["model.image_size=100", "one of 32, 64, 128"]),
    "image_size_without_cache": (edited(GAN_YAML, "image_size: 32", "image_size: 64"),
                                 ["no 64-px cache", "it has: 32", "--sizes 64"]),
    "unknown_class": (edited(GAN_YAML, "[malignant]", "[melanoma]"), ["'melanoma' is not known", "benign"]),
    "acgan_one_class": (edited(GAN_YAML, "arch: sngan", "arch: acgan"), ["acgan", "needs both classes"]),
    "val_split": (GAN_YAML.replace("{classes: [malignant]}", "{classes: [malignant], split: val}"),
                  ["data.split='val'", "'train'"]),
    "not_yaml": ("model: {arch: [\n", ["not valid YAML"]),
}
CLASSIFIER_YAML_CASES = {
    "unknown_key": (edited(CLASSIFIER_YAML, "efficientnet-lite0}", "efficientnet-lite0, depth: 3}"),
                    ["unknown key 'model.depth'"]),
    "wrong_type": (edited(CLASSIFIER_YAML, "epochs: 1", "epochs: one"), ["train.epochs='one'", "an integer"]),
    "negative_epochs": (edited(CLASSIFIER_YAML, "epochs: 1", "epochs: -1"), ["train.epochs=-1", ">= 1"]),
    "negative_batch": (edited(CLASSIFIER_YAML, "batch_size: 8", "batch_size: -8"), ["train.batch_size=-8", ">= 1"]),
    "image_size_too_small": (edited(CLASSIFIER_YAML, "image_size: 32", "image_size: 8"),
                             ["data.image_size=8", ">= 16"]),
    "image_size_100": (edited(CLASSIFIER_YAML, "image_size: 32", "image_size: 100"),
                       ["no 100-px cache", "it has: 32"]),
    "unknown_backbone": (edited(CLASSIFIER_YAML, "efficientnet-lite0", "resnet50"),
                         ["model.backbone='resnet50'", "efficientnet-lite0"]),
    "unknown_policy": (CLASSIFIER_YAML + "augment: {policy: heavy}\n", ["augment.policy='heavy'", "light"]),
    "two_synthetic_modes": (CLASSIFIER_YAML + "synthetic: {ratio: 0.5, balance: true}\n",
                            ["cannot be combined"]),
}
EXPERIMENT_YAML_CASES = {
    "unknown_key": (EXPERIMENT_YAML + "  depth: 3\n", ["unknown key 'classifier.depth'"]),
    "unknown_study_key": (edited(EXPERIMENT_YAML, "seeds: 1", "seeds: 1, folds: 5"), ["unknown key 'study.folds'"]),
    "wrong_type": (edited(EXPERIMENT_YAML, "seeds: 1", "seeds: three"), ["study.seeds='three'", "an integer"]),
    "negative_seeds": (edited(EXPERIMENT_YAML, "seeds: 1", "seeds: -1"), ["study.seeds=-1", ">= 1"]),
    "negative_batch": (edited(EXPERIMENT_YAML, "batch_size: 8", "batch_size: -8"),
                       ["classifier.train.batch_size=-8", ">= 1"]),
    "unknown_condition": (edited(EXPERIMENT_YAML, "real-noaug, ", "real-noaug, gan-only, "),
                          ["gan-only", "real-noaug"]),
    "image_size_100": (edited(EXPERIMENT_YAML, "image_size: 32", "image_size: 100"), ["no 100-px cache"]),
}


def write_yaml(folder: Path, text: str) -> Path:
    path = folder / "bad config.yaml"  # a space in the name, as users' files have
    path.write_text(text)
    return path


def gan_command(data: Path, out: Path, *extra: str) -> list[str | Path]:
    return ["train-gan", "--data", data, "--out", out, "--device", "cpu", *NO_PROGRESS, *extra]


def classifier_command(data: Path, out: Path, *extra: str) -> list[str | Path]:
    return ["train-classifier", "--data", data, "--out", out, "--device", "cpu", *extra]


def experiment_command(data: Path, out: Path, *extra: str) -> list[str | Path]:
    return ["experiment", "--data", data, "--out", out, "--device", "cpu", *extra]


def assert_refused(code: int, err: str, out: Path, *fragments: str) -> None:
    """One error line naming the fault, exit 2, and no run folder left behind."""
    assert_one_line_error(code, err, *fragments)
    assert code == 2
    assert not (out / "config.yaml").exists() and not (out / "checkpoints").exists()


@pytest.mark.parametrize("name", sorted(GAN_YAML_CASES))
def test_train_gan_yaml_corpus(name, world, tmp_path, capsys):
    text, fragments = GAN_YAML_CASES[name]
    config = write_yaml(tmp_path, text)
    code, err = run_in_process(capsys, *gan_command(world.good, tmp_path / "run", "--config", config))
    in_file = [] if name == "image_size_without_cache" else ["bad config.yaml"]
    assert_refused(code, err, tmp_path / "run", *fragments, *in_file)


@pytest.mark.parametrize("name", sorted(CLASSIFIER_YAML_CASES))
def test_train_classifier_yaml_corpus(name, world, tmp_path, capsys):
    text, fragments = CLASSIFIER_YAML_CASES[name]
    config = write_yaml(tmp_path, text)
    code, err = run_in_process(capsys, *classifier_command(world.good, tmp_path / "run", "--config", config))
    in_file = [] if name == "image_size_100" else ["bad config.yaml"]
    assert_refused(code, err, tmp_path / "run", *fragments, *in_file)


@pytest.mark.parametrize("name", sorted(EXPERIMENT_YAML_CASES))
def test_experiment_yaml_corpus(name, world, tmp_path, capsys):
    text, fragments = EXPERIMENT_YAML_CASES[name]
    config = write_yaml(tmp_path, text)
    code, err = run_in_process(capsys, *experiment_command(world.good, tmp_path / "study", "--config", config))
    assert_one_line_error(code, err, *fragments)
    assert code == 2 and not (tmp_path / "study" / "cells").exists()


# --------------------------------------------------------------------------------------------- --set flags
GAN_SET_CASES = {
    "typo_key": (["train.stepz=3"], ["unknown key 'stepz'", "accepted: steps"]),
    "typo_section": (["trian.steps=3"], ["unknown key 'trian'", "accepted: model, data, train"]),
    "no_equals": (["train.steps"], ["KEY=VALUE"]),
    "negative_steps": (["train.steps=-3"], ["train.steps=-3", ">= 1"]),
    "zero_batch": (["train.batch_size=0"], ["train.batch_size=0", ">= 1"]),
    "image_size_100": (["model.image_size=100"], ["model.image_size=100", "one of 32, 64, 128"]),
    "not_a_number": (["train.lr_g=fast"], ["train.lr_g='fast'", "a number"]),
    "nan": (["train.lr_d=nan"], ["a finite number"]),
    "section": (["train=3"], ["is a section"]),
    "unknown_loss": (["train.loss=minimax"], ["train.loss='minimax'", "hinge"]),
}
CLASSIFIER_SET_CASES = {
    "typo_key": (["train.epoch=2"], ["unknown key 'epoch'", "accepted: epochs"]),
    "negative_batch": (["train.batch_size=-1"], ["train.batch_size=-1", ">= 1"]),
    "image_size_too_big": (["data.image_size=4096"], ["data.image_size=4096", "<= 1024"]),
    "unknown_sampler": (["train.sampler=oversample"], ["train.sampler='oversample'", "imbalanced"]),
    "ratio_without_folder": (["synthetic.ratio=0.5"], ["no synthetic folder", "--synthetic DIR"]),
    "synthetic_missing": (["synthetic.ratio=0.5", "synthetic.dir=/no/such/samples"],
                          ["synthetic folder '/no/such/samples' does not exist", "skingan sample"]),
    "synthetic_not_samples": (["synthetic.ratio=0.5", "synthetic.dir=SET"], ["has no manifest.csv", "skingan sample"]),
}
EXPERIMENT_SET_CASES = {
    "typo_key": (["study.seedz=2"], ["unknown key 'seedz'", "accepted: seeds"]),
    "typo_nested": (["classifier.train.epoch=1"], ["unknown key 'epoch'"]),
    "reference_not_planned": (["study.conditions=real-noaug"], ["study.reference='real-aug'", "real-noaug"]),
}


@pytest.mark.parametrize("name", sorted(GAN_SET_CASES))
def test_train_gan_set_corpus(name, world, tmp_path, capsys):
    overrides, fragments = GAN_SET_CASES[name]
    sets = [part for o in overrides for part in ("--set", o)]
    code, err = run_in_process(capsys, *gan_command(world.good, tmp_path / "run", "--config", "gan-tiny32", *sets))
    assert_refused(code, err, tmp_path / "run", *fragments)


@pytest.mark.parametrize("name", sorted(CLASSIFIER_SET_CASES))
def test_train_classifier_set_corpus(name, world, tmp_path, capsys):
    overrides, fragments = CLASSIFIER_SET_CASES[name]
    overrides = [o.replace("SET", str(world.good)) for o in overrides]  # a prepared set is no sample folder
    sets = [part for o in ["data.image_size=32", *overrides] for part in ("--set", o)]
    code, err = run_in_process(capsys, *classifier_command(world.good, tmp_path / "run", *sets))
    assert_refused(code, err, tmp_path / "run", *fragments)


@pytest.mark.parametrize("name", sorted(EXPERIMENT_SET_CASES))
def test_experiment_set_corpus(name, world, tmp_path, capsys):
    overrides, fragments = EXPERIMENT_SET_CASES[name]
    sets = [part for o in overrides for part in ("--set", o)]
    code, err = run_in_process(capsys, *experiment_command(world.good, tmp_path / "study", *sets))
    assert_one_line_error(code, err, *fragments)
    assert code == 2 and not (tmp_path / "study" / "cells").exists()


def test_set_order_does_not_matter(world, tmp_path, capsys):
    """A cross-field rule judges the final config: arch=acgan before data.classes=[benign,malignant] is fine."""
    for order in (["model.arch=acgan", "data.classes=[benign,malignant]"],
                  ["data.classes=[benign,malignant]", "model.arch=acgan"]):
        sets = [part for o in order for part in ("--set", o)]
        capsys.readouterr()
        assert cli(*gan_command(world.good, tmp_path / "run", "--config", "gan-tiny32", *sets, "--dry-run")) == 0
        printed = capsys.readouterr().out
        assert "arch: acgan" in printed and "classes: [benign, malignant]" in printed


# ------------------------------------------------------------------------------------ data that cannot serve
NOT_PREPARED = {  # --data value → fragments
    "image_folder": ["is not a prepared set", "skingan prepare"],
    "sample_folder": ["is not a prepared set", "skingan prepare"],
    "run_folder": ["is not a prepared set", "skingan prepare"],
    "a_file": ["is a file, not a prepared set", "last.pt"],
    "missing": ["does not exist", "no_such_set"],
}
GAN_DATA_CASES = {
    **NOT_PREPARED,
    "no_malignant_train": ["no training images of class 'malignant'", "'benign': 10, 'malignant': 0"],
    "three_malignant_train": ["only 3 training images for a global batch of 8", "train.batch_size"],
}
ACGAN_DATA_CASES = {
    "no_malignant_train": ["no training images of class 'malignant'", "data.classes=['benign', 'malignant']"],
    "benign_only": ["no training images of class 'malignant'"],
}
CLASSIFIER_DATA_CASES = {
    **NOT_PREPARED,
    "benign_only": ["the train split needs both classes", "'malignant': 0"],
    "no_malignant_train": ["the train split needs both classes", "'malignant': 0"],
    "test_one_class": ["the test split needs both classes", "ROC-AUC is undefined"],
}
EXPERIMENT_DATA_CASES = {
    "image_folder": ["is not a prepared set"],
    "run_folder": ["is not a prepared set"],
    "a_file": ["is a file, not a prepared set"],
    "benign_only": ["needs both classes"],
    "test_one_class": ["the test split needs both classes"],
}


def resolve_data(world: World, isic2017: Path, name: str) -> Path:
    return isic2017 if name == "image_folder" else data_path(world, name)


@pytest.mark.parametrize("name", sorted(GAN_DATA_CASES))
def test_train_gan_data_corpus(name, world, isic2017, tmp_path, capsys):
    data = resolve_data(world, isic2017, name)
    code, err = run_in_process(capsys, *gan_command(data, tmp_path / "run", "--config", "gan-tiny32"))
    assert_refused(code, err, tmp_path / "run", *GAN_DATA_CASES[name])


@pytest.mark.parametrize("name", sorted(ACGAN_DATA_CASES))
def test_acgan_without_malignant_training_images(name, world, tmp_path, capsys):
    code, err = run_in_process(capsys, *gan_command(world.sets[name], tmp_path / "run", "--config", "gan-tiny32",
                                                    "--set", "model.arch=acgan",
                                                    "--set", "data.classes=[benign,malignant]"))
    assert_refused(code, err, tmp_path / "run", *ACGAN_DATA_CASES[name])


@pytest.mark.parametrize("name", sorted(CLASSIFIER_DATA_CASES))
def test_train_classifier_data_corpus(name, world, isic2017, tmp_path, capsys):
    data = resolve_data(world, isic2017, name)
    code, err = run_in_process(capsys, *classifier_command(data, tmp_path / "run", "--set", "data.image_size=32"))
    assert_refused(code, err, tmp_path / "run", *CLASSIFIER_DATA_CASES[name])


@pytest.mark.parametrize("name", sorted(EXPERIMENT_DATA_CASES))
def test_experiment_data_corpus(name, world, isic2017, tmp_path, capsys):
    data = resolve_data(world, isic2017, name)
    code, err = run_in_process(capsys, *experiment_command(data, tmp_path / "study", "--config",
                                                           write_yaml(tmp_path, EXPERIMENT_YAML)))
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert code == 2 and len(errors) == 1, err
    for fragment in EXPERIMENT_DATA_CASES[name]:
        assert fragment in errors[0]
    assert not list((tmp_path / "study").rglob("metrics.json"))


def test_classifier_last_batch_of_one_image_trains(world, tmp_path, capsys):
    """20 training images in batches of 19 left a batch of one, which batch norm cannot train on (a crash)."""
    code, err = run_in_process(capsys, *classifier_command(
        world.good, tmp_path / "run", "--set", "data.image_size=32", "--set", "train.epochs=1",
        "--set", "train.batch_size=19", "--set", "eval.bootstrap=20"))
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["train_images"] == 20 and np.isfinite(metrics["auc"]) and 0.0 <= metrics["auc"] <= 1.0


# ---------------------------------------------------------------------------------- foreign checkpoints
# checkpoint file name (in world.files, or a key below) → fragments of the error of each command
LOAD_FAILS = ["cannot be loaded safely"]
SAMPLE_CASES = {
    "classifier_checkpoint": ["is not a skingan GAN checkpoint"],
    "random_dict.pt": ["is not a skingan GAN checkpoint"],
    "list.pt": ["is not a skingan GAN checkpoint"],
    "text.pt": LOAD_FAILS,
    "empty.pt": LOAD_FAILS,
    "payload.pt": LOAD_FAILS,
    "plain_pickle.pt": LOAD_FAILS,
    "gan_wrong_weights.pt": ["generator weights do not fit the sngan32 generator"],
    "gan_other_size.pt": ["generator weights do not fit the sngan32 generator"],
    "gan_without_provenance.pt": ["not a complete skingan GAN checkpoint", "arch"],
    "run_folder": ["is a folder, not a checkpoint file", "checkpoints/last.pt"],
    "missing": ["does not exist"],
}
EVALUATE_CLASSIFIER_CASES = {
    "gan_checkpoint": ["is not a skingan classifier checkpoint"],
    "random_dict.pt": ["is not a skingan classifier checkpoint"],
    "list.pt": ["is not a skingan classifier checkpoint"],
    "text.pt": LOAD_FAILS,
    "empty.pt": LOAD_FAILS,
    "payload.pt": LOAD_FAILS,
    "plain_pickle.pt": LOAD_FAILS,
    "classifier_truncated.pt": LOAD_FAILS,
    "classifier_wrong_weights.pt": ["weights do not fit the efficientnet-lite0 classifier"],
    "classifier_without_meta.pt": ["not a complete skingan classifier checkpoint", "backbone"],
    "run_folder": ["is a folder, not a checkpoint file"],
    "missing": ["does not exist"],
}
EVALUATE_GAN_CASES = {
    "classifier_checkpoint": ["is not a skingan GAN checkpoint"],
    "text.pt": LOAD_FAILS,
    "payload.pt": LOAD_FAILS,
    "gan_wrong_weights.pt": ["generator weights do not fit"],
}


def checkpoint_path(world: World, name: str) -> Path:
    special = {"classifier_checkpoint": world.classifier_checkpoint, "gan_checkpoint": world.gan_checkpoint,
               "run_folder": world.gan_run, "missing": world.root / "nothing.pt"}
    return special.get(name) or world.files[name]


@pytest.mark.parametrize("name", sorted(SAMPLE_CASES))
def test_sample_foreign_checkpoints(name, world, tmp_path, capsys):
    out = tmp_path / "samples"
    code, err = run_in_process(capsys, "sample", "--checkpoint", checkpoint_path(world, name), "--n", "2",
                               "--device", "cpu", "--out", out)
    assert_one_line_error(code, err, *SAMPLE_CASES[name])
    assert code == 2 and not list(out.rglob("*.png")) and not (out / "manifest.csv").exists()


@pytest.mark.parametrize("name", sorted(EVALUATE_CLASSIFIER_CASES))
def test_evaluate_classifier_foreign_checkpoints(name, world, tmp_path, capsys):
    out = tmp_path / "eval"
    code, err = run_in_process(capsys, "evaluate-classifier", "--checkpoint", checkpoint_path(world, name),
                               "--data", world.good, "--bootstrap", "10", "--device", "cpu", "--out", out)
    assert_one_line_error(code, err, *EVALUATE_CLASSIFIER_CASES[name])
    assert code == 2 and not (out / "metrics.json").exists()


@pytest.mark.parametrize("name", sorted(EVALUATE_GAN_CASES))
def test_evaluate_gan_foreign_checkpoints(name, world, tmp_path, capsys):
    out = tmp_path / "eval"
    code, err = run_in_process(capsys, "evaluate-gan", "--checkpoint", checkpoint_path(world, name),
                               "--data", world.good, "--n", "8", "--device", "cpu", "--out", out)
    assert_one_line_error(code, err, *EVALUATE_GAN_CASES[name])
    assert code == 2 and not (out / "metrics.json").exists()


def test_evaluate_classifier_on_a_one_class_split(world, tmp_path, capsys):
    code, err = run_in_process(capsys, "evaluate-classifier", "--checkpoint", world.classifier_checkpoint,
                               "--data", world.sets["test_one_class"], "--bootstrap", "10", "--device", "cpu",
                               "--out", tmp_path / "eval")
    assert_one_line_error(code, err, "holds one class only", "ROC-AUC needs both")


# ------------------------------------------------------------------------------------------------ --resume
# what replaces the run (a --set, another --config, another --data, or a file put at checkpoints/last.pt)
GAN_RESUME_CASES = {
    "image_size_64": (["--set", "model.image_size=64"], None,
                      ["model.image_size=64", "has model.image_size=32", "last.pt"]),
    "other_arch": (["--set", "model.arch=dcgan", "--set", "train.loss=bce"], None,
                   ["model.arch='dcgan'", "has model.arch='sngan'"]),
    "other_config": (["--config", "dcgan64"], None, ["model.arch='dcgan'", "has model.arch='sngan'"]),
    "wider_generator": (["--set", "sngan.ngf=16"], None, ["sngan.ngf=16", "has sngan.ngf=8"]),
    "other_data": (["--data-variant", "retrained"], None, ["was trained on prepared set", "use the same --data"]),
    "classifier_as_last": ([], "classifier_checkpoint", ["is not a skingan GAN checkpoint"]),
    "payload_as_last": ([], "payload.pt", LOAD_FAILS),
    "text_as_last": ([], "text.pt", LOAD_FAILS),
    "wrong_weights_as_last": ([], "gan_wrong_weights.pt", ["does not fit the sngan32 models"]),
    "other_size_weights_as_last": ([], "gan_other_size.pt", ["does not fit the sngan32 models"]),
    "no_checkpoint": ([], "delete", ["no checkpoint at", "start without --resume"]),
}
CLASSIFIER_RESUME_CASES = {
    "image_size_64": (["--set", "data.image_size=64"], None, ["data.image_size=64", "has data.image_size=32"]),
    "other_backbone": (["--set", "model.backbone=efficientnet-b0", "--set", "model.pretrained=false"], None,
                       ["model.backbone='efficientnet-b0'", "has model.backbone='efficientnet-lite0'"]),
    "other_lr": (["--set", "train.lr=0.1"], None, ["train.lr=0.1", "has train.lr=0.0003"]),
    "other_data": (["--data-variant", "retrained"], None, ["was trained on prepared set", "use the same --data"]),
    "gan_as_last": ([], "gan_checkpoint", ["is not a skingan classifier checkpoint"]),
    "payload_as_last": ([], "payload.pt", LOAD_FAILS),
    "text_as_last": ([], "text.pt", LOAD_FAILS),
    "truncated_last": ([], "classifier_truncated.pt", LOAD_FAILS),
}


def resume_setup(world: World, run: Path, tmp_path: Path, case: tuple, last: str) -> tuple[Path, list[str]]:
    """A copy of `run` damaged as `case` says; returns (the copy, extra command-line arguments)."""
    extra, replacement, _ = case
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    target = copy / "checkpoints" / last
    if replacement == "delete":
        target.unlink()
    elif replacement is not None:
        shutil.copy(checkpoint_path(world, replacement), target)
    return copy, extra


def with_data_variant(world: World, args: list, extra: list[str]) -> list:
    if extra[:1] == ["--data-variant"]:
        args = list(args)
        args[args.index("--data") + 1] = world.sets[extra[1]]
        return args
    return [*args, *extra]


@pytest.mark.parametrize("name", sorted(GAN_RESUME_CASES))
def test_train_gan_resume_corpus(name, world, tmp_path, capsys):
    run, extra = resume_setup(world, world.gan_run, tmp_path, GAN_RESUME_CASES[name], "last.pt")
    before = {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()}
    args = with_data_variant(world, [*with_out(gan_args(world.good, run), run), *NO_PROGRESS, "--resume"], extra)
    code, err = run_in_process(capsys, *args)
    assert_one_line_error(code, err, *GAN_RESUME_CASES[name][2])
    assert code == 2 and "Add --resume" not in err
    assert {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()} == before  # nothing was touched


@pytest.mark.parametrize("name", sorted(CLASSIFIER_RESUME_CASES))
def test_train_classifier_resume_corpus(name, world, tmp_path, capsys):
    run, extra = resume_setup(world, world.classifier_run, tmp_path, CLASSIFIER_RESUME_CASES[name], "last.pt")
    before = {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()}
    args = with_data_variant(world, [*with_out(classifier_args(world.good, run), run), "--resume"], extra)
    code, err = run_in_process(capsys, *args)
    assert_one_line_error(code, err, *CLASSIFIER_RESUME_CASES[name][2])
    assert code == 2
    assert {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()} == before


# --------------------------------------------------------------------------------- one subprocess per command
SUBPROCESS_CASES = {
    "train-gan": (lambda w, t: gan_command(w.sets["no_malignant_train"], t / "run", "--config", "gan-tiny32"),
                  ["skingan train-gan: error:", "no training images of class 'malignant'"]),
    "train-classifier": (lambda w, t: classifier_command(w.sets["test_one_class"], t / "run", "--set",
                                                         "data.image_size=32"),
                         ["skingan train-classifier: error:", "the test split needs both classes"]),
    "experiment": (lambda w, t: experiment_command(w.good, t / "study", "--set", "study.seedz=2"),
                   ["skingan experiment: error:", "unknown key 'seedz'"]),
    "sample": (lambda w, t: ["sample", "--checkpoint", w.files["payload.pt"], "--n", "2", "--out", t / "s"],
               ["skingan sample: error:", "cannot be loaded safely"]),
    "evaluate-classifier": (lambda w, t: ["evaluate-classifier", "--checkpoint", w.gan_checkpoint, "--data",
                                          w.good, "--out", t / "e"],
                            ["skingan evaluate-classifier: error:", "is not a skingan classifier checkpoint"]),
    "evaluate-gan": (lambda w, t: ["evaluate-gan", "--checkpoint", w.classifier_checkpoint, "--data", w.good,
                                   "--n", "8", "--out", t / "e"],
                     ["skingan evaluate-gan: error:", "is not a skingan GAN checkpoint"]),
}


@pytest.mark.parametrize("command", sorted(SUBPROCESS_CASES))
def test_one_subprocess_case_per_command(command, world, tmp_path):
    build, fragments = SUBPROCESS_CASES[command]
    result = run_skingan(*build(world, tmp_path), timeout=TIMEOUT)
    assert_clean_error(result, *fragments)
    assert result.returncode == 2
    assert len([line for line in result.stderr.splitlines() if "error:" in line]) == 1, result.stderr


# ----------------------------------------------------------------------------------------------- disk full
class FullDisk:
    """Path.write_bytes that fails like a full disk on the `nth` write of a temporary for `name`, after
    writing `limit` bytes of it (atomic_write_bytes writes every checkpoint through it)."""

    def __init__(self, name: str, nth: int, limit: int = 4096):
        self.name, self.nth, self.limit, self.seen, self.failed = name, nth, limit, 0, False
        self.real = Path.write_bytes

    def __call__(self, path: Path, data: bytes) -> int:
        if path.name.startswith(f"{TMP_PREFIX}{self.name}."):
            self.seen += 1
            if self.seen == self.nth:
                self.real(path, bytes(data)[: self.limit])
                self.failed = True
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.real(path, data)


def test_train_gan_disk_full_while_checkpointing_keeps_the_last_good_one(world, tmp_path, capsys, monkeypatch):
    out = tmp_path / "gan"
    args = [*with_out(gan_args(world.good, out), out), *NO_PROGRESS]
    full = FullDisk("last.pt", nth=3)  # checkpoints every 2 steps: the one of step 6 fails
    monkeypatch.setattr(Path, "write_bytes", lambda path, data: full(path, data))
    code, err = run_in_process(capsys, *args)
    monkeypatch.undo()
    assert full.failed
    assert_one_line_error(code, err, "skingan train-gan: error: No space left on device", "free some space",
                          "add --resume to the same command")
    assert code == 1
    assert safe_torch_load(out / "checkpoints" / "last.pt")["step"] == 4  # the last good one, whole
    assert not temporaries(out)
    code, err = run_in_process(capsys, *args, "--resume")
    assert code == 0, err
    assert_same_weights(out / "checkpoints" / "last.pt", world.gan_checkpoint)
    reference = pd.read_csv(world.gan_run / "metrics.csv").drop(columns="images_per_s")
    assert pd.read_csv(out / "metrics.csv").drop(columns="images_per_s").equals(reference)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["last.pt", "best.pt"])
def test_train_classifier_disk_full_while_checkpointing(name, world, tmp_path, capsys, monkeypatch):
    """Epoch 2's last.pt (or best.pt, written first) cannot be written: the run stops, epoch 1 is kept, and
    --resume gives the uninterrupted run's metrics. best.pt used to be written after last.pt, so a failure
    there left last.pt naming a best epoch whose weights best.pt never got: wrong test metrics on resume."""
    history = pd.read_csv(world.classifier_run / "epochs.csv")
    assert history["best"].tolist() == [1, 1], "the reference must improve in epoch 2 for this test"
    out = tmp_path / "classifier"
    args = with_out(classifier_args(world.good, out), out)
    full = FullDisk(name, nth=2)
    monkeypatch.setattr(Path, "write_bytes", lambda path, data: full(path, data))
    code, err = run_in_process(capsys, *args)
    monkeypatch.undo()
    assert full.failed and code == 1, err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert errors == [line for line in errors if "No space left on device" in line and "add --resume" in line]
    assert len(errors) == 1 and "Traceback" not in err
    assert safe_torch_load(out / "checkpoints" / "last.pt")["epoch"] == 1
    assert not temporaries(out) and not (out / "metrics.json").exists()
    code, err = run_in_process(capsys, *args, "--resume")
    assert code == 0, err
    assert metrics_without_timing(out) == metrics_without_timing(world.classifier_run)
    assert (out / "predictions.csv").read_bytes() == (world.classifier_run / "predictions.csv").read_bytes()


def test_a_log_file_on_a_full_disk_is_one_warning_not_a_traceback_per_line(tmp_path, capsys):
    """logging's default on a failed write is '--- Logging error ---' and a traceback on stderr for every
    message; a run folder's log.txt says once that it cannot be written and the run carries on."""
    attach_log_file(tmp_path / "log.txt")
    log = logging.getLogger("skingan")
    handler = next(h for h in log.handlers if isinstance(h, logging.FileHandler))

    def no_space(*args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    handler.stream.write = no_space
    capsys.readouterr()
    for step in range(3):
        log.info("step %d", step)
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Logging error" not in err
    assert err.strip().splitlines() == [f"skingan: warning: cannot write {tmp_path / 'log.txt'} (No space left on "
                                        "device); the log continues on the terminal only"]
    assert handler not in log.handlers


@pytest.mark.slow
def test_train_gan_disk_full_on_a_real_small_filesystem(world, tmp_path):
    """A real tmpfs filled up before the step-6 checkpoint: exit 1, one line, step 4 kept; room again → --resume
    finishes bitwise-identically to the uninterrupted run."""
    threads = {"OMP_NUM_THREADS": str(torch.get_num_threads())}  # the reference was trained in this process
    with small_filesystem(tmp_path / "disk", "4m") as disk:
        out = disk / "gan"
        args = with_out(gan_args(world.good, out), out)
        first = run_skingan(*args[:-2], "--set", "train.steps=4", "--out", out, env=threads, timeout=TIMEOUT)
        assert first.returncode == 0, first.stderr
        free = shutil.disk_usage(disk).free
        checkpoint = (out / "checkpoints" / "last.pt").stat().st_size
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (free - checkpoint // 2))  # room for log lines, not for a checkpoint
        full = run_skingan(*args, "--resume", env=threads, timeout=TIMEOUT)
        assert_clean_error(full, "No space left on device", "add --resume to the same command")
        assert full.returncode == 1
        assert len([line for line in full.stderr.splitlines() if "error:" in line]) == 1, full.stderr
        assert safe_torch_load(out / "checkpoints" / "last.pt")["step"] == 4 and not temporaries(out)
        filler.unlink()
        again = run_skingan(*args, "--resume", env=threads, timeout=TIMEOUT)
        assert again.returncode == 0, again.stderr
        assert_same_weights(out / "checkpoints" / "last.pt", world.gan_checkpoint)
        assert not temporaries(out)


# ------------------------------------------------------------------------------------------------ the count
CORPUS = {
    "train-gan": len(GAN_YAML_CASES) + len(GAN_SET_CASES) + len(GAN_DATA_CASES) + len(ACGAN_DATA_CASES)
    + len(GAN_RESUME_CASES) + 2,  # + disk full in-process and on a real tmpfs
    "train-classifier": len(CLASSIFIER_YAML_CASES) + len(CLASSIFIER_SET_CASES) + len(CLASSIFIER_DATA_CASES)
    + len(CLASSIFIER_RESUME_CASES) + 1 + 2,  # + the batch of one image, + disk full at last.pt and best.pt
    "experiment": len(EXPERIMENT_YAML_CASES) + len(EXPERIMENT_SET_CASES) + len(EXPERIMENT_DATA_CASES),
    "sample": len(SAMPLE_CASES),
    "evaluate-classifier": len(EVALUATE_CLASSIFIER_CASES) + 1,
    "evaluate-gan": len(EVALUATE_GAN_CASES),
}


def test_corpus_counts():
    """The closing note's table: bad inputs tried per command (each also has one subprocess case)."""
    for command, count in CORPUS.items():
        print(f"{command:<20} {count:>3} bad inputs + 1 subprocess case")
    assert set(CORPUS) == set(SUBPROCESS_CASES)
    assert sum(CORPUS.values()) >= 120
