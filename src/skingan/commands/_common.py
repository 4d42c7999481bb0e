"""Flags that every subcommand shares, so they read the same everywhere."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from types import ModuleType


def finite_float(text: str) -> float:
    """argparse type: a real number; NaN and infinity are refused in one line like any other bad value."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
    return value


def seed_value(text: str) -> int:
    """argparse type for --seed: an integer 0 … 2**32 - 1 (what every random generator here accepts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{value} is outside 0 … 4294967295")
    return value


def add_common(parser: argparse.ArgumentParser, *, out_default: str | None, out_help: str,
               out_required: bool | None = None) -> None:
    """--out, --seed and --device: every subcommand takes them.

    --out is required when it has no default, unless `out_required=False` (the command derives it).
    """
    required = out_default is None if out_required is None else out_required
    parser.add_argument("--out", type=Path, default=Path(out_default) if out_default else None,
                        required=required, help=out_help)
    parser.add_argument("--seed", type=seed_value, default=0, help="seed for every random choice")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                        help="where to compute; auto picks CUDA, then MPS, then CPU")


def add_config(parser: argparse.ArgumentParser, *, default: str) -> None:
    """--config NAME|PATH and repeatable --set section.key=value."""
    parser.add_argument("--config", default=default,
                        help="a YAML file, or the name of one under configs/ (with or without .yaml)")
    parser.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override config values, e.g. --set train.steps=500 train.lr_d=1e-4 "
                             "(several after one --set, and --set may repeat)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the resolved config and exit without running")


def add_tensorboard(parser: argparse.ArgumentParser) -> None:
    """--no-tensorboard: the commands that log to RUN/tensorboard/ when TensorBoard is installed."""
    parser.add_argument("--no-tensorboard", action="store_true",
                        help="write no TensorBoard event files (they are written to RUN/tensorboard/ when the "
                             "tensorboard package is installed; view with 'tensorboard --logdir RUN')")


def stage_parser(module: ModuleType) -> argparse.ArgumentParser:
    """A parser for one subcommand module alone, for callers that run a stage in-process (the quickstart)
    without building the whole `skingan` command line (which discovers every command, the caller included)."""
    parser = argparse.ArgumentParser(prog=f"skingan {module.NAME}")
    module.add_arguments(parser)
    parser.set_defaults(command=module.NAME, _run=module.run)
    return parser
