"""TensorBoard: what each command writes (read back with TensorBoard's own EventAccumulator), no repeated steps
after --resume, and runs that are identical when TensorBoard is absent or turned off."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

pytest.importorskip("tensorboard", reason="the tensorboard package is not installed (pip install '.[tensorboard]')")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from conftest import REPO  # noqa: E402
from skingan import tracking  # noqa: E402
from skingan.classifier.config import ClassifierConfig  # noqa: E402
from skingan.classifier.train import fit  # noqa: E402
from skingan.config import load_config  # noqa: E402
from skingan.gan.config import GANConfig  # noqa: E402
from skingan.gan.train import load_checkpoint, train  # noqa: E402
from test_classifier_train import micro_prepared  # noqa: E402

GAN = ["train.batch_size=8", "train.log_every=1", "train.checkpoint_every=2", "train.sample_every=2",
       "train.grid_size=4"]


def events(folder: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def steps(accumulator: EventAccumulator, tag: str) -> list[int]:
    return [event.step for event in accumulator.Scalars(tag)]


def gan(data: Path, out: Path, total: int, resume: bool = False) -> None:
    config = load_config(GANConfig, "gan-tiny32", [f"train.steps={total}", *GAN])
    train(config, data, out, seed=0, device="cpu", resume=resume, progress=False)


def test_train_gan_logs_every_csv_column_the_grid_and_resumes_without_repeated_steps(tiny_prepared, tmp_path):
    out = tmp_path / "gan"
    gan(tiny_prepared, out, 2)
    step2 = tmp_path / "last-at-step-2.pt"
    shutil.copy(out / "checkpoints" / "last.pt", step2)
    gan(tiny_prepared, out, 4, resume=True)
    # a kill after the step-2 checkpoint: steps 3 and 4 are in the event file, the checkpoint is at step 2
    shutil.copy(step2, out / "checkpoints" / "last.pt")
    gan(tiny_prepared, out, 6, resume=True)
    assert len(list((out / "tensorboard").glob("events.out.tfevents.*"))) == 3
    acc = events(out / "tensorboard")
    tags = set(acc.Tags()["scalars"])
    assert {"loss/loss_d", "loss/loss_g", "D/d_real", "D/d_fake", "speed/images_per_s", "lr/lr_g", "lr/lr_d",
            "train/fake_std"} <= tags
    for tag in tags:
        assert steps(acc, tag) == [1, 2, 3, 4, 5, 6], tag  # 3 and 4 once each: the killed run's were purged
    with open(out / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    for name in ("loss_d", "loss_g", "d_real", "d_fake"):
        logged = [event.value for event in acc.Scalars(f"{'loss' if name.startswith('loss') else 'D'}/{name}")]
        assert logged == pytest.approx([float(r[name]) for r in rows], rel=1e-6), name
    config = load_config(GANConfig, "gan-tiny32")
    assert [e.value for e in acc.Scalars("lr/lr_d")] == pytest.approx([config.train.lr_d] * 6)
    grids = acc.Images("samples/fixed_noise")
    assert sorted({g.step for g in grids}) == [2, 4, 6] and len(grids) == 3
    assert (grids[0].width, grids[0].height) == (2 * 32 + 3 * 2, 2 * 32 + 3 * 2)  # 2×2 grid of 32 px, padding 2


def test_gan_tags_group_the_columns_adaptive_augmentation_included():
    tags = tracking.gan_tags({"step": 7, "loss_d": 1.0, "r1": 0.1, "augment_p": 0.2, "ada_rt": 0.6,
                              "images_per_s": 50.0, "fake_std": 0.3}, {"lr_g": 1e-4, "lr_d": 4e-4})
    assert tags == {"loss/loss_d": 1.0, "loss/r1": 0.1, "augment/augment_p": 0.2, "augment/ada_rt": 0.6,
                    "speed/images_per_s": 50.0, "train/fake_std": 0.3, "lr/lr_g": 1e-4, "lr/lr_d": 4e-4}


@pytest.mark.slow
def test_train_classifier_logs_losses_auc_lr_and_the_roc_figure(tiny_prepared, tmp_path):
    data = micro_prepared(tiny_prepared, tmp_path / "micro")
    config = load_config(ClassifierConfig, "efficientnet", ["data.image_size=32", "train.epochs=2",
                                                            "train.batch_size=8", "eval.bootstrap=20"])
    metrics = fit(config, data, tmp_path / "clf", progress=False)
    acc = events(tmp_path / "clf" / "tensorboard")
    history = pd.read_csv(tmp_path / "clf" / "epochs.csv")
    for tag, column in (("loss/train", "train_loss"), ("loss/val", "val_loss"), ("val/auc", "val_auc"),
                        ("lr/lr", "lr")):
        assert steps(acc, tag) == [1, 2], tag
        assert [e.value for e in acc.Scalars(tag)] == pytest.approx(history[column].tolist(), rel=1e-5), tag
    assert steps(acc, "test/auc") == [2] and acc.Scalars("test/auc")[0].value == pytest.approx(metrics["auc"])
    roc = acc.Images("figures/roc")
    assert [r.step for r in roc] == [2] and roc[0].width > 300


def test_evaluate_gan_and_experiment_records(tmp_path):
    metrics = {"fd": 12.5, "kid_mean": 0.01, "precision": 0.4, "recall": 0.3, "memorization":
               {"fraction_below_threshold": 0.05}, "protocol": {"source": {"step": "1500"}}, "iqa_seed": {}}
    tracking.log_evaluation(tmp_path / "eval", metrics)
    acc = events(tmp_path / "eval" / "tensorboard")
    assert set(acc.Tags()["scalars"]) == {"evaluate-gan/fd", "evaluate-gan/kid_mean", "evaluate-gan/precision",
                                          "evaluate-gan/recall", "evaluate-gan/memorised_fraction"}
    assert steps(acc, "evaluate-gan/fd") == [1500] and acc.Scalars("evaluate-gan/fd")[0].value == 12.5

    from tensorboard.plugins.hparams import plugin_data_pb2

    results = pd.DataFrame([
        {"condition": c, "kind": c, "source": "", "seed": s, "test_set": t, "auc": 0.7 + s / 10 + (t != "test") / 100}
        for c in ("real-aug", "synthetic-0.5") for s in (0, 1) for t in ("test", "ood:other")])
    assert tracking.log_study_cells(tmp_path / "study", results) == 4
    assert tracking.log_study_cells(tmp_path / "study", results) == 4  # rewritten whole: still one per cell
    runs = sorted(p.name for p in (tmp_path / "study" / "tensorboard" / "study").iterdir() if p.is_dir())
    assert runs == ["real-aug-seed0", "real-aug-seed1", "synthetic-0.5-seed0", "synthetic-0.5-seed1"]
    acc = events(tmp_path / "study" / "tensorboard" / "study" / "synthetic-0.5-seed1")
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    assert info.hparams["condition"].string_value == "synthetic-0.5" and info.hparams["seed"].number_value == 1
    assert acc.Scalars("auc/test")[0].value == pytest.approx(0.8)
    assert acc.Scalars("auc/ood-other")[0].value == pytest.approx(0.81)


def test_off_absent_and_non_zero_ranks_write_nothing(tmp_path, monkeypatch):
    assert tracking.open_tracker(tmp_path / "a", main=False).enabled is False
    assert tracking.open_tracker(tmp_path / "b", enabled=False).enabled is False
    monkeypatch.setenv(tracking.ENV, "0")
    assert tracking.open_tracker(tmp_path / "c").enabled is False
    monkeypatch.delenv(tracking.ENV)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if TensorBoard were not installed
    assert not tracking.available() and tracking.open_tracker(tmp_path / "d").enabled is False
    tracking.open_tracker(tmp_path / "d").scalars({"x": 1.0}, 1)  # a no-op, not an error
    assert not any((tmp_path / name).exists() for name in "abcd")


def test_no_tensorboard_flag_turns_it_off_for_the_command(tiny_prepared, tmp_path, monkeypatch):
    from skingan.cli import main

    monkeypatch.setattr(tracking, "_configured", None)  # the flag sets a process-wide switch; undo it after
    assert main(["train-gan", "--config", "gan-tiny32", "--data", str(tiny_prepared), "--out", str(tmp_path / "off"),
                 "--no-progress", "--no-tensorboard", "--set", "train.steps=1", *GAN]) == 0
    assert (tmp_path / "off" / "checkpoints" / "last.pt").is_file() and not (tmp_path / "off" / "tensorboard").exists()
    assert not tracking.wanted()


BLOCKED = ("import sys; sys.modules['torch.utils.tensorboard'] = None; from skingan.cli import main; "
           "raise SystemExit(main(sys.argv[1:]))")


def test_a_run_is_identical_without_tensorboard(tiny_prepared, tmp_path):
    args = ["train-gan", "--config", "gan-tiny32", "--data", str(tiny_prepared), "--no-progress",
            "--set", "train.steps=2", *GAN]
    runs = {"with": [sys.executable, "-m", "skingan", *args, "--out", str(tmp_path / "with")],
            "absent": [sys.executable, "-c", BLOCKED, *args, "--out", str(tmp_path / "absent")]}
    for name, command in runs.items():
        result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300, check=False)
        assert result.returncode == 0, (name, result.stderr[-2000:])
    assert (tmp_path / "with" / "tensorboard").is_dir()
    assert not (tmp_path / "absent" / "tensorboard").exists()
    reference = load_checkpoint(tmp_path / "with" / "checkpoints" / "last.pt")
    table = pd.read_csv(tmp_path / "with" / "metrics.csv").drop(columns="images_per_s")
    for name in ("absent",):
        other = load_checkpoint(tmp_path / name / "checkpoints" / "last.pt")
        for part in ("G", "D", "G_ema"):
            assert all(torch.equal(reference[part][k], other[part][k]) for k in reference[part]), (name, part)
        pd.testing.assert_frame_equal(table, pd.read_csv(tmp_path / name / "metrics.csv").drop(columns="images_per_s"))
        assert sorted(p.name for p in (tmp_path / name / "samples").iterdir()) == sorted(
            p.name for p in (tmp_path / "with" / "samples").iterdir())
