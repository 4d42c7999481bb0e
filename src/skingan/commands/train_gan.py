"""skingan train-gan: train a generator family (registered in skingan.gan.registry) on a prepared set's
training images."""

from __future__ import annotations

import argparse
from pathlib import Path

from skingan.commands._common import add_common, add_config, add_tensorboard

NAME = "train-gan"
HELP = ("train a GAN (DCGAN, WGAN-GP, AC-GAN, SNGAN, Projected GAN, StyleGAN2-ADA; 32/64/128 px) on the "
        "training split of a prepared set")
EXAMPLE = ("skingan train-gan --config sngan64 --data data/prepared --out outputs/gan/sngan64 "
           "--set train.steps=2000")
RESUME_HINT = "Add --resume to the same command to continue from checkpoints/last.pt (exactly)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common(parser, out_default=None, out_help="run folder (config, metrics.csv, samples/, checkpoints/last.pt)")
    add_config(parser, default="sngan64")
    parser.add_argument("--data", type=Path, required=True, help="a prepared set (from 'skingan prepare')")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from checkpoints/last.pt (exactly)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_tensorboard(parser)


def run(args: argparse.Namespace) -> int:
    from skingan.config import load_config, to_yaml
    from skingan.gan.config import GANConfig

    config = load_config(GANConfig, args.config, args.overrides)
    if args.dry_run:
        print(to_yaml(config), end="")
        return 0
    from skingan.distributed import init_distributed
    from skingan.gan.train import train
    from skingan.runs import resolve_device

    device = resolve_device(args.device)
    result = train(config, args.data, args.out, seed=args.seed, device=device, resume=args.resume,
                   progress=not args.no_progress)
    if init_distributed(device).main:
        if result.stopped_by == "max_minutes":
            print(f"train-gan: train.max_minutes={config.train.max_minutes:g} reached at step {result.step} of "
                  f"{config.train.steps}; checkpoint {result.checkpoint}. Add --resume to the same command to "
                  "continue exactly.")
            return 0
        print(f"train-gan: {config.model.arch}{config.model.image_size} reached step {result.step} "
              f"({result.images_per_s:.1f} images/s); checkpoint {result.checkpoint}, samples in "
              f"{result.out / 'samples'}, metrics in {result.out / 'metrics.csv'}")
    return 0
