"""What a classifier run trains and is scored on: the synthetic rows it uses, its datasets and its loaders.

Only the training split is ever resampled or mixed with synthetic images; validation and test are read in
order, once each, at their natural class balance. `reseed_transform` lets the training loop reseed the
augmentations every epoch (and every loader worker), which is what makes resume exact.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skingan.classifier.config import ClassifierConfig
from skingan.classifier.model import backbone_normalization
from skingan.classifier.synthetic import (
    check_no_leakage,
    choose_synthetic,
    read_manifest,
    training_resolution,
)
from skingan.data.dataset import ConcatImageDataset, ImageArrayDataset, load_png_images, prepared_split
from skingan.data.prepared import PreparedSet
from skingan.data.transforms import build_eval_transform, build_transform
from skingan.distributed import Dist
from skingan.errors import UserError

log = logging.getLogger("skingan")


def select_synthetic(config: ClassifierConfig, prepared: PreparedSet, seed: int) -> Any:
    """The synthetic rows this run trains on (None when it uses none), after the leakage check."""
    if not config.uses_synthetic():
        return None
    if not config.synthetic.dir:
        raise UserError("synthetic.ratio/balance/only is set but no synthetic folder: pass --synthetic DIR")
    manifest = read_manifest(config.synthetic.dir)
    check_no_leakage(manifest, prepared.hash, config.synthetic.dir)
    train_targets = prepared.targets[prepared.indices("train")]
    counts = {t: int((train_targets == t).sum()) for t in (0, 1)}
    return choose_synthetic(manifest, counts, ratio=config.synthetic.ratio, balance=config.synthetic.balance,
                            only=config.synthetic.only, classes=config.synthetic.classes, seed=seed)


def synthetic_datasets(rows: Any, image_size: int, resize_mode: str, via: int | None = None) -> ImageArrayDataset:
    """Synthetic PNGs decoded and resized like the prepared cache (through `via` px when it is smaller), uint8."""
    images = load_png_images([Path(p) for p in rows["path"]], image_size, resize_mode, via)
    return ImageArrayDataset(images, np.arange(len(rows)), rows["target"].to_numpy(), rows["path"].tolist(),
                             "synthetic")


def build_datasets(config: ClassifierConfig, prepared: PreparedSet, synthetic_rows: Any = None,
                   seed: int = 0) -> dict[str, Any]:
    """train (real train split + synthetic, augmented), val and test (real, never augmented or mixed).

    Every training image, real or synthetic, passes through the run's matched size (`training_resolution`);
    `train.resolution` records it. Val and test are read from the cache as they are.
    """
    size = config.data.image_size
    resolution = training_resolution(config, synthetic_rows)
    via = resolution["matched_size"] if resolution["applied"] else None
    normalization = backbone_normalization(config.model.backbone)  # the statistics its weights expect
    train_transform = build_transform(config.augment.policy, size, seed=seed, normalization=normalization)
    parts = [] if config.synthetic.only else [prepared_split(prepared, "train", size, matched_size=via)]
    if synthetic_rows is not None and len(synthetic_rows):
        parts.append(synthetic_datasets(synthetic_rows, size, str(prepared.info.get("resize", "crop")), via))
    train = ConcatImageDataset(parts)
    train.set_transform(train_transform)
    train.resolution = resolution
    eval_transform = build_eval_transform(size, normalization)
    datasets = {"train": train, "val": prepared_split(prepared, "val", size, eval_transform),
                "test": prepared_split(prepared, "test", size, eval_transform)}
    for split in ("train", "val", "test"):
        if len(np.unique(datasets[split].targets)) < 2:
            raise UserError(f"prepared set '{prepared.root}': the {split} split needs both classes, benign and "
                            f"malignant (ROC-AUC is undefined otherwise; counts: {prepared.counts()[split]})")
    return datasets


def reseed_transform(dataset: Any, seed: int) -> None:
    parts = getattr(dataset, "parts", [dataset])
    for transform in {id(p.transform): p.transform for p in parts if p.transform is not None}.values():
        transform.set_random_seed(seed)


def _worker_init(worker_id: int) -> None:
    info = torch.utils.data.get_worker_info()
    reseed_transform(info.dataset, int(info.seed % 2**31))


def build_train_sampler(dataset: Any, sampler: str, ddp: Dist) -> Any:
    """The training sampler: imbalanced resampling (torchsampler), or a (distributed) shuffle."""
    if sampler == "imbalanced":
        from torchsampler import ImbalancedDatasetSampler

        # Under DDP each rank draws its own share with replacement from its own seeded stream.
        return ImbalancedDatasetSampler(dataset, labels=dataset.get_labels(),
                                        num_samples=math.ceil(len(dataset) / ddp.world))
    if ddp.enabled:
        from torch.utils.data.distributed import DistributedSampler

        return DistributedSampler(dataset, num_replicas=ddp.world, rank=ddp.rank, shuffle=True)
    return None


def build_loaders(datasets: dict[str, Any], config: ClassifierConfig, ddp: Dist | None = None,
                  device: str = "cpu") -> dict[str, Any]:
    """Train: resampled or shuffled. Val/test: sequential, every image once, natural class balance."""
    from torch.utils.data import DataLoader

    ddp = ddp or Dist()
    workers = config.data.workers
    common = {"num_workers": workers, "pin_memory": device == "cuda", "persistent_workers": False,
              "worker_init_fn": _worker_init if workers else None}
    sampler = build_train_sampler(datasets["train"], config.train.sampler, ddp)
    per_epoch = len(sampler) if sampler is not None else len(datasets["train"])
    lonely = per_epoch % config.train.batch_size == 1 and per_epoch > 1  # batch norm cannot train on one image
    if lonely:
        log.info("dropping the last training batch of each epoch: it would hold a single image")
    loaders = {"train": DataLoader(datasets["train"], batch_size=config.train.batch_size,
                                   sampler=sampler, shuffle=sampler is None, drop_last=lonely, **common)}
    for split in ("val", "test"):
        loaders[split] = DataLoader(datasets[split], batch_size=config.train.eval_batch_size, shuffle=False,
                                    **common)
    return loaders
