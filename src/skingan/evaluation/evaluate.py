"""The evaluate-gan pipeline: fakes of one class (fakes.py) vs the prepared real set → every metric of
metrics.json (one registry.py definition each), written with metrics.md and the figures (folder.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from skingan.data.prepared import PreparedSet, class_index
from skingan.errors import UserError
from skingan.evaluation import figures, iqa
from skingan.evaluation import folder as evaluation_folder
from skingan.evaluation.distribution import DC_K, PR_K, distribution_metrics
from skingan.evaluation.fakes import FakeSet, model_name
from skingan.evaluation.features import Extractor, build_extractor, cached_features, real_cache_key
from skingan.evaluation.memorization import memorization
from skingan.evaluation.settings import EvalSettings
from skingan.evaluation.tables import metrics_markdown

log = logging.getLogger("skingan")

MIN_IMAGES = DC_K + 2  # k-NN radii need more than k points per set


def _real_features(extractor: Extractor, prepared: PreparedSet, images: np.ndarray, indices: np.ndarray,
                   split: str, class_name: str, settings: EvalSettings) -> tuple[np.ndarray, bool]:
    key = real_cache_key(extractor, prepared_hash=prepared.hash, split=split, class_name=class_name,
                         image_size=images.shape[1], indices=indices)
    return cached_features(extractor, images[indices], key, settings.feature_cache, settings.batch_size)


def check_prepared_hash(fakes: FakeSet, prepared: PreparedSet) -> bool | None:
    expected = fakes.source.get("prepared_hash")
    if not expected:
        return None
    if str(expected) != prepared.hash:
        log.warning("WARNING: the generator was trained on prepared set %s…, but --data '%s' is %s…; "
                    "the real reference differs from its training data", str(expected)[:12], prepared.root,
                    prepared.hash[:12])
        return False
    return True


def evaluate(fakes: FakeSet, prepared: PreparedSet, settings: EvalSettings, out: str | Path, *,
             name: str | None = None, extractor: Extractor | None = None) -> dict:
    """Compute every metric of metrics.json, write it with metrics.md and the figures, and return it."""
    out = Path(out)
    size = fakes.images.shape[1]
    all_reals = prepared.images(size)
    target = class_index(fakes.class_name)
    ref_idx = prepared.indices(settings.split, [target])
    train_idx = prepared.indices("train", [target])
    val_idx = prepared.indices("val", [target])
    for label, count in (("fake", len(fakes.images)), (f"real {settings.split}/{fakes.class_name}", len(ref_idx)),
                         (f"real train/{fakes.class_name}", len(train_idx))):
        if count < MIN_IMAGES:
            raise UserError(f"only {count} {label} images; at least {MIN_IMAGES} are needed (k-NN metrics, k={DC_K})")
    if len(fakes.images) < settings.n:
        log.warning("only %d fakes of class %s (asked --n %d); evaluating all of them",
                    len(fakes.images), fakes.class_name, settings.n)

    extractor = extractor or build_extractor(settings.features, device=settings.device, resize=settings.resize,
                                             inception_weights=settings.inception_weights)
    log.info("features (%s, %d px): %d fakes, %d real %s/%s", extractor.name, extractor.resize,
             len(fakes.images), len(ref_idx), settings.split, fakes.class_name)
    ref_feats, ref_hit = _real_features(extractor, prepared, all_reals, ref_idx, settings.split,
                                        fakes.class_name, settings)
    train_feats, train_hit = (ref_feats, ref_hit) if settings.split == "train" else _real_features(
        extractor, prepared, all_reals, train_idx, "train", fakes.class_name, settings)
    fake_feats = extractor.features(fakes.images, settings.batch_size)

    metrics: dict = distribution_metrics(ref_feats, fake_feats, seed=settings.seed, kid_subsets=settings.kid_subsets,
                                         kid_subset_size=settings.kid_subset_size)
    ref_images, train_images = all_reals[ref_idx], all_reals[train_idx]
    if len(val_idx) >= 2:
        val_feats, _ = _real_features(extractor, prepared, all_reals, val_idx, "val", fakes.class_name, settings)
        memo = memorization(fake_feats, train_feats, val_feats)
    else:
        log.warning("no val images of class %s: memorisation compares against train↔train instead", fakes.class_name)
        memo = memorization(fake_feats, train_feats, train_feats)
    nearest = memo.pop("_nearest_train")
    metrics["iqa_seed"] = iqa.seed_protocol(fakes.images, ref_images, seed=settings.seed)
    metrics["iqa_nn"] = iqa.nn_protocol(fakes.images, train_images, nearest)
    metrics["diversity"] = iqa.diversity(fakes.images, ref_images, pairs=settings.diversity_pairs,
                                         seed=settings.seed)
    metrics["memorization"] = memo
    metrics["protocol"] = {
        "model": name or model_name(fakes), **extractor.describe(),
        "n_fake": int(len(fakes.images)), "n_real": int(len(ref_idx)), "n_train": int(len(train_idx)),
        "n_val": int(len(val_idx)), "split": settings.split, "class": fakes.class_name, "image_size": int(size),
        "image_format": fakes.source.get("image_format"), "seed": settings.seed,
        "prepared": str(prepared.root), "prepared_hash": prepared.hash,
        "prepared_hash_match": check_prepared_hash(fakes, prepared),
        "k_precision_recall": PR_K, "k_density_coverage": DC_K,
        "fd_sqrt": "float64, eigen-decomposition of PSD matrices (symmetric form)",
        "real_features_cached": bool(ref_hit and train_hit), "source": fakes.source,
    }
    write_outputs(metrics, fakes, ref_images, train_images, out)
    return metrics


def write_outputs(metrics: dict, fakes: FakeSet, ref_images: np.ndarray, train_images: np.ndarray,
                  out: Path) -> None:
    """The evaluation folder: metrics.md, the three figures, metrics.json last."""
    p, memo = metrics["protocol"], metrics["memorization"]
    draw = {
        evaluation_folder.SAMPLES_VS_REAL: lambda path: figures.save_sample_grid(
            fakes.images, ref_images, path, f"{p['model']}: {p['class']} fakes vs real {p['split']} images"),
        evaluation_folder.CLOSEST_PAIRS: lambda path: figures.save_closest_pairs(
            fakes.images, train_images, memo["closest_pairs"], memo["threshold"], path),
        evaluation_folder.METRIC_BARS: lambda path: figures.save_metric_bars(metrics, path),
    }
    evaluation_folder.write_evaluation(out, metrics, metrics_markdown(metrics), draw)


__all__ = ["EvalSettings", "FakeSet", "evaluate", "write_outputs"]
