"""The projected family: FastGAN G and the projected D (frozen EfficientNet-Lite0), through the real loop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conftest import fd_before_and_after, run_skingan
from skingan.config import load_config
from skingan.gan.config import GANConfig
from skingan.gan.losses import HingeLoss
from skingan.gan.projected_nets import LITE0_CHANNELS, ProjectedDiscriminator
from skingan.gan.registry import build_discriminator, build_generator
from skingan.gan.state import trainable
from skingan.gan.train import load_checkpoint, train

TINY = ["projected.ngf=4", "projected.ndf=8", "projected.ccm_channels=8", "model.nz=16"]
BOTH = "data.classes=[benign,malignant]"
STEPS = 60
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: a second thread only adds overhead, and on a busy shared CPU its spin-waits made these
    tests 10x slower. Every process here (CLI runs too) uses one thread, so runs compare bitwise."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_config(size: int, *overrides: str):
    return load_config(GANConfig, "projected64", [f"model.image_size={size}", *TINY, *overrides])


def frozen_state(D: ProjectedDiscriminator) -> dict[str, torch.Tensor]:
    """Every tensor of the frozen network, parameters and batch-norm statistics, copied."""
    net = D.features
    return {k: v.detach().clone() for k, v in [*net.named_parameters(), *net.named_buffers()]}


@pytest.mark.parametrize("size", [64, 128])
@pytest.mark.parametrize("classes", [[], [BOTH]], ids=["unconditional", "conditional"])
def test_shapes_and_ranges(size: int, classes: list[str]) -> None:
    config = tiny_config(size, *classes, "projected.g_variant=full" if classes else "projected.g_variant=lite")
    torch.manual_seed(0)
    G, D = build_generator(config), build_discriminator(config)
    y = torch.tensor([0, 1]) if config.conditional else None
    x = G(torch.randn(2, 16), y)
    assert x.shape == (2, 3, size, size)
    assert -1.0 <= float(x.detach().min()) < float(x.detach().max()) <= 1.0
    logits, cls = D(x, y)
    assert logits.shape == (2,) and cls is None and torch.isfinite(logits).all()
    loss = config.family.build_loss(config)
    assert isinstance(loss, HingeLoss) and loss.labels_to_d is config.conditional and not loss.conditional
    if config.conditional:
        with pytest.raises(ValueError, match="class labels"):
            D(x)
        assert not torch.equal(D(x, y)[0], D(x, 1 - y)[0])  # the class changes the logit (projection)
        G.eval()
        assert not torch.equal(G(torch.zeros(1, 16) + 1, y[:1]), G(torch.zeros(1, 16) + 1, 1 - y[:1]))


def test_feature_network_stays_frozen_while_gradients_reach_g() -> None:
    config = tiny_config(32, BOTH)
    torch.manual_seed(0)
    G, D = build_generator(config), build_discriminator(config)
    before = frozen_state(D)
    frozen_ids = {id(p) for p in D.features.parameters()} | {id(p) for p in D.projection.parameters()}
    d_params = trainable(D)  # what the loop optimises
    assert d_params and not frozen_ids & {id(p) for p in d_params}
    assert all(not p.requires_grad for p in [*D.features.parameters(), *D.projection.parameters()])
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-2, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(d_params, lr=1e-2, betas=(0.0, 0.99))
    loss = config.family.build_loss(config)
    D.train()
    assert not any(m.training for m in D.features.modules())  # eval mode even after D.train()
    assert all(m.training for m in D.heads.modules())
    real = torch.rand(4, 3, 32, 32) * 2 - 1
    y = torch.tensor([0, 1, 0, 1])
    heads_before = [p.detach().clone() for p in d_params]
    for _ in range(3):
        fake = G(torch.randn(4, 16), y)
        d_loss, _ = loss.d_loss(D, real, fake.detach(), y, y)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss, _ = loss.g_loss(D, fake, y)
        opt_g.zero_grad()
        for p in d_params:
            p.requires_grad_(False)
        g_loss.backward()
        for p in d_params:
            p.requires_grad_(True)
        grads = [p.grad for p in G.parameters()]
        assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0
        assert all(p.grad is None for p in D.features.parameters())
        opt_g.step()
    after = frozen_state(D)
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before), "the frozen network changed"
    assert any(not torch.equal(a, b) for a, b in zip(heads_before, d_params, strict=True))  # the heads trained
    assert not any(m.training for m in D.features.modules())


def test_input_is_fed_in_minus_one_one_without_mean_std() -> None:
    """The stem convolution sees the (resized) [-1, 1] image itself; the four stages match a plain Lite0."""
    from efficientnet_lite_pytorch import EfficientNet

    from skingan.gan.projected_nets import lite0_state

    seen: list[torch.Tensor] = []
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    for resolution in (0, 64):
        D = ProjectedDiscriminator(image_size=32, ndf=8, ccm_channels=8, feature_resolution=resolution)
        stem = D.features.stages[0][0]
        handle = stem.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
        D(x)
        handle.remove()
        expected = x if not resolution else F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False)
        assert torch.equal(seen[-1], expected)
    net = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    net.load_state_dict(lite0_state())
    net.eval()
    with torch.no_grad():
        h = net._swish(net._bn0(net._conv_stem(x)))
        reference = []
        for i, block in enumerate(net._blocks):
            h = block(h)
            if i in (2, 4, 10, 15):
                reference.append(h)
        feats = D.features(x)
    assert [f.shape[1] for f in feats] == list(LITE0_CHANNELS)
    assert [f.shape[-1] for f in feats] == [8, 4, 2, 1]  # /4, /8, /16, /32
    assert all(torch.equal(a, b) for a, b in zip(feats, reference, strict=True))


def test_state_dict_leaves_out_the_frozen_network_and_loads_back() -> None:
    config = tiny_config(32)
    torch.manual_seed(0)
    D = build_discriminator(config)
    state = D.state_dict()
    assert state and not any(k.startswith("lite0.") for k in state)
    assert any(k.startswith("projection.") for k in state)  # the random mixing travels (it is seed-dependent)
    torch.manual_seed(1)
    other = build_discriminator(config)
    other.load_state_dict(state)  # strict: only the frozen network may be missing
    with pytest.raises(RuntimeError, match="heads"):
        other.load_state_dict({k: v for k, v in state.items() if not k.startswith("heads.0.")})
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    D.eval(), other.eval()
    assert torch.equal(D(x)[0], other(x)[0])


def test_config_rules() -> None:
    from skingan.errors import UserError

    assert tiny_config(64).train.betas == (0.0, 0.99)
    with pytest.raises((UserError, ValueError), match="hinge"):
        tiny_config(64, "train.loss=wasserstein")
    with pytest.raises((UserError, ValueError), match="feature_resolution"):
        tiny_config(64, "projected.feature_resolution=16")


def test_cli_trains_three_steps_and_samples(tiny_prepared: Path, tmp_path: Path) -> None:
    out = tmp_path / "projected64"
    sets = [a for s in [*TINY, "train.steps=3", "train.batch_size=4", "train.grid_size=4"] for a in ("--set", s)]
    result = run_skingan("train-gan", "--config", "projected64", "--data", tiny_prepared, "--out", out,
                         "--no-progress", *sets, env=ONE_THREAD)
    assert result.returncode == 0, result.stderr[-3000:]
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
    assert ckpt["step"] == 3 and ckpt["arch"] == "projected" and ckpt["image_size"] == 64
    assert not any(k.startswith("lite0.") for k in ckpt["D"])
    sampled = run_skingan("sample", "--checkpoint", out / "checkpoints" / "last.pt", "--n", "3",
                          "--out", tmp_path / "samples", "--device", "cpu", env=ONE_THREAD)
    assert sampled.returncode == 0, sampled.stderr[-3000:]
    assert len(list((tmp_path / "samples" / "malignant").glob("*.png"))) == 3


KILLED_RUN = """
import os, signal, sys
import torch
torch.set_num_threads(1)
from skingan.config import load_config
from skingan.gan import train as T
from skingan.gan.config import GANConfig

save = T.save_checkpoint
def save_then_die(path, state, prepared):
    save(path, state, prepared)
    if state.step == 2:
        os.kill(os.getpid(), signal.SIGKILL)
T.save_checkpoint = save_then_die
config = load_config(GANConfig, "projected64", sys.argv[3:])
T.train(config, sys.argv[1], sys.argv[2], seed=0, device="cpu", progress=False)
"""


def test_sigkill_then_resume_is_bitwise_exact(tiny_prepared: Path, tmp_path: Path) -> None:
    """Conditional, full G (noise injection: the global RNG) at 32 px: killed after the step-2 checkpoint,
    resumed to step 4, equal to an uninterrupted run of 4 steps (G, D, G_ema, the augmenter's RNG)."""
    overrides = ["model.image_size=32", *TINY, BOTH, "projected.g_variant=full", "train.batch_size=4",
                 "train.checkpoint_every=2", "train.sample_every=100", "train.log_every=1", "train.grid_size=4"]
    config = load_config(GANConfig, "projected64", [*overrides, "train.steps=4"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the killed subprocess (ONE_THREAD): bitwise equality needs the same kernels
    try:
        _straight_killed_resumed(config, overrides, tiny_prepared, tmp_path)
    finally:
        torch.set_num_threads(threads)


def _straight_killed_resumed(config: GANConfig, overrides: list[str], tiny_prepared: Path, tmp_path: Path) -> None:
    train(config, tiny_prepared, tmp_path / "straight", seed=0, device="cpu", progress=False)
    killed = subprocess.run([sys.executable, "-c", KILLED_RUN, str(tiny_prepared), str(tmp_path / "split"),
                             *overrides, "train.steps=4"], env={**os.environ, **ONE_THREAD}, capture_output=True, text=True, timeout=300, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")["step"] == 2
    train(config, tiny_prepared, tmp_path / "split", seed=0, device="cpu", resume=True, progress=False)
    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 4
    for part in ("G", "D", "G_ema"):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), f"{part}.{key} differs after SIGKILL + resume"
    assert torch.equal(a["augment_state"]["generator"], b["augment_state"]["generator"])


@pytest.mark.slow
def test_real_melanomas_fd_falls(melanomas64: Path, tmp_path: Path) -> None:
    """STEPS steps of batch 16 on the ISIC 2017 training melanomas lower FD_lite0 (200 EMA samples vs the reals)
    by more than a fifth from step 1."""
    sets = ["train.batch_size=16", "train.sample_every=1000", "train.checkpoint_every=1000"]
    fds = fd_before_and_after("projected64", sets, melanomas64, tmp_path / "run", STEPS)
    print("projected FD_lite0 step 1 → step", STEPS, fds)
    assert fds[1] < 0.8 * fds[0], fds
