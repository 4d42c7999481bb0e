"""Memory format (NCHW or channels_last) is chosen per component and device from measurements, and only
changes speed: logits, a training step, features and GAN layouts agree with NCHW to float32 rounding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skingan.classifier import model as M
from skingan.classifier.inference import predict
from skingan.classifier.train_epoch import train_one_epoch
from skingan.config import load_config
from skingan.distributed import Dist
from skingan.evaluation import features as F
from skingan.gan import precision as P
from skingan.gan.config import GANConfig
from skingan.gan.state import build_state
from skingan.gan.train import train


def is_channels_last(t: torch.Tensor) -> bool:
    return t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


def batches(n: int = 2, size: int = 32, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(4, 3, size, size, generator=g), torch.tensor([0.0, 1.0, 1.0, 0.0])) for _ in range(n)]


def lite0(size: int = 32) -> M.Classifier:
    torch.manual_seed(0)
    return M.build_classifier("efficientnet-lite0", image_size=size, pretrained=True)


def test_the_cpu_choice_comes_from_the_measured_table(monkeypatch):
    model = lite0()
    assert M.backbone_family(model) == "efficientnet-lite"
    assert M.backbone_family(M.build_backbone("efficientnet-b0", 32)) == "efficientnet-b"
    for choice in (True, False):
        monkeypatch.setitem(M.CPU_CHANNELS_LAST, "efficientnet-lite", choice)
        assert M.prefers_channels_last(model, "cpu") is choice
        memory = M.apply_memory_format(model, "cpu")
        assert (memory == torch.channels_last) is choice
        assert is_channels_last(model.backbone._conv_stem.weight) is choice
    assert M.prefers_channels_last(model, "cuda:0") is False  # unmeasured there: NCHW


def test_a_ddp_wrapped_model_is_never_converted():
    class Wrapper(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.module = inner

    model = lite0()
    assert M.apply_memory_format(Wrapper(model), "cpu", channels_last=True) == torch.contiguous_format
    assert not is_channels_last(model.backbone._conv_stem.weight)
    model.to(memory_format=torch.channels_last)
    assert M.apply_memory_format(Wrapper(model), "cpu", channels_last=False) == torch.channels_last


def test_logits_agree_in_both_formats():
    model = lite0()
    loader = batches()
    _, nchw = predict(model, loader, "cpu", channels_last=False)
    _, cl = predict(model, loader, "cpu", channels_last=True)
    np.testing.assert_allclose(cl, nchw, rtol=1e-4, atol=1e-4)
    assert not np.array_equal(nchw, np.zeros_like(nchw))


def test_a_training_step_agrees_in_both_formats():
    results = {}
    for channels_last in (False, True):
        model = lite0()
        # SGD with momentum: the update is linear in the gradient, so layouts agree to rounding (Adam's first
        # step is ~lr·sign(g) and would amplify rounding where g ≈ 0)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        scaler = torch.amp.GradScaler("cuda", enabled=False)
        torch.manual_seed(1)  # dropout
        row = train_one_epoch(model, torch.nn.BCEWithLogitsLoss(), optimizer, batches(1), "cpu", scaler=scaler,
                              progress=False, channels_last=channels_last)
        assert is_channels_last(model.backbone._conv_stem.weight) is channels_last
        state = optimizer.state[model.backbone._conv_stem.weight]["momentum_buffer"]
        assert is_channels_last(state) is channels_last  # optimiser state made in the model's layout
        results[channels_last] = (row["train_loss"], {k: v.clone() for k, v in model.state_dict().items()})
    assert results[True][0] == pytest.approx(results[False][0], rel=1e-4)  # measured 1.6e-5
    before = lite0().state_dict()
    keys = [k for k, v in before.items() if v.is_floating_point() and "running" not in k]
    step = {fmt: torch.cat([(results[fmt][1][k] - before[k]).flatten().double() for k in keys]) for fmt in results}
    assert step[False].norm() > 0
    # float32 rounding through a deep batch-norm net: the same NCHW step on 2 threads instead of 1 moved the
    # gradient by 1.3 % (global relative norm); channels_last moved it by 0.35 %
    assert (step[True] - step[False]).norm() / step[False].norm() < 0.03


def test_features_agree_in_both_formats_and_the_protocol_says_which(tiny_prepared):
    from skingan.data.prepared import open_prepared

    extractor = F.build_extractor("lite0", resize=64)
    assert extractor.channels_last is F.CPU_CHANNELS_LAST["lite0"]
    images = open_prepared(tiny_prepared).images(64)[:6]
    extractor.channels_last = False
    nchw = extractor.features(images, batch_size=4)
    assert extractor.describe()["memory_format"] == "nchw"
    extractor.channels_last = True
    cl = extractor.features(images, batch_size=4)
    assert extractor.describe()["memory_format"] == "channels_last"
    np.testing.assert_allclose(cl, nchw, rtol=1e-4, atol=1e-4)
    assert F.prefers_channels_last("lite0", "cuda") is False and F.prefers_channels_last("unknown", "cpu") is False


@pytest.mark.parametrize("arch_config", ["dcgan64-seed", "sngan64", "projected64", "stylegan2-64"])
def test_gan_memory_format_on_cpu_is_the_measured_one_whatever_the_config(arch_config, monkeypatch):
    for configured in (False, True):
        config = load_config(GANConfig, arch_config, [f"train.channels_last={str(configured).lower()}"])
        arch = config.model.arch
        for measured in (False, True):
            monkeypatch.setitem(P.CPU_CHANNELS_LAST, arch, measured)
            precision, _ = P.build_precision(config, torch.device("cpu"))
            assert precision.channels_last is measured
            assert precision.memory_format == (torch.channels_last if measured else torch.preserve_format)
        assert P.use_channels_last(config, torch.device("cuda")) is configured  # CUDA: as configured


def test_gan_state_takes_the_chosen_format_and_trains_in_it(tiny_prepared, tmp_path, monkeypatch):
    for measured in (False, True):
        monkeypatch.setitem(P.CPU_CHANNELS_LAST, "sngan", measured)
        config = load_config(GANConfig, "gan-tiny32", ["train.steps=1", "train.batch_size=4"])
        state = build_state(config, 0, torch.device("cpu"), Dist())
        convs = [w for net in (state.G, state.D) for w in net.parameters() if w.dim() == 4 and w.shape[-1] > 1]
        assert convs and all(is_channels_last(w) is measured for w in convs)
        assert train(config, tiny_prepared, tmp_path / f"run-{measured}", seed=0, device="cpu",
                     progress=False).step == 1
