"""Networks, losses, DiffAugment and EMA of the GAN stage."""

from __future__ import annotations

import pytest
import torch

from skingan.gan.augment import DiffAugment, parse_policy
from skingan.gan.ema import build_ema, ema_decay, update_ema
from skingan.gan.losses import BCELoss, HingeLoss, WassersteinGPLoss, build_loss
from skingan.gan.nets import Discriminator, Generator, count_parameters

ARCH_D = {  # arch → discriminator options, as the configs use them
    "dcgan": {"norm": "batch", "sn": False},
    "wgan": {"norm": "none", "sn": False},
    "acgan": {"norm": "batch", "sn": True, "dropout": 0.25},
    "sngan": {"norm": "none", "sn": True},
}


@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize("arch", list(ARCH_D))
@pytest.mark.parametrize("upsample", ["convt", "resize"])
def test_generator_and_discriminator_shapes(arch: str, size: int, upsample: str) -> None:
    k = 2 if arch == "acgan" else 0
    G = Generator(nz=16, ngf=8, image_size=size, n_classes=k, upsample=upsample)
    D = Discriminator(ndf=8, image_size=size, n_classes=k, **ARCH_D[arch])
    z = torch.randn(3, 16)
    y = torch.tensor([0, 1, 1]) if k else None
    x = G(z, y)
    assert x.shape == (3, 3, size, size)
    assert x.min() >= -1 and x.max() <= 1
    adv, cls = D(x)
    assert adv.shape == (3,)
    assert (cls.shape == (3, 2)) if k else cls is None


def test_dcgan64_matches_the_pytorch_tutorial_parameter_counts() -> None:
    # The DCGAN tutorial (nz 100, ngf = ndf = 64): G 3,576,704 and D 2,765,568 parameters.
    assert count_parameters(Generator(nz=100, ngf=64, image_size=64, upsample="convt")) == 3_576_704
    assert count_parameters(Discriminator(ndf=64, image_size=64, norm="batch")) == 2_765_568


def test_128px_generator_starts_at_1024_channels() -> None:
    G = Generator(nz=256, ngf=64, image_size=128)
    first = G.main[0]
    assert first.out_channels == 1024
    D = Discriminator(ndf=64, image_size=128)
    assert D.adv.in_channels == 1024


def test_conditional_generator_depends_on_the_label() -> None:
    torch.manual_seed(0)
    G = Generator(nz=16, ngf=8, image_size=32, n_classes=2).eval()
    z = torch.randn(2, 16)
    a = G(z, torch.tensor([0, 0]))
    b = G(z, torch.tensor([1, 1]))
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="labels"):
        G(z)


def constant_d(real_value: float, fake_value: float):
    def D(x: torch.Tensor):
        value = real_value if x.mean() > 0 else fake_value
        return torch.full((x.shape[0],), value), None
    return D


def test_hinge_loss_values() -> None:
    loss = HingeLoss()
    real, fake = torch.ones(4, 3, 8, 8), -torch.ones(4, 3, 8, 8)
    d, scalars = loss.d_loss(constant_d(0.5, -0.25), real, fake)
    assert d.item() == pytest.approx((1 - 0.5) + (1 - 0.25))
    assert scalars["d_real"].item() == pytest.approx(0.5) and scalars["d_fake"].item() == pytest.approx(-0.25)
    g, _ = loss.g_loss(constant_d(0.5, -0.25), fake)
    assert g.item() == pytest.approx(0.25)


def test_bce_label_smoothing_is_one_sided_or_two_sided() -> None:
    real, fake = torch.ones(2, 3, 4, 4), -torch.ones(2, 3, 4, 4)
    D = constant_d(0.0, 0.0)  # logit 0 → p 0.5: BCE = ln 2 whatever the target
    plain, _ = BCELoss().d_loss(D, real, fake)
    assert plain.item() == pytest.approx(2 * 0.6931, abs=1e-3)
    # at logit 3 the real loss depends on the target: smoothing 0.1 → target 0.9
    smoothed, _ = BCELoss(label_smoothing=0.1, fake_label=0.1).d_loss(constant_d(3.0, -3.0), real, fake)
    p = torch.sigmoid(torch.tensor(3.0)).item()
    import math
    expected_real = -(0.9 * math.log(p) + 0.1 * math.log(1 - p))
    expected_fake = -(0.1 * math.log(1 - p) + 0.9 * math.log(p))
    assert smoothed.item() == pytest.approx(expected_real + expected_fake, rel=1e-5)


def test_gradient_penalty_of_a_linear_critic() -> None:
    w = torch.full((3 * 4 * 4,), 0.5)

    def D(x: torch.Tensor):
        return x.flatten(1) @ w, None

    loss = WassersteinGPLoss(gp_lambda=10.0)
    real, fake = torch.randn(4, 3, 4, 4), torch.randn(4, 3, 4, 4)
    d, scalars = loss.d_loss(D, real, fake)
    gp = (w.norm() - 1) ** 2  # ‖∇ w·x‖ = ‖w‖ everywhere
    assert scalars["gp"].item() == pytest.approx(gp.item(), rel=1e-5)
    wass = (fake.flatten(1) @ w).mean() - (real.flatten(1) @ w).mean()
    assert d.item() == pytest.approx((wass + 10 * gp).item(), rel=1e-5)


def test_auxiliary_class_loss_needs_logits() -> None:
    loss = build_loss("hinge", conditional=True)

    def D(x: torch.Tensor):
        return torch.zeros(x.shape[0]), torch.tensor([[5.0, -5.0]]).repeat(x.shape[0], 1)

    x = torch.zeros(2, 3, 4, 4)
    _, right = loss.d_loss(D, x, x, torch.tensor([0, 0]), torch.tensor([0, 0]))
    _, wrong = loss.d_loss(D, x, x, torch.tensor([1, 1]), torch.tensor([1, 1]))
    assert right["aux_d"] < 0.01 < 10 < wrong["aux_d"]
    with pytest.raises(ValueError, match="not known"):
        build_loss("lsgan")


def test_diffaugment_is_seeded_by_its_own_generator_and_resumable() -> None:
    x = torch.rand(6, 3, 16, 16) * 2 - 1
    a, b = DiffAugment(seed=3), DiffAugment(seed=3)
    torch.manual_seed(0)
    out_a = a(x)
    torch.manual_seed(123)  # the global RNG must not matter
    out_b = b(x)
    assert torch.equal(out_a, out_b)
    assert not torch.equal(out_a, x)
    state = a.state_dict()
    next_a = a(x)
    c = DiffAugment(seed=99)
    c.load_state_dict(state)
    assert torch.equal(c(x), next_a)


def test_diffaugment_ranks_share_one_global_draw() -> None:
    x = torch.rand(8, 3, 16, 16) * 2 - 1
    whole = DiffAugment(seed=5)(x)
    parts = [DiffAugment(seed=5, rank=r, world=2)(x[r::2]) for r in range(2)]
    assert torch.allclose(parts[0], whole[0::2]) and torch.allclose(parts[1], whole[1::2])


def test_diffaugment_policy_names_are_checked() -> None:
    assert parse_policy("none") == []
    assert parse_policy("color, cutout") == ["color", "cutout"]
    with pytest.raises(ValueError, match="accepted: color, translation, cutout"):
        parse_policy("colour")


def test_ema_warm_up_and_update() -> None:
    assert ema_decay(0, 0.999) == pytest.approx(0.1)
    assert ema_decay(10**6, 0.999) == 0.999
    G = Generator(nz=4, ngf=4, image_size=32)
    ema = build_ema(G)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(1.0)
    before = next(ema.parameters()).clone()
    update_ema(ema, G, 0, 0.999)
    after = next(ema.parameters())
    assert torch.allclose(after, before + 0.9, atol=1e-6)  # decay 0.1 at step 0: 90 % of the way
