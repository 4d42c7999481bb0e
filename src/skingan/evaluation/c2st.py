"""Classifier two-sample test (C2ST): can a small CNN trained from scratch tell set A from set B?

Lopez-Paz & Oquab 2017. The network starts from random weights, so it shares no features with any ImageNet
extractor a generator may have trained against (the projected family's D uses Lite0): it judges only what
it can learn from these images. Both sets are cut to the same size (seeded, at most `max_n` each), resized
once to `size` (or turned into network inputs by the caller's `prepare`), and scored out of fold over k stratified folds; the AUC of the pooled out-of-fold scores is reported with a
bootstrap interval. AUC 0.5: indistinguishable; 1.0: always told apart (either direction counts as told
apart: an AUC well below 0.5 would mean the folds disagree, which the interval shows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class C2STSettings:
    size: int = 64
    folds: int = 5
    epochs: int = 15
    batch_size: int = 32
    lr: float = 1e-3
    bootstrap: int = 1000
    level: float = 0.95
    max_n: int | None = None  # images per set at most (a seeded subsample): the run time grows with it


class SmallCNN(nn.Module):
    """Four stride-2 conv blocks (32-64-128-128), global average pool, one logit; ~0.3 M weights."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        channels = [3, width, width * 2, width * 4, width * 4]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            layers += [nn.Conv2d(c_in, c_out, 3, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(channels[-1], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3))).flatten()


def to_tensor(images: np.ndarray, size: int) -> torch.Tensor:
    """uint8 (N, S, S, 3) → float (N, 3, size, size) in [-1, 1], resized once (antialiased bilinear)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x


def balanced(a: np.ndarray, b: np.ndarray, rng: np.random.Generator,
             max_n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    n = min(len(a), len(b), max_n if max_n is not None else len(a))
    return (a[np.sort(rng.choice(len(a), n, replace=False))], b[np.sort(rng.choice(len(b), n, replace=False))])


def fit_and_score(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, settings: C2STSettings,
                  seed: int, device: str) -> np.ndarray:
    """Train a fresh SmallCNN on one fold (random flips: lesions have no up or left) and score the held-out
    part. Weights, batches, flips and dropout all follow `seed`; the caller's global RNG is left untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = SmallCNN().to(device)
        optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr, weight_decay=1e-4)
        n = len(x_train)
        net.train()
        for _ in range(settings.epochs):
            order = torch.randperm(n)
            for start in range(0, n, settings.batch_size):
                idx = order[start:start + settings.batch_size]
                if len(idx) < 2:  # never a batch of one (batch norm)
                    continue
                x = x_train[idx]
                flips = torch.rand(2, len(idx))
                x = torch.where(flips[0].view(-1, 1, 1, 1) < 0.5, x.flip(3), x)
                x = torch.where(flips[1].view(-1, 1, 1, 1) < 0.5, x.flip(2), x)
                loss = F.binary_cross_entropy_with_logits(net(x.to(device)), y_train[idx].to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        net.eval()
        with torch.inference_mode():
            scores = [net(x_test[i:i + 256].to(device)).float().cpu() for i in range(0, len(x_test), 256)]
    return torch.cat(scores).numpy()


def c2st(a: np.ndarray, b: np.ndarray, *, settings: C2STSettings = C2STSettings(), seed: int = 0,
         device: str = "cpu", prepare: Callable[[np.ndarray], torch.Tensor] | None = None) -> dict:
    """AUC of telling `a` (label 1) from `b` (label 0), uint8 (N, S, S, 3) each, out of fold.

    `prepare` turns a uint8 set into the float (N, 3, H, W) inputs (default: [-1, 1] at `settings.size`)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(seed)
    a, b = balanced(a, b, rng, settings.max_n)
    n = len(a)
    if n < settings.folds:
        raise ValueError(f"C2ST needs at least {settings.folds} images per set for {settings.folds} folds; got {n}")
    prepare = prepare or (lambda images: to_tensor(images, settings.size))
    x = torch.cat([prepare(a), prepare(b)])
    y = torch.cat([torch.ones(n), torch.zeros(n)])
    scores = np.zeros(2 * n)
    folds = StratifiedKFold(n_splits=settings.folds, shuffle=True, random_state=seed)
    for fold, (train_idx, test_idx) in enumerate(folds.split(np.zeros(2 * n), y.numpy())):
        train_t, test_t = torch.from_numpy(train_idx), torch.from_numpy(test_idx)
        scores[test_idx] = fit_and_score(x[train_t], y[train_t], x[test_t], settings, seed * 1000 + fold, device)
    labels = y.numpy()
    auc = float(roc_auc_score(labels, scores))
    boot = []
    for _ in range(settings.bootstrap):
        idx = rng.integers(0, 2 * n, 2 * n)
        if labels[idx].min() != labels[idx].max():
            boot.append(roc_auc_score(labels[idx], scores[idx]))
    alpha = (1 - settings.level) / 2
    low, high = (float(np.quantile(boot, q)) for q in (alpha, 1 - alpha)) if boot else (float("nan"),) * 2
    return {"auc": auc, "ci": [low, high], "level": settings.level, "n": n, "folds": settings.folds,
            "size": int(x.shape[-1]), "epochs": settings.epochs, "network": "SmallCNN from scratch (4 conv blocks)"}
