"""DDP under torchrun: 2 CPU processes on gloo give the same weights as one process with the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import run_skingan
from skingan.config import load_config
from skingan.gan.config import GANConfig
from skingan.gan.train import build_generator, load_checkpoint

ARGS = ["--config", "gan-tiny32", "--set", "train.steps=3", "--set", "train.batch_size=8",
        "--set", "model.g_norm=none", "--set", "train.checkpoint_every=2", "--device", "cpu", "--no-progress"]


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tiny_prepared: Path, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("SKINGAN_DEBUG", None)
    ddp = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "skingan", "train-gan", "--data", str(tiny_prepared), "--out", str(tmp_path / "ddp"), *ARGS],
        env=env, capture_output=True, text=True, timeout=600, check=False)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert ddp.stdout.count("reached step 3") == 1  # only rank 0 reports
    single = run_skingan("train-gan", "--data", tiny_prepared, "--out", tmp_path / "single", *ARGS,
                         env={"OMP_NUM_THREADS": "1"})
    assert single.returncode == 0, single.stderr
    a = load_checkpoint(tmp_path / "ddp" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "single" / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 3
    for part in ("G", "D", "G_ema"):
        for key, value in a[part].items():
            assert torch.allclose(value.float(), b[part][key].float(), rtol=1e-4, atol=1e-5), f"{part}.{key}"
    # the runs really trained: weights moved from their initial values by far more than the tolerance
    torch.manual_seed(0)
    initial = build_generator(load_config(GANConfig, "gan-tiny32", ["model.g_norm=none"])).state_dict()
    moved = max((a["G"][k] - initial[k]).abs().max().item() for k in initial)
    assert moved > 3e-4
    assert (tmp_path / "ddp" / "metrics.csv").is_file() and (tmp_path / "ddp" / "samples").is_dir()


@pytest.mark.slow
def test_ddp_resume_continues(tiny_prepared: Path, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "skingan",
            "train-gan", "--data", str(tiny_prepared), "--out", str(tmp_path / "run"), *ARGS]
    first = subprocess.run([*base, "--set", "train.steps=2"], env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    second = subprocess.run([*base, "--resume"], env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["step"] == 3
