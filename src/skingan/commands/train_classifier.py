"""skingan train-classifier: an EfficientNet melanoma classifier on a prepared set (+ synthetic images)."""

from __future__ import annotations

import argparse
from pathlib import Path

from skingan.commands._common import add_common, add_config, add_tensorboard, finite_float

NAME = "train-classifier"
HELP = "train an EfficientNet melanoma classifier (optionally with synthetic training images)"
EXAMPLE = ("skingan train-classifier --config efficientnet --data data/prepared/isic2017 "
           "--out outputs/classifier/lite0 --synthetic outputs/samples/sngan128 --synthetic-ratio 0.1")
NEWEST = "newest"
RESUME_HINT = "Add --resume to the same command to continue from checkpoints/last.pt (exactly)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="a prepared set (from 'skingan prepare')")
    add_common(parser, out_default="outputs/classifier/run", out_help="the run folder to create")
    add_config(parser, default="efficientnet")
    parser.add_argument("--synthetic", nargs="?", const=NEWEST, default=None, metavar="DIR",
                        help="a 'skingan sample' folder whose images join the TRAINING split; without DIR: "
                             "the newest folder under ./outputs holding manifest.csv + sample.json")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--synthetic-ratio", type=finite_float, default=None, metavar="F",
                      help="extra synthetic images as a share of the real training images (default 0.1)")
    mode.add_argument("--balance", action="store_true",
                      help="add synthetic minority-class images until the training classes are balanced")
    mode.add_argument("--synthetic-only", action="store_true",
                      help="train on the synthetic images only, test on real ones (TSTR)")
    parser.add_argument("--weights", type=Path, default=None,
                        help="ImageNet weights (a state_dict file) for an efficientnet-b0…b7 backbone")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from last.pt")
    add_tensorboard(parser)


def synthetic_overrides(args: argparse.Namespace) -> list[str]:
    """--synthetic/--synthetic-ratio/--balance/--synthetic-only as config overrides."""
    from skingan.classifier.synthetic import newest_sample_dir
    from skingan.errors import UserError

    wants_mode = args.synthetic_ratio is not None or args.balance or args.synthetic_only
    if args.synthetic is None:
        if wants_mode:
            raise UserError("--synthetic-ratio/--balance/--synthetic-only need --synthetic [DIR]")
        return []
    folder = newest_sample_dir() if args.synthetic == NEWEST else Path(args.synthetic)
    overrides = [f"synthetic.dir={folder}"]
    if args.balance:
        overrides.append("synthetic.balance=true")
    elif args.synthetic_only:
        overrides.append("synthetic.only=true")
    else:
        overrides.append(f"synthetic.ratio={0.1 if args.synthetic_ratio is None else args.synthetic_ratio}")
    return overrides


def run(args: argparse.Namespace) -> int:
    from skingan.classifier.config import ClassifierConfig
    from skingan.classifier.train import fit
    from skingan.config import load_config, to_yaml
    from skingan.runs import resolve_device

    overrides = list(args.overrides) + synthetic_overrides(args)
    if args.weights is not None:
        overrides.append(f"model.weights={args.weights}")
    config = load_config(ClassifierConfig, args.config, overrides)
    if args.dry_run:
        print(to_yaml(config), end="")
        return 0
    metrics = fit(config, args.data, args.out, seed=args.seed, device=resolve_device(args.device),
                  resume=args.resume)
    if not metrics:  # a non-zero DDP rank
        return 0
    print(f"test AUC {metrics['auc']:.3f} (95% CI {metrics.get('auc_ci_low', float('nan')):.3f}–"
          f"{metrics.get('auc_ci_high', float('nan')):.3f}), balanced accuracy "
          f"{metrics.get('balanced_accuracy', float('nan')):.3f}, best epoch {metrics['best_epoch']}; "
          f"results in {args.out}/ (metrics.json, checkpoints/best.pt)")
    return 0
