"""train-classifier and evaluate-classifier on real ISIC images: outputs, sampler, freezing, resume, errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from conftest import assert_clean_error, make_prepared_set, run_skingan
from skingan.classifier import train as T
from skingan.classifier.config import ClassifierConfig
from skingan.classifier.model import build_classifier, load_trained_classifier
from skingan.config import load_config
from skingan.data.prepared import open_prepared
from skingan.runs import safe_torch_load

TINY = ["--set", "train.epochs=1", "--set", "eval.bootstrap=200"]


@pytest.fixture(scope="module")
def trained_run(tiny_prepared, tmp_path_factory):
    """One real CLI run: 1 epoch, 64 px, on 96 real training images."""
    out = tmp_path_factory.mktemp("classifier") / "run"
    result = run_skingan("train-classifier", "--config", "efficientnet", "--data", tiny_prepared, "--out", out,
                         "--set", "data.image_size=64", *TINY)
    assert result.returncode == 0, result.stderr
    assert f"results in {out}" in result.stdout
    return out


def test_cli_run_writes_the_run_folder(trained_run):
    for name in ("config.yaml", "environment.json", "log.txt", "epochs.csv", "curves.png", "metrics.json",
                 "roc.png", "pr.png", "confusion.png", "checkpoints/best.pt", "checkpoints/last.pt"):
        assert (trained_run / name).is_file(), name
    epochs = pd.read_csv(trained_run / "epochs.csv")
    assert list(epochs["epoch"]) == [1] and 0 <= epochs["val_auc"].iloc[0] <= 1
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["n"] == 32 and metrics["n_pos"] == 16  # the natural, untouched test split
    assert metrics["auc_ci_low"] <= metrics["auc"] <= metrics["auc_ci_high"]
    assert metrics["val"]["n"] == 32


def test_auc_is_over_the_whole_test_set_on_probabilities(trained_run):
    metrics = json.loads((trained_run / "metrics.json").read_text())
    predictions = pd.read_csv(trained_run / "predictions.csv")
    test = predictions[predictions["split"] == "test"]
    assert len(test) == 32 and test["probability"].between(0, 1).all()
    assert metrics["auc"] == pytest.approx(roc_auc_score(test["target"], test["probability"]), abs=1e-3)
    val = predictions[predictions["split"] == "val"]
    assert metrics["threshold"] == metrics["val"]["threshold"]  # chosen on validation, applied to test
    assert metrics["val"]["auc"] == pytest.approx(roc_auc_score(val["target"], val["probability"]), abs=1e-3)


def test_checkpoint_is_safe_and_loads_as_feature_extractor(trained_run, tiny_prepared):
    last = safe_torch_load(trained_run / "checkpoints" / "last.pt")
    assert {"model", "optimizer", "scheduler", "scaler", "epoch", "best_auc", "history", "meta"} <= set(last)
    model, meta = load_trained_classifier(trained_run / "checkpoints" / "best.pt")
    assert meta["image_size"] == 64 and meta["backbone"] == "efficientnet-lite0"
    assert meta["prepared_hash"] == open_prepared(tiny_prepared).hash
    assert len(meta["mean"]) == 3 and len(meta["std"]) == 3 and "threshold" in meta
    with torch.no_grad():
        features = model.forward_features(torch.randn(2, 3, 64, 64))
    assert features.shape == (2, 1280)


def test_evaluate_classifier_on_another_set(trained_run, tiny_prepared, isic2017, tmp_path):
    from PIL import Image

    labels = pd.read_csv(isic2017 / "labels.csv")
    rows = pd.concat([labels[(labels["split"] == "val") & (labels["target"] == t)].sort_values("isic_id").tail(10)
                      for t in (0, 1)])  # not among tiny_prepared's images
    other = make_prepared_set(tmp_path / "other", [Image.open(isic2017 / p) for p in rows["image"]],
                              rows["target"].tolist(), ["train"] * len(rows), sizes=(64,), source="other")
    out = tmp_path / "eval"
    result = run_skingan("evaluate-classifier", "--checkpoint", trained_run / "checkpoints" / "best.pt",
                         "--data", other, "--split", "all", "--out", out, "--bootstrap", "100")
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "metrics.json").read_text())
    assert report["n"] == 20 and report["n_pos"] == 10 and not report["same_prepared_set_as_training"]
    training = json.loads((trained_run / "metrics.json").read_text())
    assert report["threshold"] == pytest.approx(training["threshold"])
    predictions = pd.read_csv(out / "predictions.csv")
    assert report["auc"] == pytest.approx(roc_auc_score(predictions["target"], predictions["probability"]), abs=1e-3)
    leak = run_skingan("evaluate-classifier", "--checkpoint", trained_run / "checkpoints" / "best.pt",
                       "--data", tiny_prepared, "--split", "all", "--out", tmp_path / "leak")
    assert_clean_error(leak, "own training images")


def test_sampler_only_on_train(tiny_prepared):
    config = load_config(ClassifierConfig, "efficientnet", ["train.sampler=imbalanced", "data.image_size=32"])
    prepared = open_prepared(tiny_prepared)
    datasets = T.build_datasets(config, prepared)
    loaders = T.build_loaders(datasets, config)
    from torch.utils.data import SequentialSampler
    from torchsampler import ImbalancedDatasetSampler

    assert isinstance(loaders["train"].sampler, ImbalancedDatasetSampler)
    for split in ("val", "test"):
        assert isinstance(loaders[split].sampler, SequentialSampler)
        seen = torch.cat([targets for _, targets in loaders[split]]).numpy().astype(int)
        expected = prepared.targets[prepared.indices(split)]
        np.testing.assert_array_equal(seen, expected)  # every image once, in order, natural balance


def test_weighted_loss_uses_training_counts():
    config = load_config(ClassifierConfig, "efficientnet", [])
    criterion = T.build_criterion(config, np.array([0] * 30 + [1] * 10), "cpu")
    assert float(criterion.pos_weight) == pytest.approx(3.0)


def test_freezing_keeps_early_blocks_fixed():
    model = build_classifier("efficientnet-b0", image_size=32, pretrained=False, freeze_blocks=4,
                             bn_trainable=False)
    frozen = [p for m in model.frozen for p in m.parameters()]
    assert frozen and not any(p.requires_grad for p in frozen)
    before = [p.detach().clone() for p in frozen]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    assert not model.backbone._bn0.training  # frozen BatchNorm stays in eval mode
    model(torch.randn(4, 3, 32, 32)).sum().backward()
    optimizer.step()
    assert all(torch.equal(a, b) for a, b in zip(before, frozen, strict=True))
    assert model.backbone._blocks[10]._bn1.training


def micro_prepared(tiny_prepared, out):
    """48 of the tiny set's real images (train 16+16, val 4+4, test 4+4) at 32 px, for multi-run tests."""
    from PIL import Image

    prepared = open_prepared(tiny_prepared)
    rows = np.concatenate([prepared.indices(split, [c])[:n] for split, n in (("train", 16), ("val", 4),
                                                                            ("test", 4)) for c in (0, 1)])
    meta = prepared.metadata.iloc[rows]
    images = [Image.fromarray(np.asarray(prepared.images(32)[i])) for i in rows]
    return make_prepared_set(out, images, meta["target"].tolist(), meta["split"].tolist(), sizes=(32,))


@pytest.mark.slow
def test_resume_continues_exactly(tiny_prepared, tmp_path, monkeypatch):
    data = micro_prepared(tiny_prepared, tmp_path / "micro")
    config = load_config(ClassifierConfig, "efficientnet",
                         ["data.image_size=32", "train.epochs=2", "train.batch_size=8", "eval.bootstrap=50",
                          "augment.policy=standard"])
    T.fit(config, data, tmp_path / "full", progress=False)
    original = T.train_one_epoch

    def interrupted(*args, **kwargs):
        if kwargs["desc"].startswith("epoch 2"):
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(T, "train_one_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        T.fit(config, data, tmp_path / "cut", progress=False)
    monkeypatch.setattr(T, "train_one_epoch", original)
    T.fit(config, data, tmp_path / "cut", resume=True, progress=False)
    full = pd.read_csv(tmp_path / "full" / "epochs.csv")
    cut = pd.read_csv(tmp_path / "cut" / "epochs.csv")
    np.testing.assert_allclose(full["val_auc"], cut["val_auc"])
    np.testing.assert_allclose(full["train_loss"], cut["train_loss"], rtol=1e-5)
    a = safe_torch_load(tmp_path / "full" / "checkpoints" / "last.pt")["model"]
    b = safe_torch_load(tmp_path / "cut" / "checkpoints" / "last.pt")["model"]
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)


@pytest.mark.parametrize(("setting", "fragment"), [
    ("model.backbone=resnet50", "efficientnet-lite0"),
    ("data.image_size=96", "no 96-px cache"),
    ("model.freeze_blocks=30", "freeze_blocks=30"),
    ("train.sampler=oversample", "imbalanced"),
    ("augment.policy=heavy", "standard"),
])
def test_user_mistakes_are_one_line_errors(tiny_prepared, tmp_path, setting, fragment):
    result = run_skingan("train-classifier", "--data", tiny_prepared, "--out", tmp_path / "run",
                         "--set", setting, *TINY)
    assert_clean_error(result, fragment)


def test_existing_run_is_not_overwritten(trained_run, tiny_prepared):
    result = run_skingan("train-classifier", "--data", tiny_prepared, "--out", trained_run, *TINY)
    assert_clean_error(result, "already holds a run")


@pytest.mark.slow
def test_ddp_under_torchrun(tiny_prepared, tmp_path):
    """Two CPU processes (gloo): one run folder, a checkpoint saved from the unwrapped model."""
    import os
    import subprocess
    import sys

    data = micro_prepared(tiny_prepared, tmp_path / "micro")
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
               "skingan", "train-classifier", "--data", str(data), "--out", str(out), "--device", "cpu",
               "--set", "data.image_size=32", "--set", "train.epochs=1", "--set", "train.batch_size=8",
               "--set", "eval.bootstrap=50", "--set", "train.sampler=imbalanced"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("results in") == 1  # rank 0 alone reports and writes
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 8 and metrics["epochs_run"] == 1
    state = safe_torch_load(out / "checkpoints" / "last.pt")["model"]
    assert not any(key.startswith("module.") for key in state)


def test_augmentation_policies(tmp_path):
    from skingan.data.transforms import build_transform
    from skingan.errors import UserError

    names = [type(t).__name__ for t in build_transform("standard", 64, seed=0).transforms]
    assert names[-3:] == ["Resize", "CoarseDropout", "Normalize"]  # holes cut at the network's input size
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    plain = build_transform("none", 64)(image=image)["image"]
    np.testing.assert_allclose(plain[..., 0], (image[..., 0] / 255 - 0.485) / 0.229, atol=1e-5)
    policy = tmp_path / "policy.yaml"
    policy.write_text("- HorizontalFlip: {p: 1.0}\n")
    flipped = build_transform(str(policy), 64)(image=image)["image"]
    np.testing.assert_allclose(flipped, plain[:, ::-1], atol=1e-5)
    policy.write_text("- NoSuchTransform: {}\n")
    with pytest.raises(UserError, match="NoSuchTransform"):
        build_transform(str(policy), 64)


def test_bench_script_runs(tmp_path):
    """scripts/bench_classifier.py, tiny: ours and the plain loop in both memory formats, the ratio, evaluation
    and feature-extraction images/s for both backbones."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "bench_classifier.py"
    out = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, str(script), "--size", "32", "--iterations", "1", "--batch", "4",
                             "--repeats", "1", "--eval-images", "4", "--backbones", "efficientnet-lite0,efficientnet-b0",
                             "--feature-images", "2", "--feature-batches", "2", "--json", str(out)],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    table = json.loads(out.read_text())
    for backbone in ("efficientnet-lite0", "efficientnet-b0"):
        for fmt in ("nchw", "channels_last"):
            assert table[f"ours {backbone} {fmt}"]["s_per_iteration"] > 0
            assert table[f"plain {backbone} {fmt}"]["s_per_iteration"] > 0
            assert table[f"eval {backbone} {fmt}"]["images_per_s"] > 0
        ratio = table[f"ratio {backbone}"]
        assert ratio["auto_format"] in ("nchw", "channels_last") and ratio["plain_channels_last_over_ours"] > 0
    assert table["features lite0 channels_last batch 2"]["images_per_s"] > 0
    assert table["ratio features lite0"]["best_over_nchw_batch64"] > 0
    assert "ratio efficientnet-lite0" in result.stdout


def test_the_training_modules_names_stay_importable_from_train():
    """train.py was split by job; `fit` calls each step through train's namespace (tests patch it there)."""
    import inspect

    from skingan.classifier import checkpoints, inference, train_data, train_epoch, train_outputs

    for module in (train_data, train_epoch, inference, checkpoints, train_outputs):
        defined = [name for name, value in vars(module).items() if not name.startswith("_") and (
            (name.isupper() and not inspect.ismodule(value))
            or ((inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ == module.__name__))]
        assert defined
        for name in defined:
            assert getattr(T, name) is getattr(module, name), f"{module.__name__}.{name}"
            assert name in T.__all__, name
