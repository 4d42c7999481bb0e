"""skingan evaluate-classifier: a trained classifier on any prepared set (e.g. another hospital's images)."""

from __future__ import annotations

import argparse
from pathlib import Path

from skingan.commands._common import add_common, finite_float

NAME = "evaluate-classifier"
HELP = "score a trained classifier on any prepared set (AUC with CI, sensitivity, specificity, ...)"
EXAMPLE = ("skingan evaluate-classifier --checkpoint outputs/classifier/lite0/checkpoints/best.pt "
           "--data data/prepared/ham10000 --split all --out outputs/classifier/lite0/ham10000")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True, help="checkpoints/best.pt of a classifier run")
    parser.add_argument("--data", type=Path, required=True, help="a prepared set to score")
    parser.add_argument("--split", default="test", choices=["test", "val", "train", "all"],
                        help="which rows of the prepared set; 'all' for another hospital's set")
    parser.add_argument("--threshold", type=finite_float, default=None,
                        help="decision threshold on P(malignant); default: the one chosen on validation")
    parser.add_argument("--bootstrap", type=int, default=1000,
                        help="bootstrap resamples for the AUC CI (0: no CI)")
    add_common(parser, out_default=None, out_help="folder for metrics.json and figures")


def run(args: argparse.Namespace) -> int:
    from skingan.classifier.evaluate import evaluate_checkpoint
    from skingan.errors import UserError
    from skingan.runs import resolve_device

    if args.bootstrap < 0:
        raise UserError(f"--bootstrap {args.bootstrap}: must be 0 (no confidence interval) or more (1000 is usual)")
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise UserError(f"--threshold {args.threshold}: a threshold on P(malignant) lies in [0, 1]")
    report = evaluate_checkpoint(args.checkpoint, args.data, split=args.split, threshold=args.threshold,
                                 out=args.out, bootstrap=args.bootstrap, seed=args.seed,
                                 device=resolve_device(args.device))
    interval = (f"95% CI {report['auc_ci_low']:.3f}–{report['auc_ci_high']:.3f}" if args.bootstrap
                else "no CI: --bootstrap 0")
    print(f"AUC {report['auc']:.3f} ({interval}) on {report['n']} images ({report['n_pos']} malignant), "
          f"sensitivity {report['sensitivity']:.3f}, specificity {report['specificity']:.3f}; results in {args.out}/metrics.json")
    return 0
