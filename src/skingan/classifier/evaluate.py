"""A trained classifier on any prepared set (e.g. another hospital's images): the same metrics as training."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from skingan.classifier import metrics as M
from skingan.classifier.model import checkpoint_normalization, load_trained_classifier
from skingan.data.dataset import prepared_split
from skingan.data.prepared import open_prepared
from skingan.data.transforms import build_eval_transform
from skingan.errors import UserError
from skingan.runs import atomic_write_json, atomic_write_text

log = logging.getLogger("skingan")


def evaluate_checkpoint(checkpoint: str | Path, data: str | Path, *, split: str = "test",
                        threshold: float | None = None, out: Path | None = None, bootstrap: int = 1000,
                        seed: int = 0, device: str = "cpu", batch_size: int = 64, prefix: str = "",
                        level: float = 0.95) -> dict:
    """Metrics of `checkpoint` on `split` of prepared set `data`, at the threshold chosen on validation
    (`level`: the bootstrap AUC interval's confidence level).

    With `out`, writes `<prefix>metrics.json`, ROC/PR/confusion figures and predictions.
    """
    from torch.utils.data import DataLoader

    from skingan.classifier.train import predict, probabilities

    model, meta = load_trained_classifier(checkpoint, device)
    prepared = open_prepared(data)
    if split == "all" and prepared.hash == meta.get("prepared_hash"):
        raise UserError(f"--split all on '{data}' would score the classifier on its own training images "
                        "(this is the prepared set it was trained on); use --split test or val")
    normalization = checkpoint_normalization(meta, checkpoint)  # what it was trained with (old: ImageNet)
    dataset = prepared_split(prepared, split, meta["image_size"],
                             build_eval_transform(meta["image_size"], normalization))
    if len(dataset) == 0:
        raise UserError(f"prepared set '{data}' has no images in split '{split}'; try --split all")
    if len(np.unique(dataset.targets)) < 2:
        raise UserError(f"split '{split}' of '{data}' holds one class only; ROC-AUC needs both (try --split all)")
    if threshold is None:
        threshold = meta.get("threshold")
        if threshold is None:
            raise UserError(f"checkpoint '{checkpoint}' has no validation threshold (training did not finish); "
                            "pass --threshold")
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    labels, logits = predict(model, loader, device)
    probs = probabilities(logits)
    report = M.classification_report(labels, probs, float(threshold), n_boot=bootstrap, seed=seed, level=level)
    report.update({"split": split, "prepared": str(Path(data).resolve()), "prepared_hash": prepared.hash,
                   "same_prepared_set_as_training": prepared.hash == meta.get("prepared_hash"),
                   "checkpoint": str(Path(checkpoint).resolve()), "normalization": normalization.describe()})
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        curves = {split: (labels, probs)}
        M.plot_roc(curves, out / f"{prefix}roc.png")
        M.plot_pr(curves, out / f"{prefix}pr.png")
        M.plot_confusion(M.confusion(labels, probs, float(threshold)), out / f"{prefix}confusion.png", title=split)
        lines = ["image_id,target,probability"]
        lines += [f"{i},{t},{p:.6f}" for i, t, p in zip(dataset.ids, labels, probs, strict=True)]
        atomic_write_text(out / f"{prefix}predictions.csv", "\n".join(lines) + "\n")
        atomic_write_json(out / f"{prefix}metrics.json", report)  # last: its presence means the rest is there
    return report
