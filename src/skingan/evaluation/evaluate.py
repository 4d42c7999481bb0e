"""The evaluate-gan pipeline: fakes of one class or all (fakes.py) vs the prepared real set → every metric of
metrics.json (one registry.py definition each): the distribution metrics, the matched held-out real reference
(reference.py), the two-sample tests (two_sample.py), PIQA, diversity and memorisation, written with
metrics.md and the figures (folder.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from skingan.data.prepared import PreparedSet
from skingan.errors import UserError
from skingan.evaluation import figures, iqa
from skingan.evaluation import folder as evaluation_folder
from skingan.evaluation.distribution import DC_K, PR_K, distribution_metrics
from skingan.evaluation.fakes import FakeSet, model_name
from skingan.evaluation.features import Extractor, build_extractor, cached_features, real_cache_key
from skingan.evaluation.memorization import HELDOUT_ORDER, choose_heldout, memorization
from skingan.evaluation.reference import heldout_splits, matched_reference
from skingan.evaluation.settings import EvalSettings
from skingan.evaluation.tables import metrics_markdown
from skingan.evaluation.two_sample import two_sample_tests
from skingan.tracking import log_evaluation

log = logging.getLogger("skingan")

MIN_IMAGES = DC_K + 2  # k-NN radii need more than k points per set


def _real_features(extractor: Extractor, prepared: PreparedSet, images: np.ndarray, indices: np.ndarray,
                   split: str, class_name: str, settings: EvalSettings) -> tuple[np.ndarray, bool]:
    key = real_cache_key(extractor, prepared_hash=prepared.hash, split=split, class_name=class_name,
                         image_size=images.shape[1], indices=indices)
    return cached_features(extractor, images[indices], key, settings.feature_cache, settings.batch_size)


def _subset_or_compute(indices: np.ndarray, features: np.ndarray, wanted: np.ndarray,
                       compute: Callable[[], np.ndarray]) -> np.ndarray:
    """The rows of `features` (of sorted `indices`) for `wanted`, when all are there; else `compute()`."""
    inside = np.isin(wanted, indices)
    if len(wanted) and inside.all():
        return features[np.searchsorted(indices, wanted)]
    return compute()


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
    targets = fakes.targets
    ref_idx = prepared.indices(settings.split, targets)
    train_idx = prepared.indices("train", targets)
    held_splits = heldout_splits(settings.split)
    held_idx = np.sort(prepared.indices(list(held_splits), targets)) if held_splits else np.zeros(0, np.int64)
    split_idx = {split: prepared.indices(split, targets) for split in HELDOUT_ORDER}
    for label, count in (("fake", len(fakes.images)), (f"real {settings.split}/{fakes.class_name}", len(ref_idx)),
                         (f"real train/{fakes.class_name}", len(train_idx))):
        if count < MIN_IMAGES:
            raise UserError(f"only {count} {label} images; at least {MIN_IMAGES} are needed (k-NN metrics, k={DC_K})")
    if len(fakes.images) < settings.n:
        log.warning("only %d fakes of class %s (asked --n %d); evaluating all of them",
                    len(fakes.images), fakes.class_name, settings.n)

    extractor = extractor or build_extractor(settings.features, device=settings.device, resize=settings.resize,
                                             inception_weights=settings.inception_weights)
    log.info("features (%s, %d px): %d fakes, %d real %s/%s, %d held-out", extractor.name, extractor.resize,
             len(fakes.images), len(ref_idx), settings.split, fakes.class_name, len(held_idx))
    cached: list[bool] = []

    def real_features(indices: np.ndarray, split: str) -> np.ndarray:
        feats, hit = _real_features(extractor, prepared, all_reals, indices, split, fakes.class_name, settings)
        cached.append(hit)
        return feats

    ref_feats = real_features(ref_idx, settings.split)
    train_feats = ref_feats if settings.split == "train" else real_features(train_idx, "train")
    fake_feats = extractor.features(fakes.images, settings.batch_size)

    metrics: dict = distribution_metrics(ref_feats, fake_feats, seed=settings.seed, kid_subsets=settings.kid_subsets,
                                         kid_subset_size=settings.kid_subset_size)
    held_feats = real_features(held_idx, "+".join(held_splits)) if len(held_idx) else np.zeros((0, 1))
    metrics["reference"] = matched_reference(
        ref_feats, held_feats, fake_feats, splits=held_splits, min_images=MIN_IMAGES, seed=settings.seed,
        kid_subsets=settings.kid_subsets, kid_subset_size=settings.kid_subset_size)
    metrics["c2st"], metrics["reference"]["c2st"], metrics["c2st_as_classifier_sees"] = two_sample_tests(
        fakes, prepared, held_idx, train_idx, settings)
    memo_split, reason = choose_heldout({split: len(idx) for split, idx in split_idx.items()})
    if memo_split is None:
        log.warning("memorisation of class %s %s", fakes.class_name, reason)
    elif memo_split != HELDOUT_ORDER[0]:
        log.warning("fewer than 2 val images of class %s: the memorisation threshold comes from the %s split",
                    fakes.class_name, memo_split)
    memo_feats = None if memo_split is None else _subset_or_compute(
        held_idx, held_feats, split_idx[memo_split], lambda: real_features(split_idx[memo_split], memo_split))
    memo = memorization(fake_feats, train_feats, memo_feats, heldout_split=memo_split, reason=reason)
    ref_images, train_images = all_reals[ref_idx], all_reals[train_idx]
    nearest = memo.pop("_nearest_train")
    metrics["iqa_seed"] = iqa.seed_protocol(fakes.images, ref_images, seed=settings.seed)
    metrics["iqa_nn"] = iqa.nn_protocol(fakes.images, train_images, nearest)
    metrics["diversity"] = iqa.diversity(fakes.images, ref_images, pairs=settings.diversity_pairs,
                                         seed=settings.seed)
    metrics["memorization"] = memo
    metrics["protocol"] = {
        "model": name or model_name(fakes), **extractor.describe(),
        "n_fake": int(len(fakes.images)), "n_real": int(len(ref_idx)), "n_train": int(len(train_idx)),
        "n_val": int(len(split_idx["val"])), "n_heldout": int(len(held_idx)), "heldout_splits": list(held_splits),
        "split": settings.split, "class": fakes.class_name, "class_scope": fakes.describe_scope(),
        "image_size": int(size), "image_format": fakes.source.get("image_format"), "seed": settings.seed,
        "prepared": str(prepared.root), "prepared_hash": prepared.hash,
        "prepared_hash_match": check_prepared_hash(fakes, prepared),
        "k_precision_recall": PR_K, "k_density_coverage": DC_K,
        "fd_sqrt": "float64, eigen-decomposition of PSD matrices (symmetric form)",
        "reference_how": metrics["reference"]["how"] or metrics["reference"]["reason"],
        "real_features_cached": bool(all(cached)), "source": fakes.source,
    }
    write_outputs(metrics, fakes, ref_images, train_images, out)
    log_evaluation(out, metrics)  # TensorBoard, when tracking is on (skingan.tracking)
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
