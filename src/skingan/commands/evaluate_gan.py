"""skingan evaluate-gan: generated images vs the real prepared set → metrics.json, metrics.md, figures."""

from __future__ import annotations

import argparse
from pathlib import Path

from skingan.commands._common import add_common

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
    add_common(parser, out_default=None, out_help="folder for metrics.json, metrics.md and figures "
                                                   "(with --compare: compare.md/.csv/.json)")


def _check(args: argparse.Namespace) -> None:
    from skingan.errors import UserError
    from skingan.evaluation.features import check_feature_spec, find_inception_weights

    if args.data is None:
        raise UserError("--data PREPARED is required (the prepared set holding the real images)")
    if args.n < 2:
        raise UserError(f"--n {args.n}: at least 2 fakes are needed (2000 recommended)")
    if args.batch_size < 1:
        raise UserError(f"--batch-size {args.batch_size}: must be at least 1")
    if args.resize is not None and args.resize < 32:
        raise UserError(f"--resize {args.resize}: must be at least 32 px")
    check_feature_spec(args.features)
    if args.features == "inception":
        find_inception_weights(args.inception_weights)
    if (args.out / "checkpoints").is_dir() or (args.out / "manifest.csv").is_file():
        raise UserError(f"--out '{args.out}' is a training run or samples folder; choose a new folder, "
                        f"e.g. {args.out / 'evaluation'}")
    if (args.out / "metrics.json").is_file():  # written last, so only a finished evaluation has it
        raise UserError(f"--out '{args.out}' already holds a run (a finished evaluation, metrics.json); "
                        "choose another --out, or delete that folder to evaluate again")


def run(args: argparse.Namespace) -> int:
    import logging

    from skingan.data.prepared import open_prepared
    from skingan.evaluation import evaluate as ev
    from skingan.evaluation.features import default_cache_dir
    from skingan.runs import init_run_dir, resolve_device, seed_everything

    log = logging.getLogger("skingan")
    if args.compare:
        text = ev.compare(args.compare, args.out)
        print(text)
        print(f"evaluate-gan: compared {len(args.compare)} evaluations → {args.out / 'compare.md'}")
        return 0
    _check(args)
    prepared = open_prepared(args.data)
    device = resolve_device(args.device)
    seed_everything(args.seed)
    settings = ev.EvalSettings(
        split=args.split, n=args.n, features=args.features, inception_weights=args.inception_weights,
        resize=args.resize, batch_size=args.batch_size, seed=args.seed, device=device,
        feature_cache=None if args.no_feature_cache else (args.feature_cache or default_cache_dir()),
    )
    if args.samples is not None:
        fakes = ev.load_samples_dir(args.samples, args.class_name, args.n)
    else:
        checkpoint = ev.find_run_checkpoint(args.run) if args.run is not None else args.checkpoint
        fakes = ev.generate_fakes(checkpoint, args.class_name, args.n, args.seed, device, args.batch_size)
    init_run_dir(args.out, seed=args.seed, device=device, marker="metrics.json",
                 extra={"evaluate_settings": ev.settings_dict(settings)})
    metrics = ev.evaluate(fakes, prepared, settings, args.out, name=args.name)
    p = metrics["protocol"]
    log.info("FD_%s %.3f (noise floor %.3f), KID %.5f ± %.5f, precision %.3f, recall %.3f, density %.3f, "
             "coverage %.3f, memorised %.3f", p["extractor"], metrics["fd"], metrics["fd_noise_floor"],
             metrics["kid_mean"], metrics["kid_std"], metrics["precision"], metrics["recall"],
             metrics["density"], metrics["coverage"], metrics["memorization"]["fraction_below_threshold"])
    print(f"evaluate-gan: {p['n_fake']} {p['class']} fakes vs {p['n_real']} real ({p['extractor']}) → "
          f"{args.out / 'metrics.json'}, metrics.md and 3 figures")
    return 0
