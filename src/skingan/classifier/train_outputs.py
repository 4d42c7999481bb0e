"""What a classifier run writes besides checkpoints: epochs.csv and curves.png every epoch; at the end the
test metrics at the validation threshold, ROC/PR/confusion figures and predictions.csv."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from skingan.classifier import metrics as M
from skingan.classifier.config import ClassifierConfig
from skingan.classifier.inference import evaluate
from skingan.runs import atomic_write_text

log = logging.getLogger("skingan")

EPOCH_COLUMNS = ("epoch", "train_loss", "val_loss", "val_auc", "lr", "seconds", "s_per_iteration",
                 "images_per_s", "best")


# ------------------------------------------------------------------------------------------ each epoch
def write_epochs_csv(path: Path, history: list[dict]) -> None:
    lines = [",".join(EPOCH_COLUMNS)]
    lines += [",".join(f"{row.get(c, '')}" for c in EPOCH_COLUMNS) for row in history]
    atomic_write_text(path, "\n".join(lines) + "\n")


def plot_curves(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.2))
    left.plot(epochs, [h["train_loss"] for h in history], marker="o", label="train")
    left.plot(epochs, [h["val_loss"] for h in history], marker="o", label="validation")
    left.set(xlabel="epoch", ylabel="BCE loss", title="loss")
    left.legend()
    right.plot(epochs, [h["val_auc"] for h in history], marker="o", color="C2")
    right.set(xlabel="epoch", ylabel="ROC-AUC", title="validation AUC")
    for ax in (left, right):
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------------------------------- at the end
def final_metrics(model: nn.Module, loaders: dict[str, Any], config: ClassifierConfig, device: str,
                  out: Path, seed: int) -> dict:
    """Threshold by Youden on validation; test metrics at that threshold; figures."""
    val = evaluate(model, loaders["val"], device)
    test = evaluate(model, loaders["test"], device)
    threshold = M.youden_threshold(val["labels"], val["probs"])
    boot = {"n_boot": config.eval.bootstrap, "seed": seed, "level": config.eval.ci}
    metrics: dict[str, Any] = {}
    if len(test["labels"]) and len(np.unique(test["labels"])) == 2:
        metrics.update(M.classification_report(test["labels"], test["probs"], threshold, **boot))
        M.plot_confusion(M.confusion(test["labels"], test["probs"], threshold), out / "confusion.png")
    else:
        log.warning("the test split is empty or has one class: no test metrics")
        metrics.update({"auc": float("nan"), "n": int(len(test["labels"])), "threshold": threshold})
    metrics["val"] = M.classification_report(val["labels"], val["probs"], threshold, **boot)
    curves = {"validation": (val["labels"], val["probs"])}
    if len(np.unique(test["labels"])) == 2:
        curves["test"] = (test["labels"], test["probs"])
    M.plot_roc(curves, out / "roc.png")
    M.plot_pr(curves, out / "pr.png")
    write_predictions(out / "predictions.csv", loaders, {"val": val, "test": test})
    return metrics


def write_predictions(path: Path, loaders: dict[str, Any], results: dict[str, dict]) -> None:
    rows = ["split,image_id,target,probability"]
    for split, result in results.items():
        ids = loaders[split].dataset.ids
        rows += [f"{split},{i},{t},{p:.6f}" for i, t, p in zip(ids, result["labels"], result["probs"], strict=True)]
    atomic_write_text(path, "\n".join(rows) + "\n")
