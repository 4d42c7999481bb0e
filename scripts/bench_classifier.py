"""Classifier and feature-extraction speed on this machine, ours vs a plain PyTorch loop, side by side.

    python scripts/bench_classifier.py [--data PREPARED] [--iterations 8] [--repeats 3] [--size 128] [--batch 32]
    python scripts/bench_classifier.py --features-only --feature-batches 32,64      # evaluate-gan extractors only

**Training** (s/iteration of forward, BCE-with-logits, backward, AdamW), per backbone, in both memory formats:
- `ours`: the project's dataset, albumentations transform (light policy, the backbone's normalisation),
  DataLoader and `train_one_epoch` (with its loss checks, tqdm off, per-step `.item()`), in each format; the
  ratio uses the format the project chooses by itself (`classifier.model.prefers_channels_last`);
- `plain`: a minimal loop written here on the same uint8 images, model, batch and optimiser: a random batch,
  NCHW float, normalise, random flips as tensor ops, one step, `loss.item()`.
**Evaluation**: `inference.predict` over `--eval-images` images, both formats.
**Features** (`--features`): images/s of the evaluate-gan extractors on 64-px uint8 images resized to their
input size, NCHW vs channels_last at each `--feature-batches`, against today's default (NCHW, batch 64).

Runs alternate (every variant once per repeat, in turn) and the best of the repeats is reported, because the
machine may be shared; the ratios are what to read. A full epoch is extrapolated for 2,000 training images.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from skingan.classifier.inference import predict
from skingan.classifier.model import backbone_normalization, build_classifier, prefers_channels_last
from skingan.classifier.train_epoch import train_one_epoch
from skingan.data.dataset import ConcatImageDataset, ImageArrayDataset
from skingan.data.transforms import build_eval_transform, build_transform

EPOCH_IMAGES = 2000
FORMATS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}


def bench_images(data: str | None, size: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` training images of the prepared set at `size` px (uint8 NHWC), else random ones."""
    if data:
        from skingan.data.prepared import open_prepared

        prepared = open_prepared(data)
        rows = prepared.indices("train")[:n]
        return np.asarray(prepared.images(size)[rows]), prepared.targets[rows]
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), rng.integers(0, 2, n)


def fresh_model(backbone: str, size: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_classifier(backbone, image_size=size, pretrained=backbone == "efficientnet-lite0")


def bench_ours(backbone: str, images: np.ndarray, targets: np.ndarray, batch: int, fmt: str) -> float:
    """s/iteration through the project's loader and train_one_epoch; fmt 'auto' lets the project choose."""
    from torch.utils.data import DataLoader

    size = images.shape[1]
    transform = build_transform("light", size, seed=0, normalization=backbone_normalization(backbone))
    dataset = ConcatImageDataset([ImageArrayDataset(images, np.arange(len(images)), targets,
                                                    [str(i) for i in range(len(images))], "real", transform)])
    loader = DataLoader(dataset, batch_size=batch, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(0))
    model = fresh_model(backbone, size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
    criterion = torch.nn.BCEWithLogitsLoss()
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    channels_last = None if fmt == "auto" else fmt == "channels_last"
    train_one_epoch(model, criterion, optimizer, [next(iter(loader))], "cpu", scaler=scaler, progress=False,
                    channels_last=channels_last)  # the first step allocates: not timed
    row = train_one_epoch(model, criterion, optimizer, loader, "cpu", scaler=scaler, progress=False,
                          channels_last=channels_last)
    return row["s_per_iteration"]


def bench_plain(backbone: str, images: np.ndarray, targets: np.ndarray, batch: int, fmt: str,
                iterations: int) -> float:
    """s/iteration of a minimal PyTorch loop on the same uint8 images, model, batch and optimiser."""
    memory = FORMATS[fmt]
    norm = backbone_normalization(backbone)
    mean = torch.tensor(norm.mean).view(1, 3, 1, 1) * 255
    std = torch.tensor(norm.std).view(1, 3, 1, 1) * 255
    pixels, labels = torch.from_numpy(images), torch.from_numpy(np.asarray(targets)).float()
    model = fresh_model(backbone, images.shape[1]).to(memory_format=memory).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
    criterion = torch.nn.BCEWithLogitsLoss()
    generator = torch.Generator().manual_seed(0)
    seconds = 0.0
    for i in range(iterations + 1):
        start = time.perf_counter()
        idx = torch.randperm(len(pixels), generator=generator)[:batch]
        x = (pixels[idx].permute(0, 3, 1, 2).float() - mean) / std
        if torch.rand(1, generator=generator) < 0.5:
            x = x.flip(3)
        if torch.rand(1, generator=generator) < 0.5:
            x = x.flip(2)
        x = x.contiguous(memory_format=memory)
        loss = criterion(model(x), labels[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()
        if i:  # the first step allocates: not timed
            seconds += time.perf_counter() - start
    return seconds / iterations


def bench_eval(backbone: str, images: np.ndarray, targets: np.ndarray, fmt: str, batch: int = 64) -> float:
    """images/s of inference.predict over the images (the eval transform, the project's loader)."""
    from torch.utils.data import DataLoader

    size = images.shape[1]
    dataset = ImageArrayDataset(images, np.arange(len(images)), targets, [str(i) for i in range(len(images))],
                                "real", build_eval_transform(size, backbone_normalization(backbone)))
    loader = DataLoader(dataset, batch_size=batch, shuffle=False)
    model = fresh_model(backbone, size)
    predict(model, [next(iter(loader))], "cpu", channels_last=fmt == "channels_last")
    start = time.perf_counter()
    predict(model, loader, "cpu", channels_last=fmt == "channels_last")
    return len(images) / (time.perf_counter() - start)


def build_feature_extractors(names: list[str]) -> dict:
    """The evaluate-gan extractors by name; inception with random weights when its file is absent (speed only)."""
    from skingan.errors import UserError
    from skingan.evaluation.features import Extractor, build_extractor

    extractors = {}
    for name in names:
        try:
            extractors[name] = build_extractor(name)
        except UserError:
            if name != "inception":
                raise
            from skingan.evaluation.inception import FIDInceptionV3

            extractors[name] = Extractor("inception", FIDInceptionV3().eval(), 299, (0.5,) * 3, (0.5,) * 3,
                                         "random weights", "", dim=2048, kind="inception")
    return extractors


def bench_features(extractor: object, images: np.ndarray, fmt: str, batch: int) -> float:
    extractor.channels_last = fmt == "channels_last"
    extractor.features(images[:2], batch_size=2)  # warm-up
    start = time.perf_counter()
    extractor.features(images, batch_size=batch)
    return len(images) / (time.perf_counter() - start)


def training_table(args: argparse.Namespace, images: np.ndarray, targets: np.ndarray) -> dict:
    runs: dict[str, list[float]] = {}
    variants = [(kind, backbone, fmt) for backbone in args.backbones.split(",")
                for kind, fmt in (("ours", "nchw"), ("ours", "channels_last"), ("plain", "nchw"),
                                  ("plain", "channels_last"), ("eval", "nchw"), ("eval", "channels_last"))]
    eval_images = images[:args.eval_images]
    for _ in range(args.repeats):
        for kind, backbone, fmt in variants:
            if kind == "ours":
                value = bench_ours(backbone, images, targets, args.batch, fmt)
            elif kind == "plain":
                value = bench_plain(backbone, images, targets, args.batch, fmt, args.iterations)
            else:
                value = bench_eval(backbone, eval_images, targets[:args.eval_images], fmt)
            runs.setdefault(f"{kind} {backbone} {fmt}", []).append(value)
            print(f"  {kind} {backbone} {fmt}: {value:.3f}", file=sys.stderr, flush=True)
    table = {}
    for key, values in runs.items():
        is_rate = key.startswith("eval")
        best = max(values) if is_rate else min(values)
        table[key] = {("images_per_s" if is_rate else "s_per_iteration"): round(best, 3),
                      "all": [round(v, 3) for v in values]}
    for backbone in args.backbones.split(","):
        auto = "channels_last" if prefers_channels_last(fresh_model(backbone, 32), "cpu") else "nchw"
        ours = table[f"ours {backbone} {auto}"]["s_per_iteration"]  # what train-classifier uses by itself
        plain_cl = table[f"plain {backbone} channels_last"]["s_per_iteration"]
        plain_nchw = table[f"plain {backbone} nchw"]["s_per_iteration"]
        table[f"ratio {backbone}"] = {"auto_format": auto, "plain_channels_last_over_ours": round(plain_cl / ours, 3),
                                      "plain_nchw_over_ours": round(plain_nchw / ours, 3),
                                      "s_per_epoch_2000_images": round(ours * EPOCH_IMAGES / args.batch, 1)}
    return table


def features_table(args: argparse.Namespace) -> dict:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.feature_images, 64, 64, 3), dtype=np.uint8)
    extractors = build_feature_extractors(args.features.split(","))
    batches = [int(b) for b in args.feature_batches.split(",")]
    runs: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name, extractor in extractors.items():
            for batch in batches:
                for fmt in FORMATS:
                    value = bench_features(extractor, images, fmt, batch)
                    runs.setdefault(f"features {name} {fmt} batch {batch}", []).append(value)
                    print(f"  features {name} {fmt} batch {batch}: {value:.2f} images/s", file=sys.stderr, flush=True)
    table = {key: {"images_per_s": round(max(v), 2), "all": [round(x, 2) for x in v]} for key, v in runs.items()}
    for name in extractors:
        before = table.get(f"features {name} nchw batch 64") or table[f"features {name} nchw batch {batches[0]}"]
        best_key = max((k for k in table if k.startswith(f"features {name} ")), key=lambda k: table[k]["images_per_s"])
        table[f"ratio features {name}"] = {"best": best_key, "best_over_nchw_batch64": round(
            table[best_key]["images_per_s"] / before["images_per_s"], 3)}
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="a prepared set with a cache of --size (else random images)")
    parser.add_argument("--iterations", type=int, default=8, help="timed training steps per run")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats; the best is reported")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--backbones", default="efficientnet-lite0", help="comma-separated, e.g. "
                        "efficientnet-lite0,efficientnet-b0")
    parser.add_argument("--eval-images", type=int, default=128)
    parser.add_argument("--features", default="lite0", help="comma-separated extractors: lite0, lite2, inception")
    parser.add_argument("--feature-batches", default="32,64")
    parser.add_argument("--feature-images", type=int, default=128)
    parser.add_argument("--features-only", action="store_true")
    parser.add_argument("--no-features", action="store_true")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.time()
    table: dict = {}
    if not args.features_only:
        images, targets = bench_images(args.data, args.size, (args.iterations + 1) * args.batch)
        table.update(training_table(args, images, targets))
    if not args.no_features:
        table.update(features_table(args))
    print(f"CPU, torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
          f"{args.size} px, {args.iterations} timed steps, best of {args.repeats} alternating repeats, "
          f"{time.time() - started:.0f} s in all")
    for key, row in table.items():
        print(f"{key}: {json.dumps(row)}")
    if args.json:
        args.json.write_text(json.dumps(table, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
