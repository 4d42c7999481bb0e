"""skingan sample: N synthetic images per class from a GAN checkpoint, with a provenance manifest."""

from __future__ import annotations

import argparse
from pathlib import Path

from skingan.commands._common import add_common

NAME = "sample"
HELP = "write N synthetic images per class (PNG) from a GAN checkpoint, plus manifest.csv"
EXAMPLE = ("skingan sample --checkpoint outputs/gan/sngan64/checkpoints/last.pt --n 1000 --class malignant "
           "--out outputs/synthetic/sngan64")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common(parser, out_default=None, out_help="folder for <class>/<class>_000000.png, manifest.csv, sample.json")
    parser.add_argument("--checkpoint", type=Path, required=True, help="a train-gan checkpoint (last.pt)")
    parser.add_argument("--n", type=int, default=1000, help="images per class")
    parser.add_argument("--class", dest="class_name", default="all", choices=["malignant", "benign", "all"],
                        help="which class; all = every class the generator learned")
    parser.add_argument("--no-ema", action="store_true", help="use the raw generator instead of the EMA one")
    parser.add_argument("--batch-size", type=int, default=64, help="images per generator call")


def run(args: argparse.Namespace) -> int:
    from skingan.errors import UserError
    from skingan.gan.sample import write_samples
    from skingan.runs import resolve_device

    if args.n < 1 or args.batch_size < 1:
        raise UserError(f"--n {args.n} / --batch-size {args.batch_size}: both must be at least 1")
    record = write_samples(args.checkpoint, args.out, args.n, class_name=args.class_name, seed=args.seed,
                           use_ema=not args.no_ema, device=resolve_device(args.device), batch_size=args.batch_size)
    counts = ", ".join(f"{n} {name}" for name, n in record["counts"].items())
    print(f"sample: wrote {counts} images ({record['arch']} {record['image_size']}px, step {record['step']}) "
          f"to {args.out}; manifest {args.out / 'manifest.csv'}")
    return 0
