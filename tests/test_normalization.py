"""Input normalisation: EfficientNet-Lite is fed (x − 127) / 128, b0…b7 ImageNet mean/std; records say which.

The evidence that Lite weights want Lite statistics is in the weights themselves: the stem's batch norm holds
the running variance of its input convolution over ImageNet. Images with ImageNet's pixel statistics
(real ISIC images re-standardised per channel to ImageNet's mean/std) normalised the Lite way give stem
activations near that variance; normalised with ImageNet mean/std they are (0.5 / 0.226)² ≈ 5× too large.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from skingan.classifier.checkpoints import check_resume_compatible
from skingan.classifier.config import ClassifierConfig
from skingan.classifier.evaluate import evaluate_checkpoint
from skingan.classifier.model import (
    backbone_normalization,
    build_classifier,
    checkpoint_normalization,
    load_trained_classifier,
    model_meta,
)
from skingan.config import load_config, to_dict
from skingan.data.prepared import open_prepared
from skingan.data.transforms import (
    IMAGENET,
    LITE,
    build_eval_transform,
    build_transform,
    normalization_from_values,
)
from skingan.errors import UserError
from skingan.evaluation.features import build_extractor


@pytest.fixture(scope="module")
def imagenet_like(isic2017) -> torch.Tensor:
    """32 real ISIC 2017 training images at 128 px in [0, 1], re-standardised to ImageNet's pixel mean/std."""
    from PIL import Image

    labels = pd.read_csv(isic2017 / "labels.csv")
    rows = labels[labels["split"] == "train"].sample(32, random_state=0)
    images = np.stack([np.asarray(Image.open(isic2017 / p).convert("RGB").resize((128, 128))) for p in rows["image"]])
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    mean, std = x.mean((0, 2, 3), keepdim=True), x.std((0, 2, 3), keepdim=True)
    return ((x - mean) / std * torch.tensor(IMAGENET.std).view(1, 3, 1, 1)
            + torch.tensor(IMAGENET.mean).view(1, 3, 1, 1))


def stem_variance_ratio(backbone: torch.nn.Module, x: torch.Tensor, normalization) -> float:
    """Observed / expected (batch norm running) variance of the stem convolution, summed over live channels."""
    mean = torch.tensor(normalization.mean).view(1, 3, 1, 1)
    std = torch.tensor(normalization.std).view(1, 3, 1, 1)
    with torch.no_grad():
        out = backbone._conv_stem((x - mean) / std)
    expected = backbone._bn0.running_var
    live = expected > 1e-3
    return float(out.var(dim=(0, 2, 3))[live].sum() / expected[live].sum())


def test_lite_weights_expect_lite_statistics_not_imagenet(imagenet_like):
    backbone = build_classifier("efficientnet-lite0", image_size=128, pretrained=True).backbone.eval()
    lite = stem_variance_ratio(backbone, imagenet_like, LITE)
    imagenet = stem_variance_ratio(backbone, imagenet_like, IMAGENET)
    assert 0.5 < lite < 1.5, lite  # measured 0.67
    assert imagenet > 2.5, imagenet  # measured 3.35: ImageNet mean/std over-drive the stem
    assert imagenet / lite == pytest.approx((LITE.std[0] / 0.226) ** 2, rel=0.15)  # ≈ 4.9
    assert abs(np.log(lite)) < abs(np.log(imagenet)) / 2


def test_pooled_features_depend_on_the_normalisation(imagenet_like):
    """Lite0's pooled features of the same images under the two normalisations are far from identical."""
    backbone = build_classifier("efficientnet-lite0", image_size=128, pretrained=True).backbone.eval()
    feats = []
    for norm in (LITE, IMAGENET):
        x = (imagenet_like - torch.tensor(norm.mean).view(1, 3, 1, 1)) / torch.tensor(norm.std).view(1, 3, 1, 1)
        with torch.no_grad():
            feats.append(backbone.extract_features(x).mean((2, 3)))
    cosine = torch.nn.functional.cosine_similarity(*feats).mean().item()
    assert cosine < 0.95, cosine


def test_backbones_get_the_statistics_of_their_weights_and_meta_records_them():
    assert backbone_normalization("efficientnet-lite0") is LITE
    assert all(backbone_normalization(f"efficientnet-b{i}") is IMAGENET for i in range(8))
    for backbone, expected in (("efficientnet-lite0", LITE), ("efficientnet-b0", IMAGENET)):
        config = load_config(ClassifierConfig, "efficientnet", [f"model.backbone={backbone}"])
        meta = model_meta(config, "hash")
        assert meta["normalization"] == expected.describe() and meta["normalization"]["name"] == expected.name
        assert meta["mean"] == list(expected.mean) and meta["std"] == list(expected.std)
    assert LITE.describe() == {"name": "lite", "mean": [127 / 255] * 3, "std": [128 / 255] * 3}


def test_lite_transform_is_x_minus_127_over_128():
    pixels = np.array([0, 127, 255, 191], dtype=np.uint8)
    image = np.broadcast_to(pixels.reshape(2, 2, 1), (2, 2, 3)).copy()
    lite = build_transform("none", 2, normalization=LITE)(image=image)["image"]
    np.testing.assert_allclose(lite[..., 0].ravel(), (pixels.astype(float) - 127) / 128, atol=1e-6)
    default = build_eval_transform(2)(image=image)["image"]  # the default is still ImageNet
    np.testing.assert_allclose(default[..., 0].ravel(), (pixels / 255 - 0.485) / 0.229, atol=1e-5)


def _save_checkpoint(path, meta_extra: dict, threshold: float = 0.5) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_classifier("efficientnet-lite0", image_size=64, pretrained=True)
    meta = {"backbone": "efficientnet-lite0", "image_size": 64, "dropout": 0.3, "freeze_blocks": 0,
            "bn_trainable": True, "prepared_hash": "other", **meta_extra}
    torch.save({"model": model.state_dict(), "meta": meta, "threshold": threshold}, path)
    return model.eval()


@pytest.mark.parametrize("recorded, expected", [
    ({"mean": list(IMAGENET.mean), "std": list(IMAGENET.std)}, IMAGENET),  # every checkpoint before the record
    ({}, IMAGENET),  # no statistics at all: what every older skingan classifier was trained with
    ({"normalization": LITE.describe(), "mean": list(LITE.mean), "std": list(LITE.std)}, LITE),
])
def test_a_checkpoint_is_evaluated_with_what_it_recorded(tmp_path, tiny_prepared, recorded, expected):
    path = tmp_path / "best.pt"
    model = _save_checkpoint(path, recorded)
    _, meta = load_trained_classifier(path)
    assert meta["normalization"] == expected.describe()
    out = tmp_path / "eval"
    report = evaluate_checkpoint(path, tiny_prepared, split="test", out=out, bootstrap=0)
    assert report["normalization"] == expected.describe()
    # the probabilities written are the model's on images normalised exactly as recorded
    prepared = open_prepared(tiny_prepared)
    images = torch.from_numpy(np.asarray(prepared.images(64)[prepared.indices("test")])).permute(0, 3, 1, 2) / 255
    x = (images - torch.tensor(expected.mean).view(1, 3, 1, 1)) / torch.tensor(expected.std).view(1, 3, 1, 1)
    with torch.no_grad():
        want = torch.sigmoid(model(x.float())).numpy()
    written = pd.read_csv(out / "predictions.csv")["probability"].to_numpy()
    np.testing.assert_allclose(written, want, atol=2e-5)
    extractor = build_extractor(f"classifier:{path}")
    assert extractor.describe()["normalisation"] == expected.describe()


def test_bad_recorded_normalisation_is_a_one_line_error(tmp_path):
    with pytest.raises(UserError, match=r"'ck.pt': normalization std=\[0, 1, 1\] is not three finite numbers > 0"):
        checkpoint_normalization({"normalization": {"name": "x", "mean": [0, 0, 0], "std": [0, 1, 1]}}, "ck.pt")
    with pytest.raises(UserError, match="meta.normalization='lite' is not a"):
        checkpoint_normalization({"normalization": "lite"}, "ck.pt")
    with pytest.raises(UserError, match=r"normalization mean=\[0.5\] is not three"):
        normalization_from_values([0.5], [1, 1, 1], source="x")
    assert normalization_from_values([0.1, 0.2, 0.3], [1, 1, 1], name="mine").name == "mine"
    assert normalization_from_values(list(LITE.mean), list(LITE.std)) is LITE


def test_resume_refuses_a_run_trained_with_other_statistics():
    config = load_config(ClassifierConfig, "efficientnet")
    old = {"model": {}, "optimizer": {}, "scaler": {}, "epoch": 1, "best_auc": 0.5, "best_epoch": 1,
           "bad_epochs": 0, "history": [], "seed": 0, "config": to_dict(config),
           "meta": {"prepared_hash": "h", "mean": list(IMAGENET.mean), "std": list(IMAGENET.std)}}
    with pytest.raises(UserError, match="imagenet.*lite.*start a new run"):
        check_resume_compatible(config, old, "h", "last.pt")
    old["meta"] = model_meta(config, "h")
    check_resume_compatible(config, old, "h", "last.pt")  # the same statistics resume


def test_feature_extractors_record_their_normalisation():
    lite0 = build_extractor("lite0", resize=64)
    assert lite0.describe()["normalisation"] == LITE.describe()
    assert json.loads(json.dumps(lite0.describe()))["memory_format"] in ("nchw", "channels_last")
