"""skingan evaluate-gan: generated images vs the real prepared set → metrics.json, metrics.md, figures."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from skingan.commands._common import add_common

if TYPE_CHECKING:
    from skingan.evaluation.settings import EvalSettings

NAME = "evaluate-gan"
HELP = "score generated images against the real set: FD/KID/precision/recall/density/coverage, PIQA, memorisation"
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
                        help="benign or malignant (default: the only class of the samples/generator)")
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
    parser.add_argument("--name", default=None, help="model name in tables (default: from the run/samples)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the resolved options (YAML) and exit without evaluating")
    add_common(parser, out_default=None, out_help="folder for metrics.json, metrics.md and figures "
                                                   "(with --compare: compare.md/.csv/.json)")


def resolve_settings(args: argparse.Namespace) -> EvalSettings:
    """The flags → EvalSettings (typed config, validated once); `resolved_device` settles --device auto."""
    from skingan.commands._options import options_from_flags
    from skingan.evaluation import folder
    from skingan.evaluation.settings import EvalSettings

    cache = folder.feature_cache_dir(args.feature_cache, enabled=not args.no_feature_cache)
    settings = options_from_flags(EvalSettings, {
        "split": args.split, "n": args.n, "features": args.features, "inception_weights": args.inception_weights,
        "resize": args.resize, "batch_size": args.batch_size, "seed": args.seed, "device": args.device,
        "feature_cache": None if cache is None else str(cache),
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

    if args.dry_run:
        import yaml

        print(yaml.safe_dump({"compare": [str(folder.find_metrics(p)) for p in args.compare], "out": str(args.out)},
                             sort_keys=False), end="")
        return 0
    text = compare(args.compare, args.out)
    print(text)
    print(f"evaluate-gan: compared {len(args.compare)} evaluations → {args.out / folder.COMPARE_MD}")
    return 0


def run(args: argparse.Namespace) -> int:
    import logging

    from skingan.commands._options import print_options
    from skingan.data.prepared import open_prepared
    from skingan.errors import UserError
    from skingan.evaluation import fakes as fake_sources
    from skingan.evaluation import folder
    from skingan.evaluation.evaluate import evaluate
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
    if args.samples is not None:
        fakes = fake_sources.load_samples_dir(args.samples, args.class_name, settings.n)
    else:
        checkpoint = fake_sources.find_run_checkpoint(args.run) if args.run is not None else args.checkpoint
        fakes = fake_sources.generate_fakes(checkpoint, args.class_name, settings.n, settings.seed, settings.device,
                                            settings.batch_size)
    init_run_dir(args.out, seed=settings.seed, device=settings.device, marker=folder.METRICS,
                 extra={folder.RECORD_KEY: settings_dict(settings)})
    metrics = evaluate(fakes, prepared, settings, args.out, name=args.name)
    p = metrics["protocol"]
    log.info("FD_%s %.3f (noise floor %.3f), KID %.5f ± %.5f, precision %.3f, recall %.3f, density %.3f, "
             "coverage %.3f, memorised %.3f", p["extractor"], metrics["fd"], metrics["fd_noise_floor"],
             metrics["kid_mean"], metrics["kid_std"], metrics["precision"], metrics["recall"],
             metrics["density"], metrics["coverage"], metrics["memorization"]["fraction_below_threshold"])
    print(f"evaluate-gan: {p['n_fake']} {p['class']} fakes vs {p['n_real']} real ({p['extractor']}) → "
          f"{folder.metrics_path(args.out)}, {folder.TABLES} and {len(folder.FIGURES)} figures")
    return 0
