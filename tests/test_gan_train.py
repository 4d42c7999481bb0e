"""train-gan: every config takes a real optimisation step; resume is exact; NaN stops cleanly; user errors."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import pytest
import torch

from conftest import assert_clean_error, make_prepared_set, run_skingan
from skingan.config import load_config
from skingan.errors import UserError
from skingan.gan.config import GANConfig
from skingan.gan.train import TrainingStopped, load_checkpoint, train

CONFIGS = [f"{arch}{size}{suffix}" for size in (64, 128) for arch in ("dcgan", "wgan", "acgan", "sngan")
           for suffix in ("", "-seed")]
CHECKPOINT_KEYS = {"G", "D", "G_ema", "opt_G", "opt_D", "scaler", "step", "rng", "augment_state", "config",
                   "prepared_hash", "train_split", "classes", "arch", "image_size", "nz", "skingan_version"}

ACGAN_TINY = ["data.classes=[benign,malignant]", "model.arch=acgan", "model.d_norm=batch", "model.d_dropout=0.25",
              "train.loss=bce", "train.label_smoothing=0.1", "train.fake_label=0.1"]
WGAN_TINY = ["train.loss=wasserstein", "model.arch=wgan", "model.spectral_norm=false", "train.n_critic=2"]


def run_config(name: str, data: Path, out: Path, *overrides: str, resume: bool = False, seed: int = 0):
    config = load_config(GANConfig, name, list(overrides))
    return train(config, data, out, seed=seed, device="cpu", resume=resume, progress=False)


def read_metrics(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if "128" in n else n for n in CONFIGS])
def test_every_config_takes_one_real_step(name: str, tiny_prepared: Path, tmp_path: Path) -> None:
    batch = 2 if "128" in name else 4
    result = run_config(name, tiny_prepared, tmp_path / name, "train.steps=1", f"train.batch_size={batch}",
                        "train.grid_size=4")
    assert result.step == 1
    ckpt = load_checkpoint(tmp_path / name / "checkpoints" / "last.pt")
    assert set(ckpt) >= CHECKPOINT_KEYS
    assert ckpt["step"] == 1 and ckpt["train_split"] == "train" and ckpt["image_size"] == int(re.search(r"\d+", name).group())
    assert ckpt["prepared_hash"] == (tiny_prepared / "prepare.json").read_text().split('"hash": "')[1][:64]
    rows = read_metrics(tmp_path / name / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [1]
    assert all(math.isfinite(float(rows[0][k])) for k in ("loss_d", "loss_g", "d_real", "d_fake"))
    # the step changed the generator: its weights differ from a fresh build with the same seed
    config = load_config(GANConfig, name)
    from skingan.gan.train import build_generator
    torch.manual_seed(0)
    fresh = build_generator(config).state_dict()
    assert any(not torch.equal(fresh[k], ckpt["G"][k]) for k in fresh if fresh[k].is_floating_point())
    assert (tmp_path / name / "samples" / "step_0000001.png").is_file()
    assert (tmp_path / name / "loss_curves.png").is_file()


@pytest.mark.parametrize("variant", [[], ACGAN_TINY, WGAN_TINY], ids=["sngan-diffaugment", "acgan-dropout", "wgan-gp"])
def test_resume_is_exact(variant: list[str], tiny_prepared: Path, tmp_path: Path) -> None:
    common = ["train.checkpoint_every=2", "train.batch_size=8", *variant]
    run_config("gan-tiny32", tiny_prepared, tmp_path / "straight", "train.steps=4", *common)
    run_config("gan-tiny32", tiny_prepared, tmp_path / "split", "train.steps=2", *common)
    run_config("gan-tiny32", tiny_prepared, tmp_path / "split", "train.steps=4", *common, resume=True)
    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 4
    for part in ("G", "D", "G_ema"):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), f"{part}.{key} differs after resume"
    assert torch.equal(a["augment_state"]["generator"], b["augment_state"]["generator"])
    losses = [[r["loss_d"], r["loss_g"]] for r in read_metrics(tmp_path / "straight" / "metrics.csv")]
    assert losses == [[r["loss_d"], r["loss_g"]] for r in read_metrics(tmp_path / "split" / "metrics.csv")]


def test_resume_refuses_a_different_model_or_data(tiny_prepared: Path, tmp_path: Path) -> None:
    run_config("gan-tiny32", tiny_prepared, tmp_path / "run", "train.steps=1")
    with pytest.raises(UserError, match="model.nz"):
        run_config("gan-tiny32", tiny_prepared, tmp_path / "run", "train.steps=2", "model.nz=32", resume=True)
    with pytest.raises(UserError, match="already holds a run"):
        run_config("gan-tiny32", tiny_prepared, tmp_path / "run", "train.steps=2")


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_prepared: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from skingan.gan.losses import HingeLoss

    calls = {"n": 0}
    original = HingeLoss.g_adversarial

    def poisoned(self, fake):
        calls["n"] += 1
        loss = original(self, fake)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setattr(HingeLoss, "g_adversarial", poisoned)
    with pytest.raises(TrainingStopped, match="step 3: loss_g is nan"):
        run_config("gan-tiny32", tiny_prepared, tmp_path / "run", "train.steps=5", "train.checkpoint_every=1")
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert ckpt["step"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt["G"].values() if v.is_floating_point())


def test_cli_huge_learning_rate_stops_non_zero_with_a_clear_message(tiny_prepared: Path, tmp_path: Path) -> None:
    out = tmp_path / "nan"
    result = run_skingan("train-gan", "--config", "gan-tiny32", "--data", tiny_prepared, "--out", out,
                         "--set", "train.steps=6", "--set", "train.checkpoint_every=1", "--set", "train.lr_g=1e38",
                         "--set", "train.loss=wasserstein", "--set", "model.arch=wgan",
                         "--set", "model.spectral_norm=false", "--no-progress")
    assert_clean_error(result, "not finite", "last good checkpoint")
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
    assert 1 <= ckpt["step"] < 6
    assert all(torch.isfinite(v).all() for v in ckpt["D"].values() if v.is_floating_point())


def test_cli_trains_resumes_and_says_where_results_are(tiny_prepared: Path, tmp_path: Path) -> None:
    out = tmp_path / "sngan64"
    base = ["train-gan", "--config", "sngan64", "--data", tiny_prepared, "--out", out,
            "--set", "train.batch_size=4", "--set", "train.grid_size=4"]
    result = run_skingan(*base, "--set", "train.steps=1", "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert f"checkpoint {out / 'checkpoints' / 'last.pt'}" in result.stdout
    for name in ("config.yaml", "environment.json", "log.txt", "metrics.csv", "loss_curves.png",
                 "samples/step_0000001.png", "checkpoints/last.pt"):
        assert (out / name).is_file(), name
    resumed = run_skingan(*base, "--set", "train.steps=2", "--seed", "3", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "reached step 2" in resumed.stdout
    assert [int(r["step"]) for r in read_metrics(out / "metrics.csv")] == [1, 2]
    assert (out / "samples" / "step_0000002.png").is_file()
    dry = run_skingan("train-gan", "--config", "sngan128", "--data", tiny_prepared, "--out", tmp_path / "dry",
                      "--dry-run", "--set", "train.steps=7")
    assert dry.returncode == 0 and "steps: 7" in dry.stdout and not (tmp_path / "dry").exists()


@pytest.mark.slow
def test_bench_script_runs_side_by_side(tiny_prepared: Path, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "scripts" / "bench_gan.py"
    result = subprocess.run([sys.executable, str(script), "--data", str(tiny_prepared), "--steps", "1",
                             "--warmup", "1", "--batch", "4", "--repeats", "1", "--json", str(tmp_path / "b.json")],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    table = json.loads((tmp_path / "b.json").read_text())
    assert table["dcgan64-seed fp32"]["images_per_s"] > 0 and table["plain-pytorch dcgan64 fp32"]["images_per_s"] > 0
    assert 0 <= table["dcgan64-seed fp32"]["load_share"] < 1
    assert "ours / plain" in result.stdout


@pytest.fixture(scope="module")
def small_sets(isic2017: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two small real sets: one with only a 32-px cache, one without malignant training images."""
    import pandas as pd
    from PIL import Image

    labels = pd.read_csv(isic2017 / "labels.csv")
    benign = labels[labels["target"] == 0].head(8)
    images = [Image.open(isic2017 / p).convert("RGB") for p in benign["image"]]
    root = tmp_path_factory.mktemp("small_sets")
    only32 = make_prepared_set(root / "only32", images, [0] * 4 + [1] * 4, ["train"] * 8, sizes=(32,))
    no_mal = make_prepared_set(root / "benign_only", images, [0] * 8, ["train"] * 6 + ["val"] * 2, sizes=(32,))
    return {"only32": only32, "benign_only": no_mal, "empty": root}


@pytest.mark.parametrize("args, fragments", [
    (["--set", "model.foo=1"], ["unknown key 'foo'", "accepted"]),
    (["--set", "train.loss=lsgan"], ["train.loss", "hinge"]),
    (["--set", "data.split=val"], ["data.split", "only train on the 'train' split"]),
    (["--set", "model.image_size=64", "--data", "{only32}"], ["no 64-px cache", "it has: 32"]),
    (["--data", "{empty}"], ["is not a prepared set"]),
    (["--data", "{benign_only}"], ["no training images of class 'malignant'"]),
    (["--set", "train.label_smoothing=0.9"], ["train.label_smoothing", "<= 0.5"]),
    (["--config", "acgan64", "--set", "data.classes=[malignant]"], ["acgan", "both classes"]),
], ids=["bad-key", "bad-loss", "split-val", "no-cache", "not-prepared", "no-malignant", "smoothing", "acgan-1-class"])
def test_cli_user_errors_are_clean(args: list[str], fragments: list[str], small_sets: dict[str, Path],
                                   tmp_path: Path) -> None:
    args = [a.format(**small_sets) for a in args]
    base = ["--config", "gan-tiny32", "--data", str(small_sets["only32"])]
    merged = base + args  # later --config/--data win in argparse
    result = run_skingan("train-gan", *merged, "--out", tmp_path / "out")
    assert_clean_error(result, *fragments)
