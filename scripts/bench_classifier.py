"""Classifier training speed on this machine: s/iteration and images/s at 128 px for lite0 and b0.

Times real training steps (forward, BCE-with-logits, backward, AdamW) through the project's own loader
and `train_one_epoch`, on real images when a prepared set is given, else on random uint8 images:

    python scripts/bench_classifier.py [--data PREPARED] [--iterations 20] [--size 128] [--batch 32]

A full epoch is extrapolated for the ISIC 2017 training split (2,000 images).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from skingan.classifier import train as T
from skingan.classifier.model import build_classifier
from skingan.data.dataset import ConcatImageDataset, ImageArrayDataset
from skingan.data.transforms import build_transform

EPOCH_IMAGES = 2000


def bench_images(data: str | None, size: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    if data:
        from skingan.data.prepared import open_prepared

        prepared = open_prepared(data)
        rows = prepared.indices("train")[:n]
        return np.asarray(prepared.images(size)[rows]), prepared.targets[rows]
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), rng.integers(0, 2, n)


def bench(backbone: str, pretrained: bool, images: np.ndarray, targets: np.ndarray, batch: int,
          iterations: int) -> dict:
    from torch.utils.data import DataLoader

    size = images.shape[1]
    dataset = ConcatImageDataset([ImageArrayDataset(images, np.arange(len(images)), targets,
                                                    [str(i) for i in range(len(images))], "real",
                                                    build_transform("light", size, seed=0))])
    loader = DataLoader(dataset, batch_size=batch, shuffle=True, drop_last=True)
    model = build_classifier(backbone, image_size=size, pretrained=pretrained)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
    criterion = torch.nn.BCEWithLogitsLoss()
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    warm = T.train_one_epoch(model, criterion, optimizer, [next(iter(loader))], "cpu", scaler=scaler,
                             progress=False)  # first step allocates; not timed
    del warm
    row = T.train_one_epoch(model, criterion, optimizer, loader, "cpu", scaler=scaler, progress=False)
    return {"backbone": backbone, "pretrained": pretrained, "image_size": size, "batch_size": batch,
            "iterations": iterations, "s_per_iteration": round(row["s_per_iteration"], 3),
            "images_per_s": round(row["images_per_s"], 1),
            "s_per_epoch_2000_images": round(EPOCH_IMAGES / row["images_per_s"], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="a prepared set with a cache of --size (else random images)")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    images, targets = bench_images(args.data, args.size, args.iterations * args.batch)
    started = time.time()
    rows = [bench(name, pretrained, images, targets, args.batch, args.iterations)
            for name, pretrained in (("efficientnet-lite0", True), ("efficientnet-b0", False))]
    for row in rows:
        print(json.dumps(row))
    print(f"torch threads {torch.get_num_threads()}, {time.time() - started:.0f} s in all")


if __name__ == "__main__":
    main()
