"""`skingan quickstart`: the whole study end to end on a small data set, resumable."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from skingan.commands._common import add_common, finite_float

NAME = "quickstart"
HELP = ("the whole study in one command: prepare → GAN → sample → evaluate → classifier experiment → report "
        "(phantoms by default: offline, ~15 min on a laptop CPU)")
EXAMPLE = "skingan quickstart --out outputs/quickstart   # then open outputs/quickstart/report.html"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", default="phantom", choices=["phantom", "isic", "folder"],
                        help="phantom: offline procedural images; isic: download ISIC 2017 thumbnails first; "
                             "folder: your own images (--input)")
    parser.add_argument("--input", type=Path, default=None, help="with --source folder: your image folder")
    parser.add_argument("--minutes", type=finite_float, default=1.0,
                        help="scales every budget (1 ≈ 15 min on 2 CPU cores; 0.1 for a smoke run)")
    add_common(parser, out_default="outputs/quickstart", out_help="folder for every stage's output")


def run(args: argparse.Namespace) -> int:
    from skingan.quickstart import run_quickstart

    started = time.monotonic()
    report = run_quickstart(args.out, source=args.source, input_dir=args.input, minutes=args.minutes,
                            seed=args.seed, device=args.device)
    minutes = (time.monotonic() - started) / 60
    print(f"quickstart finished in {minutes:.1f} min; report: {report}")
    return 0
