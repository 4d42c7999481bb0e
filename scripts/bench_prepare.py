"""Benchmark `skingan prepare`: decode throughput, draft mode, and cache vs JPEG reading per epoch.

    .venv/bin/python scripts/bench_prepare.py                      # ../shared/data, results printed
    .venv/bin/python scripts/bench_prepare.py --json bench.json    # also written as JSON

Measures, on this machine:
  1. images/s of the whole prepare pipeline on the 2,150 ISIC 2017 256-px images (1 and N workers);
  2. images/s decoding the 40 full-resolution originals, with and without JPEG draft mode;
  3. seconds per epoch of a batch stream (batch 64, shuffled, 128 px, float tensors in [-1, 1]) read from the
     uint8 cache vs decoding + resizing the JPEGs every epoch, measured side by side in one process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from skingan.data.prepare import PrepareParams, decode_all, prepare
from skingan.data.prepared import open_prepared

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SKINGAN_SHARED_DATA", REPO.parent / "shared" / "data"))


def timed(function, repeats: int) -> float:
    """Median wall time of `repeats` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_prepare_2017(folder: Path, out: Path, workers: int) -> float:
    params = PrepareParams(source="folder", input=folder, out=out, labels=folder / "labels.csv", id_col="isic_id",
                           keep_split="split", workers=workers, force=True)
    start = time.perf_counter()
    prepare(params)
    return time.perf_counter() - start


def bench_fullres(folder: Path, draft: bool, repeats: int, largest: int | None = None) -> float:
    table = pd.read_csv(folder / "labels.csv")
    if largest:
        table = table.assign(pixels=table["width"] * table["height"]).nlargest(largest, "pixels")
    table = table.assign(path=[str(folder / p) for p in table["image"]], image_id=table["isic_id"])
    return timed(lambda: decode_all(table, {}, [64, 128], "crop", draft, workers=1), repeats)


def to_tensor(batch: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def epoch_from_cache(cache: np.ndarray, batch: int, rng: np.random.Generator) -> float:
    order = rng.permutation(len(cache))
    total = 0.0
    for start in range(0, len(order), batch):
        index = np.sort(order[start:start + batch])
        total += float(to_tensor(np.asarray(cache[index])).mean())
    return total


def epoch_from_jpegs(paths: list[Path], size: int, batch: int, rng: np.random.Generator) -> float:
    order = rng.permutation(len(paths))
    total = 0.0
    for start in range(0, len(order), batch):
        images = [np.asarray(Image.open(paths[i]).convert("RGB").resize((size, size), Image.Resampling.LANCZOS))
                  for i in order[start:start + batch]]
        total += float(to_tensor(np.stack(images)).mean())
    return total


def bench_epochs(prepared_dir: Path, root: Path, size: int, batch: int, repeats: int) -> tuple[float, float]:
    prepared = open_prepared(prepared_dir)
    cache = prepared.images(size)
    paths = [root / p for p in prepared.metadata["path"]]
    rng = np.random.default_rng(0)
    cached = timed(lambda: epoch_from_cache(cache, batch, rng), repeats)
    decoded = timed(lambda: epoch_from_jpegs(paths, size, batch, rng), repeats)
    return cached, decoded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED, help="folder holding isic2017-256/ and isic-archive-fullres/")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 8))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    isic2017, fullres = args.data / "isic2017-256", args.data / "isic-archive-fullres"
    if not (isic2017 / "labels.csv").is_file() or not (fullres / "labels.csv").is_file():
        print(f"real images not found under {args.data}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    results: dict = {"cpu_count": os.cpu_count(), "workers": args.workers, "repeats": args.repeats}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "isic2017"
        for workers in sorted({1, args.workers}):
            seconds = min(bench_prepare_2017(isic2017, out, workers) for _ in range(args.repeats))
            results[f"prepare_2017_workers{workers}_img_per_s"] = round(2150 / seconds, 1)
        pixels = pd.read_csv(fullres / "labels.csv").eval("width * height").mean() / 1e6
        results["fullres_mean_megapixels"] = round(float(pixels), 2)
        for draft in (True, False):
            seconds = bench_fullres(fullres, draft, args.repeats)
            results[f"fullres_draft_{'on' if draft else 'off'}_img_per_s"] = round(40 / seconds, 1)
        large = pd.read_csv(fullres / "labels.csv").eval("width * height").nlargest(10).mean() / 1e6
        results["fullres_largest10_mean_megapixels"] = round(float(large), 2)
        for draft in (True, False):
            seconds = bench_fullres(fullres, draft, args.repeats, largest=10)
            results[f"fullres_largest10_draft_{'on' if draft else 'off'}_img_per_s"] = round(10 / seconds, 1)
        cached, decoded = bench_epochs(out, isic2017, 128, 64, args.repeats)
        results.update(epoch_2017_cache_s=round(cached, 3), epoch_2017_jpeg_s=round(decoded, 3),
                       epoch_2017_speedup=round(decoded / cached, 1))
        full_out = Path(tmp) / "fullres"
        prepare(PrepareParams(source="isic-json", input=fullres, out=full_out, sizes=[128], workers=1))
        cached, decoded = bench_epochs(full_out, fullres, 128, 8, args.repeats)
        results.update(epoch_fullres40_cache_ms_per_img=round(cached / 40 * 1000, 3),
                       epoch_fullres40_jpeg_ms_per_img=round(decoded / 40 * 1000, 1),
                       epoch_fullres40_speedup=round(decoded / cached, 1))
    width = max(map(len, results))
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
