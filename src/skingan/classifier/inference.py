"""A classifier over a whole loader, in order: logits, probabilities, and loss with ROC-AUC.

Used every epoch on validation, at the end on validation and test, and by `evaluate-classifier`. Model and
inputs take the memory format measured faster for the backbone and device (`model.apply_memory_format`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from skingan.classifier import metrics as M
from skingan.classifier.model import apply_memory_format


@torch.no_grad()
def predict(model: nn.Module, loader: Any, device: str, amp: bool = False,
            channels_last: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(labels, logits) over the whole loader, in order (`channels_last` as in `train_one_epoch`)."""
    memory = apply_memory_format(model, device, channels_last)
    model.eval()
    labels, logits = [], []
    for images, targets in loader:
        with torch.autocast(device_type="cuda" if device.startswith("cuda") else "cpu", enabled=amp):
            out = model(images.to(device, non_blocking=True, memory_format=memory)).float()
        logits.append(out.cpu().numpy())
        labels.append(targets.numpy())
    return np.concatenate(labels).astype(np.int64), np.concatenate(logits).astype(np.float64)


def probabilities(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(logits, -60, 60)))


def evaluate(model: nn.Module, loader: Any, device: str, criterion: nn.Module | None = None,
             amp: bool = False) -> dict[str, Any]:
    """Loss and ROC-AUC over the whole set (probabilities, not rounded predictions)."""
    labels, logits = predict(model, loader, device, amp)
    result: dict[str, Any] = {"labels": labels, "probs": probabilities(logits), "auc": M.roc_auc(labels, logits)}
    if criterion is not None:
        weight = getattr(criterion, "pos_weight", None)
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=weight.cpu() if weight is not None else None)
        result["loss"] = float(loss_fn(torch.from_numpy(logits), torch.from_numpy(labels).double()))
    return result
