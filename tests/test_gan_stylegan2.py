"""The stylegan2 family: networks (shapes, ranges, modulation/demodulation, conditioning), lazy R1, ADA's
adaptive p (rises on an overfitting D, falls otherwise, survives the checkpoint), training, sampling and
bitwise resume with ADA on and p moving."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from conftest import fd_before_and_after, run_skingan
from skingan.config import from_dict, load_config, to_dict
from skingan.errors import UserError
from skingan.gan.ada import P_MAX, AdaptiveAugment, parse_ops
from skingan.gan.config import GANConfig
from skingan.gan.family import NetSpec
from skingan.gan.registry import get_family
from skingan.gan.stylegan2 import StyleGAN2Loss, StyleGAN2Options, r1_gamma
from skingan.gan.stylegan2_nets import ModulatedConv2d
from skingan.gan.train import load_checkpoint, train

FAMILY = get_family("stylegan2")
TINY_OPTIONS = {"w_dim": 32, "channel_base": 256, "channel_max": 32}
REAL_STEPS = 150
TINY = ["model.nz=16", "stylegan2.w_dim=32", "stylegan2.channel_base=256", "stylegan2.channel_max=32",
        "train.batch_size=4", "train.grid_size=4", "train.log_every=1"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny networks: one intra-op thread is faster, and far faster on a CPU shared with other jobs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_nets(size: int, n_classes: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    options, spec = StyleGAN2Options(**TINY_OPTIONS), NetSpec(image_size=size, nz=16, n_classes=n_classes)
    return FAMILY.build_generator(spec, options), FAMILY.build_discriminator(spec, options)


def read_metrics(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# ------------------------------------------------------------------------------------------------ networks
@pytest.mark.parametrize("n_classes", [0, 2], ids=["unconditional", "conditional"])
@pytest.mark.parametrize("size", [64, 128])
def test_networks_shapes_and_value_ranges(size: int, n_classes: int) -> None:
    G, D = tiny_nets(size, n_classes)
    z = torch.randn(4, 16)
    y = torch.tensor([0, 1, 0, 1]) if n_classes else None
    with torch.no_grad():
        assert all(layer.noise_strength == 0 for layer in G.layers)  # learned, from 0
        for layer in G.layers:
            layer.noise_strength.fill_(0.5)
        images = G(z, y)
        assert images.shape == (4, 3, size, size) and torch.isfinite(images).all()
        assert 0.05 < images.std() < 5 and images.abs().max() < 50  # no tanh, but the scale of [-1, 1]
        logits, cls = D(images, y)
        assert logits.shape == (4,) and cls is None and torch.isfinite(logits).all()
        assert D(torch.rand(4, 3, size, size) * 2 - 1, y)[0].shape == (4,)
        G.eval()  # eval-mode noise depends on each image's own latent: any batch size, the same images
        together = G(z, y)
        assert torch.equal(together, G(z, y))
        if size == 64:
            alone = torch.cat([G(z[i:i + 1], None if y is None else y[i:i + 1]) for i in range(4)])
            assert torch.equal(together, alone)
        G.train()
        assert not torch.equal(G(z, y), G(z, y))  # training: fresh noise inputs
        if n_classes:
            other = 1 - y
            assert not torch.allclose(D(images, y)[0], D(images, other)[0])  # projection uses the label
            G.eval()
            assert not torch.allclose(G(z, y), G(z, other))
            with pytest.raises(ValueError, match="labels"):
                G(z)
            with pytest.raises(ValueError, match="labels"):
                D(images)


def test_demodulated_weights_have_unit_norm_and_both_paths_agree() -> None:
    torch.manual_seed(1)
    for up in (False, True):
        conv = ModulatedConv2d(8, 6, 3, w_dim=16, up=up)
        w, x = torch.randn(3, 16), torch.randn(3, 8, 8, 8)
        styles = conv.styles(w)
        weight = conv.modulated_weight(styles)
        assert weight.shape == (3, 6, 8, 3, 3)
        norms = weight.square().sum(dim=(2, 3, 4)).sqrt()
        assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)
        assert torch.allclose(conv.modulated_weight(styles * 3.0), weight, atol=1e-5)  # scale-free styles
        with torch.no_grad():
            assert torch.allclose(conv(x, w, fused=True), conv(x, w), atol=1e-5)
    rgb = ModulatedConv2d(8, 3, 1, w_dim=16, demodulate=False)  # toRGB: modulated, not demodulated
    w = torch.randn(2, 16)
    assert not torch.allclose(rgb.modulated_weight(rgb.styles(w)).square().sum(dim=(2, 3, 4)), torch.ones(2, 3))
    with torch.no_grad():
        x = torch.randn(2, 8, 4, 4)
        assert torch.allclose(rgb(x, w, fused=True), rgb(x, w), atol=1e-5)


def test_equalized_learning_rate_and_mapping_lr_multiplier() -> None:
    G, _ = tiny_nets(64, 0)
    fc = G.mapping.fcs[0]
    assert fc.lr_mul == 0.01 and 50 < fc.weight.std() < 200  # stored N(0, 1) / lr_mul, scaled at run time
    assert math.isclose(fc.weight_gain, 0.01 / math.sqrt(16))
    conv = G.layers[1].conv
    assert 0.8 < conv.weight.std() < 1.2 and math.isclose(conv.weight_gain, 1 / math.sqrt(32 * 9))


# ----------------------------------------------------------------------------------------------------- R1
def test_lazy_r1_runs_every_interval_with_the_expected_value_on_a_linear_d() -> None:
    torch.manual_seed(0)
    a = torch.randn(3, 8, 8)
    seen: list = []

    def D(x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, None]:
        seen.append(y)
        return (x * a).sum(dim=(1, 2, 3)), None

    gamma, interval = 0.5, 4
    loss = StyleGAN2Loss(gamma=gamma, interval=interval, labels_to_d=True)
    real, fake, labels = torch.randn(5, 3, 8, 8), torch.randn(5, 3, 8, 8), torch.tensor([0, 1, 1, 0, 1])
    adversarial = (F.softplus(D(fake)[0]).mean() + F.softplus(-D(real)[0]).mean()).item()
    norm2 = a.square().sum().item()  # ∇_x <a, x> = a for every sample
    for step in range(9):
        assert (loss.penalty(D, real, fake, step) is None) == bool(step % interval)
        seen.clear()
        total, scalars = loss.d_loss(D, real, fake, labels, labels, step=step)
        if step % interval == 0:
            assert math.isclose(scalars["r1"].item(), norm2, rel_tol=1e-5)
            assert math.isclose(total.item(), adversarial + gamma / 2 * interval * norm2, rel_tol=1e-5)
            assert len(seen) == 3 and seen[2] is labels  # R1's own D forward, with the real labels
        else:
            assert math.isclose(total.item(), adversarial, rel_tol=1e-5)
            assert len(seen) == 2 and math.isclose(scalars["r1"].item(), norm2, rel_tol=1e-5)  # the last value
        assert scalars["d_real_sign"].item() == torch.sign(D(real)[0]).mean().item()
    assert StyleGAN2Loss(gamma=0.0, interval=1).penalty(D, real, fake, 0) is None


def test_r1_gamma_auto_follows_stylegan2_ada() -> None:
    config = load_config(GANConfig, "stylegan2-64")
    assert config.stylegan2.r1_gamma == -1 and math.isclose(r1_gamma(config), 0.0002 * 64 ** 2 / 32)
    config = load_config(GANConfig, "stylegan2-128", ["stylegan2.r1_gamma=2.5"])
    assert r1_gamma(config) == 2.5
    assert math.isclose(FAMILY.build_loss(config).gp_lambda, 2.5 / 2 * 16)


# ---------------------------------------------------------------------------------------------------- ADA
def feed(aug: AdaptiveAugment, sign_mean: float, times: int) -> list[float]:
    ps = []
    for _ in range(times):
        aug.observe({"d_real_sign": torch.tensor(sign_mean)})
        ps.append(aug.p)
    return ps


def test_ada_p_rises_when_d_overfits_and_falls_otherwise() -> None:
    step = 32 * 4 / (1.0 * 1000)
    aug = AdaptiveAugment(p=0.0, target=0.6, interval=4, kimg=1.0, batch_size=32)
    ps = feed(aug, 1.0, 8)  # D always says "real" on the reals: overfitting
    assert ps == [0.0, 0.0, 0.0, step, step, step, step, 2 * step]  # adjusted every 4 D steps only
    assert aug.scalars() == {"augment_p": 2 * step, "ada_rt": 1.0}
    assert feed(aug, 1.0, 40)[-1] == P_MAX < 1  # clamped below 1
    ps = feed(aug, -1.0, 8)
    assert ps[-1] < ps[3] < P_MAX and math.isclose(P_MAX - ps[-1], 2 * step)
    ps = feed(aug, 0.5, 8)  # below the target: less augmentation
    assert ps[-1] < ps[3] and aug.scalars()["ada_rt"] == 0.5
    assert feed(aug, -1.0, 400)[-1] == 0.0  # clamped at 0
    steady = AdaptiveAugment(p=0.3, target=0.5, interval=2, kimg=1.0, batch_size=32)
    assert feed(steady, 0.5, 6)[-1] == 0.3  # at the target p stays
    fixed = AdaptiveAugment(p=0.3, adjust=False, interval=2)
    assert feed(fixed, 1.0, 6)[-1] == 0.3 and fixed.scalars()["ada_rt"] == 1.0


def test_ada_rises_from_a_controlled_fake_d_through_the_loss() -> None:
    """The loss's d_real_sign of a D that is sure of every real (sign +1) drives p up; an unsure D down."""
    loss = StyleGAN2Loss(gamma=0.0, interval=16)
    real, fake = torch.randn(8, 3, 8, 8), torch.randn(8, 3, 8, 8)
    for value, rising in ((5.0, True), (-5.0, False)):
        aug = AdaptiveAugment(p=0.5, interval=2, kimg=1.0, batch_size=8)
        for step in range(6):
            _, scalars = loss.d_loss(lambda x, y=None, v=value: (torch.full((x.shape[0],), v), None),
                                     real, fake, step=step)
            aug.observe(scalars)
        assert (aug.p > 0.5) if rising else (aug.p < 0.5)


def test_ada_state_survives_the_checkpoint_mid_interval(tmp_path: Path) -> None:
    from skingan.runs import safe_torch_load

    a = AdaptiveAugment(p=0.25, interval=4, kimg=1.0, batch_size=16, seed=3)
    x = torch.rand(6, 3, 16, 16) * 2 - 1
    a(x)
    feed(a, 1.0, 6)  # one adjustment, then two values in the accumulator
    torch.save({"augment_state": a.state_dict()}, tmp_path / "ckpt.pt")
    b = AdaptiveAugment(p=0.0, interval=4, kimg=1.0, batch_size=16, seed=99)
    b.load_state_dict(safe_torch_load(tmp_path / "ckpt.pt")["augment_state"])  # weights_only, as --resume
    assert (b.p, b._count, float(b._sum), b.rt, b.updates) == (a.p, 2, 2.0, 1.0, 1)
    assert feed(a, 0.5, 2) == feed(b, 0.5, 2)  # the interval completes with the saved half
    assert torch.equal(a(x), b(x))  # the same augmentation draws
    with pytest.raises(ValueError, match="not ADA"):
        b.load_state_dict({"policy": "color", "generator": torch.Generator().get_state()})


def test_ada_operations_are_exact_differentiable_strided_and_use_their_own_rng() -> None:
    torch.manual_seed(0)
    x = torch.rand(16, 3, 12, 12) * 2 - 1
    assert AdaptiveAugment("bgc", p=0.0)(x) is x
    flips = AdaptiveAugment("xflip", p=P_MAX)(x)
    flipped = [torch.equal(flips[i], x[i].flip(-1)) for i in range(16)]
    assert all(f or torch.equal(flips[i], x[i]) for i, f in enumerate(flipped)) and 3 < sum(flipped) < 13
    rotations = AdaptiveAugment("rotate90", p=P_MAX)(x)
    assert all(any(torch.equal(rotations[i], x[i].rot90(k, (1, 2))) for k in range(4)) for i in range(16))
    shifts = AdaptiveAugment("xint", p=P_MAX)(x)  # whole-pixel moves: every value is an input value
    assert all(torch.isin(shifts[i], x[i]).all() for i in range(16)) and not torch.equal(shifts, x)
    rng = torch.get_rng_state()
    aug = AdaptiveAugment("bgcc", p=0.7, seed=5)
    leaf = x.clone().requires_grad_(True)
    out = aug(leaf)
    assert torch.equal(torch.get_rng_state(), rng)  # the global RNG is never used
    assert out.shape == x.shape and torch.isfinite(out).all() and not torch.allclose(out, x)
    weight = torch.randn(3, 12, 12, requires_grad=True)
    (grad,) = torch.autograd.grad((out * weight).sum(), leaf, create_graph=True)
    grad.square().sum().backward()  # R1's double backward through the resampling
    assert weight.grad is not None and weight.grad.abs().sum() > 0
    single = AdaptiveAugment("bgc", p=0.6, seed=7)(x)
    for rank in range(2):  # two DDP ranks augment their strided halves as one process the whole batch
        part = AdaptiveAugment("bgc", p=0.6, seed=7, rank=rank, world=2)(x[rank::2])
        assert torch.allclose(part, single[rank::2], atol=1e-6)
    assert parse_ops("blit") == ("xflip", "rotate90", "xint")
    with pytest.raises(ValueError, match="not known"):
        parse_ops("xflip,warp")


# ------------------------------------------------------------------------------------------------ configs
def test_configs_recipe_and_cross_section_rules() -> None:
    config = load_config(GANConfig, "stylegan2-64")
    t = config.train
    assert config.model.image_size == 64 and config.family.name == "stylegan2" and not config.conditional
    assert (t.loss, t.diffaugment, t.lr_g, t.lr_d, tuple(t.betas), t.batch_size) == ("bce", "none", 0.0025, 0.0025,
                                                                                     (0.0, 0.99), 32)
    assert t.ema and t.amp and t.channels_last and config.stylegan2.ada
    assert load_config(GANConfig, "stylegan2-128", ["data.classes=[benign,malignant]"]).conditional
    again = from_dict(GANConfig, yaml.safe_load(yaml.safe_dump(to_dict(config))), origin="round trip")
    assert to_dict(again) == to_dict(config) and set(to_dict(config)) == {"model", "data", "train", "stylegan2"}
    assert load_config(GANConfig, "stylegan2-64", ["stylegan2.ada=false", "train.diffaugment=color"])
    for override, fragment in (("train.diffaugment=color,translation", "both augment"),
                               ("train.loss=hinge", "own loss"), ("train.label_smoothing=0.1", "label smoothing"),
                               ("stylegan2.ada_ops=bgc,warp", "not known")):
        with pytest.raises((UserError, ValueError), match=fragment):
            load_config(GANConfig, "stylegan2-64", [override])


# ------------------------------------------------------------------------------------------------ training
def run(data: Path, out: Path, *overrides: str, config: str = "stylegan2-64", resume: bool = False):
    return train(load_config(GANConfig, config, [*TINY, *overrides]), data, out, seed=0, device="cpu",
                 resume=resume, progress=False)


def test_train_64px_then_skingan_sample(tiny_prepared: Path, tmp_path: Path) -> None:
    result = run(tiny_prepared, tmp_path / "run", "train.steps=2", "data.classes=[benign,malignant]")
    assert result.step == 2
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert ckpt["arch"] == "stylegan2" and ckpt["image_size"] == 64 and ckpt["augment_state"]["kind"] == "ada"
    rows = read_metrics(tmp_path / "run" / "metrics.csv")
    assert {"loss_d", "loss_g", "r1", "d_real_sign", "augment_p", "ada_rt"} <= set(rows[0])
    assert math.isfinite(float(rows[0]["r1"])) and all(math.isfinite(float(r["loss_d"])) for r in rows)
    out = tmp_path / "samples"
    sampled = run_skingan("sample", "--checkpoint", tmp_path / "run" / "checkpoints" / "last.pt", "--n", "3",
                          "--class", "all", "--out", out, "--device", "cpu")
    assert sampled.returncode == 0, sampled.stderr
    assert len(list((out / "benign").glob("*.png"))) == 3 and len(list((out / "malignant").glob("*.png"))) == 3
    assert (out / "manifest.csv").is_file()


def test_resume_is_bitwise_with_ada_on_and_p_moving(tiny_prepared: Path, tmp_path: Path) -> None:
    # 32 px, conditional, R1 at steps 0 and 3, p starting at 0.5 and adjusted by ±0.1 after D steps 2 and 4,
    # a sample grid every step (eval-mode noise must not touch the RNG the training draws from); the split at
    # step 3 is mid-interval (one value in ADA's accumulator) and the resumed part starts with an R1 step.
    common = ["model.image_size=32", "data.classes=[benign,malignant]", "stylegan2.r1_interval=3",
              "stylegan2.ada_p_init=0.5", "stylegan2.ada_interval=2", "stylegan2.ada_kimg=0.08",
              "train.sample_every=1", "train.checkpoint_every=2"]
    run(tiny_prepared, tmp_path / "straight", "train.steps=4", *common)
    run(tiny_prepared, tmp_path / "split", "train.steps=3", *common)
    assert load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")["augment_state"]["count"] == 1
    run(tiny_prepared, tmp_path / "split", "train.steps=4", *common, resume=True)
    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 4
    for part in ("G", "D", "G_ema", "opt_D"):
        state_a, state_b = (a[part]["state"], b[part]["state"]) if part == "opt_D" else (a[part], b[part])
        assert state_a.keys() == state_b.keys()
        for key in state_a:
            if part == "opt_D":
                assert all(torch.equal(state_a[key][k], state_b[key][k]) for k in state_a[key]), f"opt_D {key}"
            else:
                assert torch.equal(state_a[key], state_b[key]), f"{part}.{key} differs after resume"
    sa, sb = a["augment_state"], b["augment_state"]
    assert (sa["p"], sa["sum"], sa["count"], sa["updates"]) == (sb["p"], sb["sum"], sb["count"], sb["updates"])
    assert torch.equal(sa["generator"], sb["generator"])
    rows_a = read_metrics(tmp_path / "straight" / "metrics.csv")
    rows_b = read_metrics(tmp_path / "split" / "metrics.csv")
    skip = {"images_per_s"}  # r1 is equal too: the resumed part starts with an R1 step
    assert [{k: v for k, v in r.items() if k not in skip} for r in rows_a] == \
           [{k: v for k, v in r.items() if k not in skip} for r in rows_b]
    assert [int(r["step"]) for r in rows_a] == [1, 2, 3, 4] and math.isfinite(float(rows_a[3]["r1"]))
    ps = [float(r["augment_p"]) for r in rows_a]
    assert ps[0] == 0.5 and ps[1] != 0.5 and ps[3] != ps[1]  # p really moved (and augmented from step 0)
    assert sa["updates"] == 2 and sb["count"] == 0


# ------------------------------------------------------------------------------------------- real images
@pytest.mark.slow
def test_learns_isic2017_melanomas_fd_falls(melanomas64: Path, tmp_path: Path) -> None:
    """REAL_STEPS steps of batch 16 at 64 px (CPU widths, ADA on) on the ISIC 2017 training melanomas: FD_lite0 of
    200 EMA samples vs the reals falls from step 1, and ADA raised p (D overfits a few hundred images)."""
    prepared = melanomas64
    sets = ["train.batch_size=16", "stylegan2.channel_base=2048", "stylegan2.channel_max=128",
            "stylegan2.ada_kimg=10", "train.channels_last=false", f"train.checkpoint_every={REAL_STEPS}"]
    fds = fd_before_and_after("stylegan2-64", sets, prepared, tmp_path / "run", REAL_STEPS)
    print("stylegan2 FD_lite0 step 1 → step", REAL_STEPS, fds)
    assert fds[1] < 0.95 * fds[0], fds
    p = float(read_metrics(tmp_path / "run" / "metrics.csv")[-1]["augment_p"])
    assert 0 < p < 1
