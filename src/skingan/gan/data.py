"""A GAN's real images: the prepared set's uint8 cache (training split, chosen classes) and batches by number."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from skingan.data.prepared import PreparedSet
from skingan.distributed import Dist
from skingan.errors import UserError


@dataclass
class TrainingData:
    images: torch.Tensor          # uint8 (N, S, S, 3), the training split of the chosen classes
    labels: torch.Tensor          # int64 (N,), position in config.data.classes
    prepared: PreparedSet


def load_training_data(prepared: PreparedSet, config: Any) -> TrainingData:
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
