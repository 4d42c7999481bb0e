"""Throughput of `skingan train-gan` vs a minimal plain-PyTorch DCGAN loop, side by side on one machine.

    python scripts/bench_gan.py --data /tmp/prepared --steps 20                  # CPU: dcgan64 vs plain loop
    python scripts/bench_gan.py --modes fp32_nchw,fp32_cl --configs dcgan64,sngan64 --no-baseline  # CPU formats
    python scripts/bench_gan.py --device cuda --modes fp32,amp,amp_cl --configs dcgan128,sngan128

Our trainer runs through `skingan.gan.train.train` (the real loop, with logging, NaN checks and the final
checkpoint); its images/s come from the metrics of the timed window after the warm-up steps. The baseline is
the PyTorch DCGAN tutorial loop on the same uint8 images, architecture (dcgan64-seed: transposed
convolutions, batch norm, BCE, Adam 0.5/0.999, no EMA, no DiffAugment) and batch. Runs alternate
(ours, plain, ours, plain, ...) and the best of the repeats is reported, because the machine may be shared.

Modes: `fp32` is what `train-gan` does by itself (on a CPU the memory format of `gan/precision.py`'s measured
table); `fp32_nchw` / `fp32_cl` force NCHW / channels_last (how that table was measured); `amp`, `amp_cl` (CUDA).
The plain loop runs NCHW (`--plain-formats nchw,channels_last` adds a channels_last copy of it).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from skingan.config import load_config
from skingan.gan import precision
from skingan.gan.config import GANConfig
from skingan.gan.train import train

MODES = {"fp32": [], "fp32_nchw": [], "fp32_cl": ["train.channels_last=true"], "amp": ["train.amp=true"],
         "amp_cl": ["train.amp=true", "train.channels_last=true"]}
FORCED_CPU_FORMAT = {"fp32_nchw": False, "fp32_cl": True}  # else the project's own choice


def random_prepared_set(root: Path, sizes: set[int], n: int = 512) -> Path:
    """A throughput-only prepared set of random images (no real data needed on a bare GPU machine)."""
    import pandas as pd

    from skingan.data.prepared import write_prepared_set

    rng = np.random.default_rng(0)
    metadata = pd.DataFrame({"image_id": [f"R{i}" for i in range(n)], "path": "", "target": [i % 2 for i in range(n)],
                             "split": "train"})
    caches = {s: rng.integers(0, 256, (n, s, s, 3), dtype=np.uint8) for s in sizes}
    write_prepared_set(root, metadata, caches, {"source": "random"})
    return root


def bench_ours(name: str, mode: str, data: Path, steps: int, warmup: int, batch: int, device: str,
               work: Path) -> dict:
    overrides = [f"train.steps={warmup + steps}", f"train.batch_size={batch}", f"train.log_every={warmup}",
                 "train.checkpoint_every=1000000", "train.sample_every=1000000", "train.collapse_patience=0",
                 "train.amp=false", "train.channels_last=false", *MODES[mode]]
    if name == "dcgan64-seed":
        overrides.append("train.n_critic=1")
    config = load_config(GANConfig, name, overrides)
    out = work / f"{name}-{mode}-{time.time_ns()}"
    table = dict(precision.CPU_CHANNELS_LAST)
    if mode in FORCED_CPU_FORMAT:
        precision.CPU_CHANNELS_LAST[config.model.arch] = FORCED_CPU_FORMAT[mode]
    try:
        result = train(config, data, out, seed=0, device=device, progress=False)
    finally:
        precision.CPU_CHANNELS_LAST.clear()
        precision.CPU_CHANNELS_LAST.update(table)
    with open(out / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    rate = float(rows[-1]["images_per_s"])  # the window after the warm-up log row
    return {"images_per_s": rate, "load_share": result.load_share}


class PlainDCGAN:
    """The PyTorch DCGAN tutorial at 64 px (nz 256 as dcgan64-seed), logits + BCEWithLogits."""

    def __init__(self, nz: int, device: str) -> None:
        ngf = ndf = 64
        self.nz, self.device = nz, device
        self.G = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh()).to(device)
        self.D = nn.Sequential(
            nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False)).to(device)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.bce = nn.BCEWithLogitsLoss()

    def step(self, real: torch.Tensor) -> None:
        b = real.shape[0]
        ones, zeros = torch.full((b,), 0.9, device=self.device), torch.zeros(b, device=self.device)
        fake = self.G(torch.randn(b, self.nz, 1, 1, device=self.device))
        self.opt_D.zero_grad()
        loss_d = self.bce(self.D(real).view(-1), ones) + self.bce(self.D(fake.detach()).view(-1), zeros)
        loss_d.backward()
        self.opt_D.step()
        self.opt_G.zero_grad()
        loss_g = self.bce(self.D(fake).view(-1), torch.ones(b, device=self.device))
        loss_g.backward()
        self.opt_G.step()
        loss_g.item()  # one sync per step, as any loop that logs or checks its losses


def bench_plain(data: Path, steps: int, warmup: int, batch: int, device: str, fmt: str = "nchw") -> dict:
    from skingan.data.prepared import open_prepared

    prepared = open_prepared(data)
    rows = prepared.indices("train", ["malignant"])
    images = torch.from_numpy(np.ascontiguousarray(prepared.images(64)[rows]))
    torch.manual_seed(0)
    model = PlainDCGAN(256, device)
    memory = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
    model.G.to(memory_format=memory)
    model.D.to(memory_format=memory)
    load = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            start, load = time.perf_counter(), 0.0
        t0 = time.perf_counter()
        idx = torch.randint(0, len(images), (batch,))
        real = images[idx].to(device).permute(0, 3, 1, 2).float().div(127.5).sub(1).contiguous(memory_format=memory)
        load += time.perf_counter() - t0
        model.step(real)
    seconds = time.perf_counter() - start
    return {"images_per_s": steps * batch / seconds, "load_share": load / seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="a prepared set (default: random images, throughput only)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--configs", default="dcgan64-seed", help="comma-separated train-gan configs")
    parser.add_argument("--modes", default="fp32", help=f"comma-separated: {', '.join(MODES)}")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="alternating repeats; the best is reported")
    parser.add_argument("--no-baseline", action="store_true", help="skip the plain-PyTorch DCGAN-64 loop")
    parser.add_argument("--plain-formats", default="nchw", help="memory formats of the plain loop: nchw, channels_last")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    modes = args.modes.split(",")
    names = args.configs.split(",")
    for mode in modes:
        if mode not in MODES:
            parser.error(f"--modes: '{mode}' is not known; accepted: {', '.join(MODES)}")
    work = Path(tempfile.mkdtemp(prefix="bench_gan-"))
    sizes = {load_config(GANConfig, n).model.image_size for n in names} | {64}
    data = args.data or random_prepared_set(work / "prepared", sizes)
    results: dict[str, list[dict]] = {}
    for _ in range(args.repeats):
        for name in names:
            for mode in modes:
                results.setdefault(f"{name} {mode}", []).append(
                    bench_ours(name, mode, data, args.steps, args.warmup, args.batch, args.device, work))
        if not args.no_baseline:
            for fmt in args.plain_formats.split(","):
                key = "plain-pytorch dcgan64 fp32" + ("" if fmt == "nchw" else f" {fmt}")
                results.setdefault(key, []).append(
                    bench_plain(data, args.steps, args.warmup, args.batch, args.device, fmt))
    table = {key: {"images_per_s": max(r["images_per_s"] for r in runs),
                   "all_images_per_s": [round(r["images_per_s"], 2) for r in runs],
                   "load_share": statistics.median(r["load_share"] for r in runs)} for key, runs in results.items()}
    print(f"device {args.device} ({torch.cuda.get_device_name() if args.device == 'cuda' else 'CPU'}), "
          f"batch {args.batch}, {args.steps} timed steps after {args.warmup}, best of {args.repeats}")
    print("| run | images/s (best) | all repeats | data-loading share |")
    print("|---|---|---|---|")
    for key, row in table.items():
        print(f"| {key} | {row['images_per_s']:.1f} | {row['all_images_per_s']} | {row['load_share']:.1%} |")
    chosen = "fp32_cl" if precision.CPU_CHANNELS_LAST.get("dcgan") else "fp32_nchw"  # what fp32 does on a CPU
    ours = table.get("dcgan64-seed fp32") or (table.get(f"dcgan64-seed {chosen}") if args.device == "cpu" else None)
    plain = table.get("plain-pytorch dcgan64 fp32")
    if ours and plain:
        ratio = ours["images_per_s"] / plain["images_per_s"]
        table["ratio_ours_vs_plain"] = {"value": ratio}
        print(f"ours / plain NCHW = {ratio:.3f} (goal on CPU: >= 1.1)")
    for name in names:
        cl, nchw = table.get(f"{name} fp32_cl"), table.get(f"{name} fp32_nchw")
        if cl and nchw:
            ratio = cl["images_per_s"] / nchw["images_per_s"]
            table[f"ratio {name} channels_last_vs_nchw"] = {"value": ratio}
            print(f"{name}: channels_last / NCHW = {ratio:.3f}")
    if args.json:
        args.json.write_text(json.dumps(table, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
