"""skingan experiment: the augmentation study, conditions × seeds → a table with confidence intervals."""

from __future__ import annotations

import argparse
from pathlib import Path

from skingan.commands._common import add_common, add_config

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


def run(args: argparse.Namespace) -> int:
    from skingan.classifier.experiment import run_experiment
    from skingan.classifier.study_plan import ExperimentConfig
    from skingan.config import load_config, to_yaml
    from skingan.runs import resolve_device

    overrides = list(args.overrides) + ([f"study.seeds={args.seeds}"] if args.seeds is not None else [])
    config = load_config(ExperimentConfig, args.config, overrides)
    if args.dry_run:
        print(to_yaml(config), end="")
        return 0
    result = run_experiment(config, args.data, args.out, sources=list(args.synthetic), ood=list(args.ood),
                            seed=args.seed, device=resolve_device(args.device))
    print(f"{result['cells']} cells ({result['skipped']} finished earlier, skipped); table in "
          f"{args.out}/summary.md, conclusion in {args.out}/conclusion.md")
    return 0
