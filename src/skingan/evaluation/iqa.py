"""The original study's five full-reference metrics (piqa), in three protocols that each mean something.

  seed       each fake against a random real image — what the original study did (it paired one batch by
             index); only for comparison with its table: unrelated lesions say nothing about a distribution.
  nn         each fake against its nearest real training image (chosen in feature space): fidelity, and a
             memorisation signal when PSNR/SSIM get very high.
  diversity  mean pairwise SSIM and HaarPSI among fakes vs among reals of the class (mode collapse shows as
             fakes far more self-similar than reals).

Inputs are uint8 RGB rescaled to [0, 1] (no min-max stretching). Directions: PSNR, SSIM, HaarPSI higher is
better (more similar); MS-GMSD and MDSI are distances, lower is better.
"""

from __future__ import annotations

import numpy as np

from skingan.evaluation import registry

# Names, directions and labels come from the metric registry (one definition per metric).
IQA_METRICS: tuple[str, ...] = tuple(registry.piqa_measures())
DIRECTIONS = {name: registry.get(f"iqa_seed.{name}").better for name in IQA_METRICS}
LABELS = {name: registry.get(f"iqa_seed.{name}").label for name in IQA_METRICS}
DIVERSITY_METRICS: tuple[str, ...] = tuple(m.path[1] for m in registry.all_metrics(registry.DIVERSITY))


def build_metrics(names: tuple[str, ...] = IQA_METRICS) -> dict:
    import piqa

    makers = {"psnr": piqa.PSNR, "ssim": piqa.SSIM, "ms_gmsd": piqa.MS_GMSD, "mdsi": piqa.MDSI,
              "haarpsi": piqa.HaarPSI}
    return {name: makers[name](reduction="none") for name in names}


def _to_unit(images: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0).clamp_(0, 1)


def paired_scores(a: np.ndarray, b: np.ndarray, names: tuple[str, ...] = IQA_METRICS,
                  batch_size: int = 128) -> dict[str, np.ndarray]:
    """Per-pair scores between uint8 (N, S, S, 3) arrays a[i] and b[i]."""
    import torch

    if a.shape != b.shape:
        raise ValueError(f"paired images must have the same shape, got {a.shape} and {b.shape}")
    metrics = build_metrics(names)
    scores: dict[str, list] = {name: [] for name in names}
    with torch.inference_mode():
        for start in range(0, len(a), batch_size):
            x, y = _to_unit(a[start:start + batch_size]), _to_unit(b[start:start + batch_size])
            for name, metric in metrics.items():
                scores[name].append(metric(x, y).double().reshape(-1).numpy())
    return {name: np.concatenate(values) if values else np.zeros(0) for name, values in scores.items()}


def summarise(scores: dict[str, np.ndarray]) -> dict:
    return {name: {"mean": float(v.mean()), "std": float(v.std()), "n": int(len(v)),
                   "better": DIRECTIONS[name]} for name, v in scores.items()}


def seed_protocol(fakes: np.ndarray, reals: np.ndarray, seed: int = 0) -> dict:
    """Each fake against one random real image (the original study's pairing, made random and complete)."""
    rng = np.random.default_rng(seed)
    partners = rng.choice(len(reals), size=len(fakes), replace=len(fakes) > len(reals))
    return {"pairing": "random real per fake", **summarise(paired_scores(fakes, reals[partners]))}


def nn_protocol(fakes: np.ndarray, train_images: np.ndarray, nearest: np.ndarray) -> dict:
    """Each fake against its nearest real training image (indices into `train_images`)."""
    return {"pairing": "nearest training image in feature space",
            **summarise(paired_scores(fakes, train_images[nearest]))}


def random_pairs(n: int, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`count` random index pairs (i, j) with i != j from range(n)."""
    i = rng.integers(0, n, size=count)
    j = (i + rng.integers(1, n, size=count)) % n
    return i, j


def mean_pairwise(images: np.ndarray, pairs: int, seed: int) -> dict[str, float]:
    if len(images) < 2:
        raise ValueError("diversity needs at least 2 images")
    i, j = random_pairs(len(images), pairs, np.random.default_rng(seed))
    scores = paired_scores(images[i], images[j], DIVERSITY_METRICS)
    return {name: float(v.mean()) for name, v in scores.items()}


def diversity(fakes: np.ndarray, reals: np.ndarray, pairs: int = 500, seed: int = 0) -> dict:
    """Mean pairwise SSIM/HaarPSI among fakes and among reals; ratio > 1 means fakes are more alike."""
    fake, real = mean_pairwise(fakes, pairs, seed), mean_pairwise(reals, pairs, seed + 1)
    return {
        "pairs": pairs, "better": "fake close to real (much higher among fakes = mode collapse)",
        **{name: {"fake": fake[name], "real": real[name], "ratio": fake[name] / real[name]}
           for name in DIVERSITY_METRICS},
    }
