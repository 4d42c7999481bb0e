"""skingan evaluate-gan: generated images vs the real prepared set → metrics.json, metrics.md, figures."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from skingan.commands._common import add_common, add_tensorboard

if TYPE_CHECKING:
    from skingan.evaluation.settings import EvalSettings

NAME = "evaluate-gan"
HELP = ("score generated images against the real set beside held-out reals at the same N: FD/KID/precision/"
        "recall/density/coverage, C2ST, PIQA, memorisation")
EXAMPLE = ("skingan evaluate-gan --run outputs/gan/sngan64 --data data/prepared/isic2017 --class malignant "
           "--n 2000 --out outputs/eval/sngan64")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", type=Path, help="a 'skingan train-gan' run folder (uses checkpoints/last.pt)")
    source.add_argument("--checkpoint", type=Path, help="a GAN checkpoint file")
    source.add_argument("--samples", type=Path,
                        help="a 'skingan sample' folder (manifest.csv) or a plain folder of PNG/JPEG images")
    source.add_argument("--compare", nargs="+", metavar="RUN_OR_METRICS",
                        help="instead of evaluating: one table across evaluation folders or metrics.json files")
    parser.add_argument("--data", type=Path, help="the prepared set (real images) to compare against")
    parser.add_argument("--split", default="train", choices=["train", "val", "test"],
                        help="real reference split for the distribution metrics")
    parser.add_argument("--n", type=int, default=2000, help="number of fakes (fix it: FD is biased by N)")
    parser.add_argument("--class", dest="class_name", default=None,
                        help="benign, malignant or all (default: the only class of the samples/generator); all: "
                             "each class against its own reals when the manifest/generator says which, else the "
                             "whole folder against the reals of both classes (one folder per set under --out)")
    parser.add_argument("--features", default="lite0",
                        help="feature extractor: lite0 (offline ImageNet EfficientNet-Lite0), inception "
                             "(FID Inception, local weights file) or classifier:CKPT")
    parser.add_argument("--inception-weights", default=None, metavar="PATH",
                        help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth (default: the torch hub cache)")
    parser.add_argument("--resize", type=int, default=None,
                        help="extractor input size in px (default: 224 lite0, 299 inception, classifier's own)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per forward pass")
    parser.add_argument("--feature-cache", type=Path, default=None,
                        help="folder for cached real-set features (default: $SKINGAN_CACHE/features or "
                             "~/.cache/skingan/features)")
    parser.add_argument("--no-feature-cache", action="store_true", help="always recompute real features")
    parser.add_argument("--no-c2st", action="store_true",
                        help="skip the classifier two-sample tests (a from-scratch CNN per test: the slow part on CPU)")
    parser.add_argument("--c2st-size", type=int, default=128,
                        help="C2ST input size: the classifier's data.image_size (default 128, its config default)")
    parser.add_argument("--c2st-folds", type=int, default=5, help="C2ST: stratified folds")
    parser.add_argument("--c2st-epochs", type=int, default=10, help="C2ST: epochs per fold")
    parser.add_argument("--c2st-max-n", type=int, default=500, help="C2ST: images per set at most (seeded subsample)")
    parser.add_argument("--name", default=None, help="model name in tables (default: from the run/samples)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the resolved options (YAML) and exit without evaluating")
    add_common(parser, out_default=None, out_help="folder for metrics.json, metrics.md and figures "
                                                   "(with --compare: compare.md/.csv/.json)")
    add_tensorboard(parser)


def resolve_settings(args: argparse.Namespace) -> EvalSettings:
    """The flags → EvalSettings (typed config, validated once); `resolved_device` settles --device auto."""
    from skingan.commands._options import options_from_flags
    from skingan.evaluation import folder
    from skingan.evaluation.settings import EvalSettings

    cache = folder.feature_cache_dir(args.feature_cache, enabled=not args.no_feature_cache)
    settings = options_from_flags(EvalSettings, {
        "split": args.split, "n": args.n, "features": args.features, "inception_weights": args.inception_weights,
        "resize": args.resize, "batch_size": args.batch_size, "seed": args.seed, "device": args.device,
        "feature_cache": None if cache is None else str(cache), "c2st": not args.no_c2st,
        "c2st_size": args.c2st_size, "c2st_folds": args.c2st_folds, "c2st_epochs": args.c2st_epochs,
        "c2st_max_n": args.c2st_max_n,
    })
    if settings.features == "inception":
        from skingan.evaluation.features import find_inception_weights

        find_inception_weights(settings.inception_weights)
    return settings


def resolved_device(settings: EvalSettings) -> EvalSettings:
    import dataclasses

    from skingan.runs import resolve_device

    return dataclasses.replace(settings, device=resolve_device(settings.device))


def run_compare(args: argparse.Namespace) -> int:
    from skingan.evaluation import folder
    from skingan.evaluation.compare import compare

    evaluations = folder.expand_class_folders(args.compare)
    if args.dry_run:
        import yaml

        print(yaml.safe_dump({"compare": [str(folder.find_metrics(p)) for p, _ in evaluations], "out": str(args.out)},
                             sort_keys=False), end="")
        return 0
    text = compare(args.compare, args.out)
    print(text)
    print(f"evaluate-gan: compared {len(evaluations)} evaluations → {args.out / folder.COMPARE_MD}")
    return 0


def fake_sets(args: argparse.Namespace, settings: EvalSettings) -> list:
    """The FakeSets to evaluate: one, or under --class all one per class (or one of all classes)."""
    from skingan.evaluation import all_classes
    from skingan.evaluation import fakes as fake_sources

    every = args.class_name is not None and args.class_name.strip().lower() == fake_sources.ALL
    checkpoint = None
    if args.samples is None:
        checkpoint = fake_sources.find_run_checkpoint(args.run) if args.run is not None else args.checkpoint
    if every:
        if args.samples is not None:
            return all_classes.sample_sets(args.samples, settings.n)
        return all_classes.generator_sets(checkpoint, settings.n, settings.seed, settings.device, settings.batch_size)
    if args.samples is not None:
        return [fake_sources.load_samples_dir(args.samples, args.class_name, settings.n)]
    return [fake_sources.generate_fakes(checkpoint, args.class_name, settings.n, settings.seed, settings.device,
                                        settings.batch_size)]


def run(args: argparse.Namespace) -> int:
    import logging

    from skingan.commands._options import print_options
    from skingan.data.prepared import open_prepared
    from skingan.errors import UserError
    from skingan.evaluation import folder
    from skingan.evaluation.compare import compare
    from skingan.evaluation.evaluate import evaluate
    from skingan.evaluation.fakes import ALL
    from skingan.evaluation.settings import settings_dict
    from skingan.runs import init_run_dir, seed_everything

    log = logging.getLogger("skingan")
    if args.compare:
        return run_compare(args)
    if args.data is None:
        raise UserError("--data PREPARED is required (the prepared set holding the real images)")
    settings = resolve_settings(args)
    if args.dry_run:
        print_options(resolved_device(settings))
        return 0
    folder.check_out(args.out)
    prepared = open_prepared(args.data)
    settings = resolved_device(settings)
    seed_everything(settings.seed)
    sets = fake_sets(args, settings)
    every = args.class_name is not None and args.class_name.strip().lower() == ALL
    outs = [args.out / fakes.class_name for fakes in sets] if every else [args.out]
    for out in outs if every else []:
        folder.check_out(out)
    for fakes, out in zip(sets, outs, strict=True):
        init_run_dir(out, seed=settings.seed, device=settings.device, marker=folder.METRICS,
                     extra={folder.RECORD_KEY: settings_dict(settings)})
        metrics = evaluate(fakes, prepared, settings, out, name=args.name)
        report(metrics, out, log)
    if len(outs) > 1:
        compare(outs, args.out)
        print(f"evaluate-gan: the {len(outs)} sets side by side → {args.out / folder.COMPARE_MD}")
    return 0


def report(metrics: dict, out: Path, log) -> None:  # noqa: ANN001 (a logging.Logger)
    """One log line of the headline numbers, then where the evaluation is."""
    from skingan.evaluation import folder

    p, ref = metrics["protocol"], metrics["reference"]
    memo = metrics["memorization"]["fraction_below_threshold"]
    log.info("FD_%s %.3f (held-out real at N=%s: %s), KID %.5f ± %.5f, precision %.3f, recall %.3f, density %.3f, "
             "coverage %.3f, C2ST AUC %s, memorised %s", p["extractor"], metrics["fd"], ref.get("n"),
             "–" if ref.get("fd") is None else f"{ref['fd']:.3f}", metrics["kid_mean"], metrics["kid_std"],
             metrics["precision"], metrics["recall"], metrics["density"], metrics["coverage"],
             "–" if metrics["c2st"]["auc"] is None else f"{metrics['c2st']['auc']:.3f}",
             "not measurable" if memo is None else f"{memo:.3f}")
    seen = metrics["c2st_as_classifier_sees"]
    if seen.get("shortcut"):
        log.warning("WARNING: %s", seen["verdict"])
    print(f"evaluate-gan: {p['n_fake']} {p['class']} fakes vs {p['n_real']} real ({p['extractor']}) → "
          f"{folder.metrics_path(out)}, {folder.TABLES} and {len(folder.FIGURES)} figures")
