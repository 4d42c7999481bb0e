"""One training loop for every GAN family: run folder, resume, the step loop, logging, checkpoints, time limit.

Read top to bottom: `prepare_run` validates everything before anything is written, `train` builds the state
(through the family registry: the loop knows no family), runs `train_step` until `train.steps` or
`train.max_minutes`, and `log_and_save` writes metrics rows, checkpoints and sample grids on schedule.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from skingan.config import config_hash
from skingan.data.prepared import open_prepared
from skingan.distributed import Dist, barrier, init_distributed
from skingan.errors import TrainingStopped, UserError
from skingan.gan import run_folder
from skingan.gan.checkpoint import (
    check_resume_compatible,
    load_checkpoint,
    restore_or_refuse,
    save_checkpoint,
)
from skingan.gan.data import BatchSource, TrainingData, load_training_data
from skingan.gan.images import fixed_noise_grid, save_png
from skingan.gan.plots import plot_loss_curves
from skingan.gan.registry import build_discriminator, build_generator
from skingan.gan.run_folder import MetricsLog
from skingan.gan.state import GANState, build_state
from skingan.gan.steps import train_step
from skingan.interrupts import stop_after_step
from skingan.tracking import Tracker, gan_tags, open_tracker

log = logging.getLogger("skingan")

__all__ = ["TrainResult", "TrainingStopped", "build_discriminator", "build_generator", "load_checkpoint", "train"]


@dataclass
class TrainResult:
    out: Path
    step: int
    checkpoint: Path
    images_per_s: float
    load_share: float
    seconds: float
    stopped_by: str = "steps"  # or "max_minutes"


def prepare_run(config: Any, data: str | Path, out: Path, seed: int, device: torch.device,
                resume: bool, d: Dist) -> tuple[TrainingData, dict | None]:
    """Validate everything on every rank before rank 0 writes anything."""
    ckpt_path = run_folder.last_checkpoint(out)
    ckpt = None
    prepared = open_prepared(data)
    if resume:
        if not ckpt_path.is_file():
            raise UserError(f"--resume: no checkpoint at '{ckpt_path}'; start without --resume")
        ckpt = load_checkpoint(ckpt_path)
        check_resume_compatible(config, ckpt, prepared, ckpt_path)
    elif run_folder.holds_run(out):
        raise UserError(f"'{out}' already holds a run; pass --resume to continue it, or choose another --out")
    training = load_training_data(prepared, config)
    if config.train.batch_size % d.world:
        raise UserError(f"train.batch_size={config.train.batch_size} must be divisible by the "
                        f"{d.world} processes")
    if len(training.images) < config.train.batch_size:  # before the run folder exists
        raise UserError(f"only {len(training.images)} training images for a global batch of "
                        f"{config.train.batch_size}; lower train.batch_size")
    barrier(d)  # every rank has checked the folder before rank 0 writes to it
    if d.main:
        from skingan.runs import init_run_dir

        init_run_dir(out, config=config, seed=seed, device=str(device), resume=resume,
                     extra={"prepared": str(training.prepared.root), "prepared_hash": training.prepared.hash,
                            "world_size": d.world, "config_hash": config_hash(config)})
    barrier(d)
    return training, ckpt


def sample_grid(state: GANState, seed: int) -> Any:
    """The fixed-noise grid (rows per class when conditional), from the EMA generator when there is one."""
    config = state.config
    return fixed_noise_grid(state.G_ema if state.G_ema is not None else state.G, n=config.train.grid_size,
                            nz=config.model.nz, n_classes=len(config.data.classes) if config.conditional else 0,
                            seed=seed, device=state.device)


def save_grid(state: GANState, seed: int, out: Path, step: int, tracker: Tracker | None) -> None:
    """samples/step_XXXXXXX.png, and the same grid in TensorBoard."""
    grid = sample_grid(state, seed)
    save_png(grid, run_folder.grid_path(out, step))
    if tracker is not None:
        tracker.image("samples/fixed_noise", grid, step)


def time_is_up(started: float, max_minutes: float, d: Dist, device: torch.device) -> bool:
    """Rank 0's clock decides for every rank, so all processes stop after the same step."""
    if max_minutes <= 0:
        return False
    up = torch.tensor([float(time.perf_counter() - started >= max_minutes * 60.0)], device=device)
    if d.enabled:
        import torch.distributed as dist

        dist.broadcast(up, src=0)
    return bool(up.item())


def train(config: Any, data: str | Path, out: str | Path, *, seed: int = 0, device: str = "cpu",
          resume: bool = False, progress: bool = True) -> TrainResult:
    """Train (or resume) a GAN into the run folder `out`; returns where things are and the throughput."""
    from tqdm import tqdm

    out = Path(out)
    d = init_distributed(device)
    if not d.main:
        log.setLevel(logging.WARNING)
    dev = torch.device(f"cuda:{d.local_rank}" if device == "cuda" else device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
        torch.backends.cudnn.benchmark = True
    training, ckpt = prepare_run(config, data, out, seed, dev, resume, d)
    state = build_state(config, seed, dev, d)
    ckpt_path = run_folder.last_checkpoint(out)
    if ckpt is not None:
        restore_or_refuse(state, ckpt, ckpt_path)
        log.info("resumed %s at step %d", out, state.step)
    batches = BatchSource(training, config.train.batch_size // d.world, seed, d, dev, state.precision.channels_last)
    log.info("train-gan: %s %dpx on %d training images (%s), %d steps of batch %d, %s process(es) on %s",
             config.model.arch, config.model.image_size, len(training.images), ", ".join(config.data.classes),
             config.train.steps, config.train.batch_size, d.world, dev)
    metrics = MetricsLog(out / run_folder.METRICS_CSV, state.step if resume else None) if d.main else None
    tracker = open_tracker(out, main=d.main, resume_step=state.step if resume else None)
    bar = tqdm(total=config.train.steps, initial=state.step, desc="train-gan", unit="step",
               disable=not (progress and d.main), dynamic_ncols=True)
    start_step, start = state.step, time.perf_counter()
    window = (state.step, start)
    stopped_by = "steps"
    try:
        with stop_after_step(enabled=not d.enabled) as stop:
            while state.step < config.train.steps:
                scalars = train_step(state, batches)
                bar.update(1)
                out_of_time = time_is_up(start, config.train.max_minutes, d, dev)
                window = log_and_save(state, scalars, metrics, bar, window, training, ckpt_path, seed, out,
                                      force_log=out_of_time, tracker=tracker)
                if stop.requested:
                    save_checkpoint(ckpt_path, state, training.prepared)
                    log.warning("saved %s at step %d", ckpt_path, state.step)
                    raise KeyboardInterrupt
                if out_of_time and state.step < config.train.steps:
                    stopped_by = "max_minutes"
                    log.info("train.max_minutes=%g reached at step %d; continue with --resume",
                             config.train.max_minutes, state.step)
                    break
        seconds = time.perf_counter() - start
        if state.step > start_step or not ckpt_path.exists():
            if d.main:
                save_checkpoint(ckpt_path, state, training.prepared)
                save_grid(state, seed, out, state.step, tracker)
            barrier(d)
    finally:
        bar.close()
        tracker.close()
        if d.main:
            plot_loss_curves(out / run_folder.METRICS_CSV, out / run_folder.LOSS_CURVES)
    images = (state.step - start_step) * config.train.batch_size * config.train.n_critic
    return TrainResult(out=out, step=state.step, checkpoint=ckpt_path,
                       images_per_s=images / seconds if seconds > 0 else 0.0,
                       load_share=batches.load_seconds / seconds if seconds > 0 else 0.0, seconds=seconds,
                       stopped_by=stopped_by)


def log_and_save(state: GANState, scalars: dict[str, torch.Tensor], metrics: MetricsLog | None, bar: Any,
                 window: tuple[int, float], training: TrainingData, ckpt_path: Path, seed: int,
                 out: Path, force_log: bool = False, tracker: Tracker | None = None) -> tuple[int, float]:
    t, step = state.config.train, state.step
    if step % t.log_every == 0 or step == t.steps or force_log:
        now = time.perf_counter()
        rate = (step - window[0]) * t.batch_size * t.n_critic / max(now - window[1], 1e-9)
        row = {"step": step, **{k: float(v) for k, v in scalars.items()}, **state.augment.scalars(),
               "images_per_s": rate}
        if metrics is not None:
            metrics.write(row)
            if tracker is not None:
                tracker.scalars(gan_tags(row, {"lr_g": state.opt_G.param_groups[0]["lr"],
                                               "lr_d": state.opt_D.param_groups[0]["lr"]}), step)
            bar.set_postfix(loss_d=f"{row['loss_d']:.3f}", loss_g=f"{row['loss_g']:.3f}", img_s=f"{rate:.0f}")
        window = (step, now)
    if step % t.checkpoint_every == 0 and step < t.steps:
        if state.dist.main:
            save_checkpoint(ckpt_path, state, training.prepared)
        barrier(state.dist)
    if step % t.sample_every == 0 and step < t.steps and state.dist.main:
        save_grid(state, seed, out, step, tracker)
    return window
