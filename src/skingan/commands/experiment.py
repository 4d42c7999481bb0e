"""skingan experiment: the augmentation study, conditions × seeds → a table with confidence intervals."""

from __future__ import annotations

import argparse
from pathlib import Path

from skingan.classifier.study_claims import DEFAULT_TIMEOUT_S, Shard, parse_shard
from skingan.commands._common import add_common, add_config, add_tensorboard, finite_float

NAME = "experiment"
HELP = "the augmentation study: real vs real+synthetic vs synthetic-only, several seeds, CIs and paired tests"
EXAMPLE = ("skingan experiment --config augmentation --data data/prepared/isic2017 --out outputs/experiment "
           "--synthetic outputs/samples/sngan128 --ood data/prepared/ham10000 --seeds 3")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="the prepared set (train/val/test splits)")
    add_common(parser, out_default="outputs/experiment", out_help="the experiment folder (re-run to resume)")
    add_config(parser, default="augmentation")
    parser.add_argument("--synthetic", type=Path, nargs="+", action="extend", default=[], metavar="DIR",
                        help="'skingan sample' folder(s): each is one synthetic source")
    parser.add_argument("--ood", type=Path, nargs="+", action="extend", default=[], metavar="PREPARED",
                        help="out-of-distribution prepared set(s) (e.g. another hospital) to test every cell on")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per condition (overrides study.seeds)")
    parser.add_argument("--shard", type=shard_value, default=None, metavar="K/N",
                        help="one of N processes sharing --out (1 <= K <= N): takes every N-th unfinished cell, "
                             "then any cell no live process holds; the last one to finish writes the tables. "
                             "SLURM array: --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT with --array=1-N")
    parser.add_argument("--merge", action="store_true",
                        help="train nothing: write the tables from the cells finished so far")
    parser.add_argument("--claim-timeout", type=finite_float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                        help="a cell claimed by a process on another host is taken over when its claim file "
                             "has not been refreshed for this long (same host: as soon as its pid is gone)")
    add_tensorboard(parser)


def shard_value(text: str) -> Shard:
    """argparse type for --shard K/N."""
    try:
        return parse_shard(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def run(args: argparse.Namespace) -> int:
    from skingan.classifier.experiment import run_experiment
    from skingan.classifier.study_plan import ExperimentConfig
    from skingan.config import load_config, to_yaml
    from skingan.errors import UserError
    from skingan.runs import resolve_device

    overrides = list(args.overrides) + ([f"study.seeds={args.seeds}"] if args.seeds is not None else [])
    config = load_config(ExperimentConfig, args.config, overrides)
    if args.dry_run:
        print(to_yaml(config), end="")
        return 0
    if not args.claim_timeout > 0:
        raise UserError(f"--claim-timeout {args.claim_timeout:g}: give a positive number of seconds")
    result = run_experiment(config, args.data, args.out, sources=list(args.synthetic), ood=list(args.ood),
                            seed=args.seed, device=resolve_device(args.device), shard=args.shard,
                            merge=args.merge, claim_timeout_s=args.claim_timeout)
    where = f"shard {args.shard}: " if args.shard is not None else ""
    if not result["merged"]:
        print(f"{where}ran {result['ran']} cells; {result['pending']} of {result['cells']} are still being trained "
              f"by other processes: the last one to finish writes the tables (or add --merge)")
        return 0
    missing = f", {result['pending']} unfinished and left out" if result["pending"] else ""
    print(f"{where}{result['cells']} cells ({result['skipped']} finished earlier, skipped{missing}); table in "
          f"{args.out}/summary.md, conclusion in {args.out}/conclusion.md")
    return 0
