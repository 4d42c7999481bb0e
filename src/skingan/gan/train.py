"""One training loop for every GAN: data, models, EMA, AMP, DDP, checkpoints, exact resume.

Read top to bottom: `build_*` make the pieces, `train_step` does one generator update (after `n_critic`
discriminator updates), `save_checkpoint`/`restore_state` make resume exact, and `train` runs the loop.
Models and losses know nothing of the loop; the loop knows no architecture.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from skingan import __version__
from skingan.config import config_hash, to_dict
from skingan.data.prepared import PreparedSet, open_prepared
from skingan.distributed import Dist, barrier, init_distributed
from skingan.errors import UserError, one_line
from skingan.gan.augment import DiffAugment
from skingan.gan.config import GANConfig
from skingan.gan.ema import build_ema, update_ema
from skingan.gan.losses import GANLoss, build_loss
from skingan.gan.nets import Discriminator, Generator
from skingan.interrupts import stop_after_step
from skingan.runs import atomic_torch_save, safe_torch_load

log = logging.getLogger("skingan")

# Schedule and bookkeeping keys that may change when a run is resumed (e.g. to train longer).
RESUMABLE_CHANGES = {"steps", "checkpoint_every", "sample_every", "log_every", "collapse_patience", "compile"}
GRID_SEED_OFFSET = 0x5EED
CHECKPOINT_KEYS = ("G", "D", "G_ema", "opt_G", "opt_D", "scaler", "step", "rng", "augment_state", "config",
                   "prepared_hash", "train_split", "classes", "arch", "image_size", "nz")


class TrainingStopped(UserError):
    """Non-finite or collapsed losses: the run stops and keeps its last good checkpoint."""


# ------------------------------------------------------------------------------------------------------- data
@dataclass
class TrainingData:
    images: torch.Tensor          # uint8 (N, S, S, 3), the training split of the chosen classes
    labels: torch.Tensor          # int64 (N,), position in config.data.classes
    prepared: PreparedSet


def load_training_data(prepared: PreparedSet, config: GANConfig) -> TrainingData:
    """The prepared set's uint8 cache at the model's size, training split, chosen classes only."""
    size = config.model.image_size
    cache = prepared.images(size)
    rows, labels = [], []
    for position, name in enumerate(config.data.classes):
        found = prepared.indices(split="train", classes=[name])
        if len(found) == 0:
            raise UserError(f"prepared set '{prepared.root}' has no training images of class '{name}' "
                            f"(data.classes={config.data.classes}); counts: {prepared.counts()['train']}")
        rows.append(found)
        labels.append(np.full(len(found), position, dtype=np.int64))
    order = np.concatenate(rows)
    sort = np.argsort(order, kind="stable")
    images = torch.from_numpy(np.ascontiguousarray(cache[order[sort]]))
    return TrainingData(images=images, labels=torch.from_numpy(np.concatenate(labels)[sort]), prepared=prepared)


class BatchSource:
    """Real batches by global batch number, through a DistributedSampler (one replica without DDP).

    Batch k of a run is a pure function of (seed, k), so resuming needs no sampler state. Under DDP,
    rank r takes every world-th index of the shuffled epoch, so the union of the ranks' k-th batches is
    the single-process k-th batch.
    """

    def __init__(self, data: TrainingData, local_batch: int, seed: int, d: Dist, device: torch.device,
                 channels_last: bool = False) -> None:
        from torch.utils.data.distributed import DistributedSampler

        self.data, self.local_batch, self.device, self.channels_last = data, local_batch, device, channels_last
        self.sampler = DistributedSampler(range(len(data.images)), num_replicas=d.world, rank=d.rank,
                                          shuffle=True, seed=seed, drop_last=True)
        self.per_epoch = len(self.sampler) // local_batch
        if self.per_epoch == 0:
            raise UserError(f"only {len(data.images)} training images for a global batch of "
                            f"{local_batch * d.world}; lower train.batch_size")
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.int64)
        self.load_seconds = 0.0

    def get(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        start = time.perf_counter()
        epoch, position = divmod(k, self.per_epoch)
        if epoch != self._epoch:
            self.sampler.set_epoch(epoch)
            self._order, self._epoch = torch.tensor(list(self.sampler), dtype=torch.int64), epoch
        idx = self._order[position * self.local_batch:(position + 1) * self.local_batch]
        x = self.data.images[idx].to(self.device, non_blocking=True).permute(0, 3, 1, 2)
        x = x.float().div_(127.5).sub_(1.0)
        x = x.contiguous(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
        y = self.data.labels[idx].to(self.device, non_blocking=True)
        self.load_seconds += time.perf_counter() - start
        return x, y


# ----------------------------------------------------------------------------------------------------- models
def build_generator(config: GANConfig) -> Generator:
    m = config.model
    return Generator(nz=m.nz, ngf=m.ngf, image_size=m.image_size,
                     n_classes=len(config.data.classes) if m.conditional else 0, upsample=m.g_upsample,
                     norm=m.g_norm)


def build_discriminator(config: GANConfig) -> Discriminator:
    m = config.model
    return Discriminator(ndf=m.ndf, image_size=m.image_size,
                         n_classes=len(config.data.classes) if m.conditional else 0,
                         norm=m.d_norm, sn=m.spectral_norm, dropout=m.d_dropout)


def build_optimizers(config: GANConfig, G: nn.Module, D: nn.Module) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    t = config.train
    return (torch.optim.Adam(G.parameters(), lr=t.lr_g, betas=tuple(t.betas)),
            torch.optim.Adam(D.parameters(), lr=t.lr_d, betas=tuple(t.betas)))


def build_gan_loss(config: GANConfig) -> GANLoss:
    t = config.train
    return build_loss(t.loss, label_smoothing=t.label_smoothing, fake_label=t.fake_label,
                      gp_lambda=t.gp_lambda, aux_weight=t.aux_weight, conditional=config.model.conditional)


@dataclass
class Precision:
    enabled: bool
    dtype: torch.dtype
    device_type: str

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(device_type=self.device_type, dtype=self.dtype, enabled=self.enabled)


def build_precision(config: GANConfig, device: torch.device) -> tuple[Precision, torch.amp.GradScaler]:
    """One precision path: autocast and GradScaler are no-ops when AMP is off (always on CPU)."""
    t = config.train
    enabled = t.amp and device.type == "cuda"
    if t.amp and not enabled:
        log.info("train.amp ignored: mixed precision is used on CUDA only (device %s)", device)
    dtype = torch.bfloat16 if t.amp_dtype == "bf16" else torch.float16
    if enabled and dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        log.info("bf16 is not supported on this GPU; using fp16 with a gradient scaler")
        dtype = torch.float16
    scaler = torch.amp.GradScaler(device.type, enabled=enabled and dtype == torch.float16)
    return Precision(enabled, dtype, device.type), scaler


@dataclass
class GANState:
    """Everything a step touches. G/D are the plain modules (checkpointed); G_run/D_run may be DDP/compiled."""

    config: GANConfig
    G: Generator
    D: Discriminator
    G_ema: nn.Module | None
    G_run: nn.Module
    D_run: nn.Module
    opt_G: torch.optim.Adam
    opt_D: torch.optim.Adam
    scaler: torch.amp.GradScaler
    precision: Precision
    loss: GANLoss
    augment: DiffAugment
    noise: torch.Generator
    dist: Dist
    device: torch.device
    step: int = 0
    collapsed_steps: int = 0


def build_state(config: GANConfig, seed: int, device: torch.device, d: Dist) -> GANState:
    torch.manual_seed(seed)
    G, D = build_generator(config).to(device), build_discriminator(config).to(device)
    G_ema = build_ema(G) if config.train.ema else None
    memory = torch.channels_last if config.train.channels_last else torch.preserve_format
    G, D = G.to(memory_format=memory), D.to(memory_format=memory)
    if G_ema is not None:
        G_ema = G_ema.to(memory_format=memory)
    opt_G, opt_D = build_optimizers(config, G, D)
    precision, scaler = build_precision(config, device)
    G_run, D_run = wrap_for_training(G, D, config, device, d)
    return GANState(
        config=config, G=G, D=D, G_ema=G_ema, G_run=G_run, D_run=D_run, opt_G=opt_G, opt_D=opt_D,
        scaler=scaler, precision=precision, loss=build_gan_loss(config),
        augment=DiffAugment(config.train.diffaugment, seed=seed + 1, rank=d.rank, world=d.world),
        noise=torch.Generator().manual_seed(seed + 2), dist=d, device=device,
    )


def wrap_for_training(G: nn.Module, D: nn.Module, config: GANConfig, device: torch.device,
                      d: Dist) -> tuple[nn.Module, nn.Module]:
    """DDP (with synchronised batch norm) under torchrun; torch.compile on CUDA when asked."""
    G_run, D_run = G, D
    if d.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        if device.type == "cuda":
            G, D = nn.SyncBatchNorm.convert_sync_batchnorm(G), nn.SyncBatchNorm.convert_sync_batchnorm(D)
        elif any(isinstance(m, nn.BatchNorm2d) for m in [*G.modules(), *D.modules()]):
            log.info("DDP on CPU: batch-norm statistics are per process (SyncBatchNorm needs CUDA)")
        ids = [device.index] if device.type == "cuda" else None
        G_run, D_run = DDP(G, device_ids=ids), DDP(D, device_ids=ids)
    if config.train.compile:
        if device.type == "cuda":
            G_run, D_run = torch.compile(G_run), torch.compile(D_run)
        else:
            log.info("train.compile ignored on %s (used on CUDA only)", device)
    return G_run, D_run


# ------------------------------------------------------------------------------------------------------ steps
def sample_noise(state: GANState, local_batch: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Latents (and fake class labels) for the global batch, drawn identically on every rank; each rank
    keeps its strided share, matching the DistributedSampler's split of the real batch."""
    d, nz = state.dist, state.config.model.nz
    z = torch.randn(local_batch * d.world, nz, generator=state.noise)[d.rank::d.world]
    y = None
    if state.config.model.conditional:
        k = len(state.config.data.classes)
        y = torch.randint(0, k, (local_batch * d.world,), generator=state.noise)[d.rank::d.world].to(state.device)
    return z.to(state.device), y


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def d_step(state: GANState, real: torch.Tensor, y_real: torch.Tensor, keep_fake: bool,
           losses: list[tuple[str, torch.Tensor]]) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor | None]:
    """One discriminator update. With `keep_fake` the fakes keep their graph to G, so the generator step
    reuses them (one G forward per step, as the DCGAN reference loop) instead of generating again. The loss is
    appended to `losses`, checked once per step (a check per loss would wait for the GPU each time)."""
    z, y_fake = sample_noise(state, real.shape[0])
    with contextlib.nullcontext() if keep_fake else torch.no_grad(), state.precision.autocast():
        fake = (state.G_run if keep_fake else state.G)(z, y_fake)
    with state.precision.autocast():
        loss, scalars = state.loss.d_loss(lambda x: state.D_run(state.augment(x)), real, fake.detach(),
                                          y_real, y_fake)
    losses.append(("loss_d", loss.detach()))
    state.opt_D.zero_grad(set_to_none=True)
    state.scaler.scale(loss).backward()
    state.scaler.step(state.opt_D)
    state.scaler.update()
    return scalars, fake, y_fake


def g_step(state: GANState, fake: torch.Tensor, y_fake: torch.Tensor | None,
           losses: list[tuple[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """One generator update through the (just updated) discriminator, on fakes that carry G's graph."""
    set_requires_grad(state.D, False)
    try:
        with state.precision.autocast():
            # D unwrapped: its weights need no gradient, so DDP must not wait for one.
            loss, scalars = state.loss.g_loss(lambda x: state.D(state.augment(x)), fake, y_fake)
        losses.append(("loss_g", loss.detach()))
        state.opt_G.zero_grad(set_to_none=True)
        state.scaler.scale(loss).backward()
        state.scaler.step(state.opt_G)
        state.scaler.update()
    finally:
        set_requires_grad(state.D, True)
    scalars["fake_std"] = fake.detach().float().std(dim=0).mean()
    return scalars


def train_step(state: GANState, batches: BatchSource) -> dict[str, torch.Tensor]:
    """`n_critic` discriminator updates, one generator update, one EMA update; returns detached scalars."""
    t = state.config.train
    losses: list[tuple[str, torch.Tensor]] = []
    for i in range(t.n_critic):
        real, y_real = batches.get(state.step * t.n_critic + i)
        scalars, fake, y_fake = d_step(state, real, y_real, i == t.n_critic - 1, losses)
    scalars.update(g_step(state, fake, y_fake, losses))
    check_finite(state, losses)
    state.step += 1
    if state.G_ema is not None:
        update_ema(state.G_ema, state.G, state.step, t.ema_decay)
    check_collapse(state, scalars)
    return scalars


def check_finite(state: GANState, losses: list[tuple[str, torch.Tensor]]) -> None:
    """One wait for the device per step; on failure, name the first loss that is not finite."""
    if bool(torch.isfinite(torch.stack([loss.float() for _, loss in losses])).all()):
        return
    name, loss = next((name, loss) for name, loss in losses if not bool(torch.isfinite(loss)))
    raise TrainingStopped(
        f"step {state.step + 1}: {name} is {loss.float().item()} (not finite); training stopped. "
        f"The last good checkpoint is kept; lower train.lr_d/train.lr_g or enable spectral norm")


def check_collapse(state: GANState, scalars: dict[str, torch.Tensor]) -> None:
    """A discriminator at zero loss or a generator emitting one image, for collapse_patience steps in a row."""
    patience = state.config.train.collapse_patience
    if not patience:
        return
    d_zero = state.config.train.loss != "wasserstein" and float(scalars["loss_d"]) < 1e-6
    g_same = float(scalars["fake_std"]) < 1e-4
    state.collapsed_steps = state.collapsed_steps + 1 if (d_zero or g_same) else 0
    if state.collapsed_steps >= patience:
        what = "the discriminator loss is ~0" if d_zero else "the generator emits one image for every z"
        raise TrainingStopped(
            f"step {state.step}: training collapsed ({what} for {patience} steps); stopped. The last good "
            f"checkpoint is kept; try DiffAugment, spectral norm or a lower train.lr_d")


# ------------------------------------------------------------------------------------------------ checkpoints
def rng_state() -> dict[str, Any]:
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(internal), gauss],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_dict(state: GANState, prepared: PreparedSet) -> dict[str, Any]:
    config = state.config
    return {
        "G": state.G.state_dict(),
        "D": state.D.state_dict(),
        "G_ema": state.G_ema.state_dict() if state.G_ema is not None else None,
        "opt_G": state.opt_G.state_dict(),
        "opt_D": state.opt_D.state_dict(),
        "scaler": state.scaler.state_dict(),
        "step": state.step,
        "rng": {**rng_state(), "noise": state.noise.get_state()},
        "augment_state": state.augment.state_dict(),
        "config": to_dict(config),
        "prepared_hash": prepared.hash,
        "train_split": config.data.split,
        "classes": list(config.data.classes),
        "arch": config.model.arch,
        "image_size": config.model.image_size,
        "nz": config.model.nz,
        "skingan_version": __version__,
    }


def weights_finite(state: GANState) -> bool:
    modules = [state.G, state.D] + ([state.G_ema] if state.G_ema is not None else [])
    return all(bool(torch.isfinite(p).all()) for m in modules for p in m.parameters())


def save_checkpoint(path: Path, state: GANState, prepared: PreparedSet) -> None:
    """Atomically write the checkpoint; refuse (keeping the previous one) if any weight is not finite."""
    if not weights_finite(state):
        raise TrainingStopped(f"step {state.step}: weights are not finite; training stopped and the last "
                              f"good checkpoint '{path}' is kept")
    atomic_torch_save(checkpoint_dict(state, prepared), path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    ckpt = safe_torch_load(path)
    if not isinstance(ckpt, dict) or not {"G", "D", "step", "config"} <= set(ckpt):
        raise UserError(f"'{path}' is not a skingan GAN checkpoint (keys G, D, step, config missing)")
    missing = [key for key in CHECKPOINT_KEYS if key not in ckpt]
    if missing or not isinstance(ckpt["config"], dict):
        raise UserError(f"'{path}' is not a complete skingan GAN checkpoint "
                        f"(missing {', '.join(missing) or 'a config mapping'})")
    return ckpt


def restore_or_refuse(state: GANState, ckpt: dict[str, Any], path: Path) -> None:
    """restore_state; a checkpoint whose tensors do not fit the models it names is a clear error."""
    try:
        restore_state(state, ckpt)
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as error:
        raise UserError(f"--resume: '{path}' does not fit the {state.config.model.arch}"
                        f"{state.config.model.image_size} models of this config (a damaged or foreign "
                        f"checkpoint): {one_line(error)}") from error


def restore_state(state: GANState, ckpt: dict[str, Any]) -> None:
    state.G.load_state_dict(ckpt["G"])
    state.D.load_state_dict(ckpt["D"])
    if state.G_ema is not None and ckpt.get("G_ema") is not None:
        state.G_ema.load_state_dict(ckpt["G_ema"])
    state.opt_G.load_state_dict(ckpt["opt_G"])
    state.opt_D.load_state_dict(ckpt["opt_D"])
    state.scaler.load_state_dict(ckpt["scaler"])
    state.augment.load_state_dict(ckpt["augment_state"])
    state.noise.set_state(ckpt["rng"]["noise"])
    state.step = int(ckpt["step"])
    if state.dist.main:
        set_rng_state(ckpt["rng"])
    else:  # other ranks' global RNG (dropout only) was never saved: reseed it per rank and step
        torch.manual_seed(hash((state.dist.rank, state.step)) % 2**31)


def check_resume_compatible(config: GANConfig, ckpt: dict[str, Any], prepared: PreparedSet, path: Path) -> None:
    if ckpt.get("prepared_hash") != prepared.hash:
        raise UserError(f"--resume: '{path}' was trained on prepared set {ckpt.get('prepared_hash')}, "
                        f"but --data has hash {prepared.hash}; use the same --data")
    saved, now = ckpt["config"], to_dict(config)
    for section in ("model", "data", "train"):
        for key, value in now[section].items():
            if section == "train" and key in RESUMABLE_CHANGES:
                continue
            if saved.get(section, {}).get(key) != value:
                raise UserError(f"--resume: {section}.{key}={value!r}, but the checkpoint '{path}' has "
                                f"{section}.{key}={saved.get(section, {}).get(key)!r}; only train.steps and "
                                "the logging/checkpoint intervals may change on resume")
    if int(ckpt["step"]) > config.train.steps:
        raise UserError(f"--resume: the checkpoint is at step {ckpt['step']}, beyond train.steps="
                        f"{config.train.steps}; raise train.steps to continue")


# ------------------------------------------------------------------------------------------------ side output
@torch.no_grad()
def fixed_noise_grid(state: GANState, seed: int) -> np.ndarray:
    """A grid from fixed noise (rows per class for AC-GAN) with the EMA generator when present; uint8 HWC."""
    from torchvision.utils import make_grid

    from skingan.gan.sample import to_uint8

    n = state.config.train.grid_size
    g = torch.Generator().manual_seed(seed + GRID_SEED_OFFSET)
    z = torch.randn(n, state.config.model.nz, generator=g).to(state.device)
    y = None
    if state.config.model.conditional:
        k = len(state.config.data.classes)
        y = (torch.arange(n) * k // n).to(state.device)
    G = state.G_ema if state.G_ema is not None else state.G
    was_training = G.training
    G.eval()
    images = G(z, y).float()
    G.train(was_training)
    grid = make_grid(images.cpu(), nrow=int(math.ceil(math.sqrt(n))), padding=2, pad_value=1.0)
    return to_uint8(grid.unsqueeze(0))[0]


def save_png(array: np.ndarray, path: Path) -> None:
    from PIL import Image

    from skingan.runs import atomic_path

    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


class MetricsLog:
    """metrics.csv: one row per logged step; on resume rows after the checkpoint are dropped."""

    def __init__(self, path: Path, resume_step: int | None) -> None:
        self.path, self.fields = path, None
        if resume_step is not None and path.is_file():
            with open(path, newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if whole_row(r) and int(r["step"]) <= resume_step]
            if rows:
                self.fields = list(rows[0])
                with open(path, "w", newline="") as handle:
                    writer = csv.DictWriter(handle, fieldnames=self.fields)
                    writer.writeheader()
                    writer.writerows(rows)
            else:
                path.unlink()
        elif path.exists():
            path.unlink()

    def write(self, row: dict[str, float]) -> None:
        new = self.fields is None
        if new:
            self.fields = list(row)
        with open(self.path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)


def whole_row(row: dict) -> bool:
    """False for the last row of a metrics.csv cut short by a kill or a full disk."""
    return None not in row and None not in row.values() and str(row.get("step", "")).isdigit()


def plot_loss_curves(metrics_csv: Path, out_png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    if not metrics_csv.is_file():
        return
    table = pd.read_csv(metrics_csv)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for name in ("loss_d", "loss_g", "gp", "aux_d", "aux_g"):
        if name in table:
            ax1.plot(table["step"], table[name], label=name, linewidth=1)
    ax1.set(xlabel="step", ylabel="loss", title="losses")
    ax1.legend()
    for name, label in (("d_real", "D(x)"), ("d_fake", "D(G(z))")):
        ax2.plot(table["step"], table[name], label=label, linewidth=1)
    ax2.set(xlabel="step", ylabel="mean D logit", title="D(x) and D(G(z))")
    ax2.legend()
    fig.tight_layout()
    from skingan.runs import atomic_path

    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------------------------------- loop
@dataclass
class TrainResult:
    out: Path
    step: int
    checkpoint: Path
    images_per_s: float
    load_share: float
    seconds: float


def prepare_run(config: GANConfig, data: str | Path, out: Path, seed: int, device: torch.device,
                resume: bool, d: Dist) -> tuple[TrainingData, dict | None]:
    """Validate everything on every rank before rank 0 writes anything."""
    ckpt_path = out / "checkpoints" / "last.pt"
    ckpt = None
    prepared = open_prepared(data)
    if resume:
        if not ckpt_path.is_file():
            raise UserError(f"--resume: no checkpoint at '{ckpt_path}'; start without --resume")
        ckpt = load_checkpoint(ckpt_path)
        check_resume_compatible(config, ckpt, prepared, ckpt_path)
    elif (out / "config.yaml").exists():
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


def train(config: GANConfig, data: str | Path, out: str | Path, *, seed: int = 0, device: str = "cpu",
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
    if ckpt is not None:
        restore_or_refuse(state, ckpt, out / "checkpoints" / "last.pt")
        log.info("resumed %s at step %d", out, state.step)
    batches = BatchSource(training, config.train.batch_size // d.world, seed, d, dev, config.train.channels_last)
    log.info("train-gan: %s %dpx on %d training images (%s), %d steps of batch %d, %s process(es) on %s",
             config.model.arch, config.model.image_size, len(training.images), ", ".join(config.data.classes),
             config.train.steps, config.train.batch_size, d.world, dev)
    ckpt_path = out / "checkpoints" / "last.pt"
    metrics = MetricsLog(out / "metrics.csv", state.step if resume else None) if d.main else None
    bar = tqdm(total=config.train.steps, initial=state.step, desc="train-gan", unit="step",
               disable=not (progress and d.main), dynamic_ncols=True)
    start_step, start = state.step, time.perf_counter()
    window = (state.step, start)
    try:
        with stop_after_step(enabled=not d.enabled) as stop:
            while state.step < config.train.steps:
                scalars = train_step(state, batches)
                bar.update(1)
                window = log_and_save(state, scalars, metrics, bar, window, training, ckpt_path, seed, out)
                if stop.requested:
                    save_checkpoint(ckpt_path, state, training.prepared)
                    log.warning("saved %s at step %d", ckpt_path, state.step)
                    raise KeyboardInterrupt
        seconds = time.perf_counter() - start
        if state.step > start_step or not ckpt_path.exists():
            if d.main:
                save_checkpoint(ckpt_path, state, training.prepared)
                save_png(fixed_noise_grid(state, seed), out / "samples" / f"step_{state.step:07d}.png")
            barrier(d)
    finally:
        bar.close()
        if d.main:
            plot_loss_curves(out / "metrics.csv", out / "loss_curves.png")
    images = (state.step - start_step) * config.train.batch_size * config.train.n_critic
    return TrainResult(out=out, step=state.step, checkpoint=ckpt_path,
                       images_per_s=images / seconds if seconds > 0 else 0.0,
                       load_share=batches.load_seconds / seconds if seconds > 0 else 0.0, seconds=seconds)


def log_and_save(state: GANState, scalars: dict[str, torch.Tensor], metrics: MetricsLog | None, bar: Any,
                 window: tuple[int, float], training: TrainingData, ckpt_path: Path, seed: int,
                 out: Path) -> tuple[int, float]:
    t, step = state.config.train, state.step
    if step % t.log_every == 0 or step == t.steps:
        now = time.perf_counter()
        rate = (step - window[0]) * t.batch_size * t.n_critic / max(now - window[1], 1e-9)
        row = {"step": step, **{k: float(v) for k, v in scalars.items()}, "images_per_s": rate}
        if metrics is not None:
            metrics.write(row)
            bar.set_postfix(loss_d=f"{row['loss_d']:.3f}", loss_g=f"{row['loss_g']:.3f}", img_s=f"{rate:.0f}")
        window = (step, now)
    if step % t.checkpoint_every == 0 and step < t.steps:
        if state.dist.main:
            save_checkpoint(ckpt_path, state, training.prepared)
        barrier(state.dist)
    if step % t.sample_every == 0 and step < t.steps and state.dist.main:
        save_png(fixed_noise_grid(state, seed), out / "samples" / f"step_{step:07d}.png")
    return window
