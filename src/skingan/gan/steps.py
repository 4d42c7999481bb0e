"""One training step: `n_critic` discriminator updates, one generator update, one EMA update.

Models, losses and augmenters know nothing of the loop; the step knows no family. A step draws its latents
from the state's own generator and its real batch by number, so a resumed run repeats it exactly.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from skingan.errors import TrainingStopped
from skingan.gan.data import BatchSource
from skingan.gan.ema import update_ema
from skingan.gan.state import GANState

Losses = list[tuple[str, torch.Tensor]]


def sample_noise(state: GANState, local_batch: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Latents (and fake class labels) for the global batch, drawn identically on every rank; each rank
    keeps its strided share, matching the DistributedSampler's split of the real batch."""
    d, nz = state.dist, state.config.model.nz
    z = torch.randn(local_batch * d.world, nz, generator=state.noise)[d.rank::d.world]
    y = None
    if state.config.conditional:
        k = len(state.config.data.classes)
        y = torch.randint(0, k, (local_batch * d.world,), generator=state.noise)[d.rank::d.world].to(state.device)
    return z.to(state.device), y


def set_requires_grad(params: list[nn.Parameter], flag: bool) -> None:
    for p in params:
        p.requires_grad_(flag)


def d_step(state: GANState, real: torch.Tensor, y_real: torch.Tensor, keep_fake: bool,
           losses: Losses) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor | None]:
    """One discriminator update. With `keep_fake` the fakes keep their graph to G, so the generator step
    reuses them (one G forward per step, as the DCGAN reference loop) instead of generating again. The loss is
    appended to `losses`, checked once per step (a check per loss would wait for the GPU each time)."""
    z, y_fake = sample_noise(state, real.shape[0])
    with contextlib.nullcontext() if keep_fake else torch.no_grad(), state.precision.autocast():
        fake = (state.G_run if keep_fake else state.G)(z, y_fake)
    with state.precision.autocast():
        loss, scalars = state.loss.d_loss(lambda x, y=None: state.D_run(state.augment(x), y), real,
                                          fake.detach(), y_real, y_fake, step=state.step)
    losses.append(("loss_d", loss.detach()))
    state.opt_D.zero_grad(set_to_none=True)
    state.scaler.scale(loss).backward()
    state.scaler.step(state.opt_D)
    state.scaler.update()
    state.augment.observe(scalars)
    return scalars, fake, y_fake


def g_step(state: GANState, fake: torch.Tensor, y_fake: torch.Tensor | None, losses: Losses) -> dict[str, torch.Tensor]:
    """One generator update through the (just updated) discriminator, on fakes that carry G's graph."""
    set_requires_grad(state.d_params, False)
    try:
        with state.precision.autocast():
            # D unwrapped: its weights need no gradient, so DDP must not wait for one.
            loss, scalars = state.loss.g_loss(lambda x, y=None: state.D(state.augment(x), y), fake, y_fake)
        losses.append(("loss_g", loss.detach()))
        state.opt_G.zero_grad(set_to_none=True)
        state.scaler.scale(loss).backward()
        state.scaler.step(state.opt_G)
        state.scaler.update()
    finally:
        set_requires_grad(state.d_params, True)
    scalars["fake_std"] = fake.detach().float().std(dim=0).mean()
    return scalars


def train_step(state: GANState, batches: BatchSource) -> dict[str, torch.Tensor]:
    """`n_critic` discriminator updates, one generator update, one EMA update; returns detached scalars."""
    t = state.config.train
    losses: Losses = []
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


def check_finite(state: GANState, losses: Losses) -> None:
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
