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


# The modern families under torchrun: stylegan2 (ADA draws its randomness for the global batch and all-reduces
# r_t; its per-layer noise inputs are drawn per process, so it cannot equal one process bit for bit) and projected
# (batch norm in G is per process on CPU: SyncBatchNorm needs CUDA) must train on both ranks, keep what is frozen
# frozen, move ADA's p, and resume.
STYLEGAN2 = ["--config", "stylegan2-64", "--set", "model.image_size=32", "model.nz=16", "stylegan2.w_dim=32",
             "stylegan2.channel_base=256", "stylegan2.channel_max=32", "stylegan2.r1_interval=2",
             "stylegan2.ada_interval=1", "stylegan2.ada_kimg=0.1", "stylegan2.ada_p_init=0.5", "data.classes=[benign,malignant]",
             "train.steps=4", "train.batch_size=8", "train.grid_size=4", "train.log_every=1",
             "train.checkpoint_every=2", "--device", "cpu", "--no-progress"]
PROJECTED = ["--config", "projected64", "--set", "model.image_size=32", "model.nz=16", "projected.ngf=4",
             "projected.ndf=8", "projected.ccm_channels=8", "data.classes=[benign,malignant]", "train.steps=4",
             "train.batch_size=8", "train.grid_size=4", "train.checkpoint_every=2", "--device", "cpu",
             "--no-progress"]


def torchrun(*args: str | Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("SKINGAN_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "skingan", "train-gan", *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.slow
@pytest.mark.parametrize("args", [STYLEGAN2, PROJECTED], ids=["stylegan2", "projected"])
def test_modern_family_trains_and_resumes_under_ddp(args: list[str], tiny_prepared: Path, tmp_path: Path) -> None:
    from skingan.gan.projected_nets import FROZEN

    first = torchrun("--data", tiny_prepared, "--out", tmp_path / "run", *args, "--set", "train.steps=2")
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout.count("reached step 2") == 1  # only rank 0 reports
    start = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    second = torchrun("--data", tiny_prepared, "--out", tmp_path / "run", *args, "--resume")
    assert second.returncode == 0, second.stderr[-3000:]
    end = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert start["step"] == 2 and end["step"] == 4 and end["config"]["train"]["steps"] == 4
    assert not any(key.startswith(FROZEN) for key in end["D"])  # a frozen net is never saved or trained
    for part in ("G", "D", "G_ema"):
        assert all(torch.isfinite(v.float()).all() for v in end[part].values()), part
        moved = max((end[part][k].float() - start[part][k].float()).abs().max().item() for k in start[part]
                    if start[part][k].is_floating_point())
        assert moved > 0, part
    if args is STYLEGAN2:  # ADA moved p (from 0.5) on the all-reduced r_t, and the resumed run carried it on
        assert start["augment_state"]["p"] != 0.5 and end["augment_state"]["p"] != start["augment_state"]["p"]
        assert end["augment_state"]["updates"] > start["augment_state"]["updates"] > 0
