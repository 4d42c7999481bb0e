"""TensorBoard event files beside a run's CSVs, or nothing at all.

`open_tracker(RUN)` returns a `Tracker` writing `RUN/tensorboard/` through `torch.utils.tensorboard`, or one
that does nothing: when TensorBoard is not installed, when it is turned off (`--no-tensorboard`, which calls
`configure(False)`, or `SKINGAN_TENSORBOARD=0`), or on a DDP rank other than 0. Nothing else changes: the CSVs,
checkpoints and figures are written the same way and no random state is touched.

A resumed run passes the step it resumes from: the writer is opened with `purge_step = step + 1`, so TensorBoard
drops whatever a killed process logged after its last checkpoint and the stream continues without repeated
steps. Tags are grouped (`loss/…`, `D/…`, `lr/…`, …) so TensorBoard shows one panel per group.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("skingan")

FOLDER = "tensorboard"  # RUN/tensorboard/
ENV = "SKINGAN_TENSORBOARD"  # 0/false/off turns it off for every command and API call in the process
STUDY = "study"  # OUT/tensorboard/study/<condition>-seed<k>/: one HParams entry per experiment cell

_configured: bool | None = None

# metrics.csv columns of train-gan → their TensorBoard group (anything else goes under "train/")
GAN_GROUPS = {"loss_d": "loss", "loss_g": "loss", "gp": "loss", "r1": "loss", "aux_d": "loss", "aux_g": "loss",
              "d_real": "D", "d_fake": "D", "augment_p": "augment", "ada_rt": "augment",
              "images_per_s": "speed", "lr_g": "lr", "lr_d": "lr"}
# epochs.csv columns of train-classifier → their tags
CLASSIFIER_TAGS = {"train_loss": "loss/train", "val_loss": "loss/val", "val_auc": "val/auc", "lr": "lr/lr",
                   "images_per_s": "speed/images_per_s"}


def configure(enabled: bool) -> None:
    """Turn TensorBoard logging on or off for this process (the commands' --no-tensorboard)."""
    global _configured
    _configured = bool(enabled)


def wanted() -> bool:
    if _configured is not None:
        return _configured
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def available() -> bool:
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


class Tracker:
    """A SummaryWriter, or nothing (every method is then a no-op)."""

    def __init__(self, writer: Any = None) -> None:
        self.writer = writer

    @property
    def enabled(self) -> bool:
        return self.writer is not None

    def scalars(self, values: Mapping[str, Any], step: int) -> None:
        """Every finite-or-NaN number in `values` under its tag; other values are left out."""
        if self.writer is None:
            return
        for tag, value in values.items():
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                continue
            self.writer.add_scalar(tag, float(value), int(step))

    def image(self, tag: str, array: Any, step: int) -> None:
        """A uint8 (H, W, 3) picture, e.g. the fixed-noise grid."""
        if self.writer is not None:
            self.writer.add_image(tag, array, int(step), dataformats="HWC")

    def image_file(self, tag: str, path: Path, step: int) -> None:
        """A PNG the run wrote (roc.png), as it is on disk."""
        if self.writer is None or not path.is_file():
            return
        import numpy as np
        from PIL import Image

        with Image.open(path) as picture:
            self.image(tag, np.asarray(picture.convert("RGB")), step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def open_tracker(run: str | Path, *, main: bool = True, resume_step: int | None = None,
                 enabled: bool | None = None, folder: str = FOLDER) -> Tracker:
    """A tracker writing RUN/tensorboard/ (continuing after `resume_step`), or a no-op one."""
    if not main or not (wanted() if enabled is None else enabled):
        return Tracker()
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return Tracker()
    purge = None if resume_step is None else int(resume_step) + 1
    return Tracker(SummaryWriter(log_dir=str(Path(run) / folder), purge_step=purge))


# ------------------------------------------------------------------------------- what each command logs
def gan_tags(row: Mapping[str, Any], learning_rates: Mapping[str, float]) -> dict[str, Any]:
    """A metrics.csv row (+ the optimisers' learning rates) → grouped tags; the step itself is left out."""
    values = {**{k: v for k, v in row.items() if k != "step"}, **learning_rates}
    return {f"{GAN_GROUPS.get(name, 'train')}/{name}": value for name, value in values.items()}


def classifier_tags(epoch_row: Mapping[str, Any]) -> dict[str, Any]:
    """An epochs.csv row → train/val loss, val AUC, learning rate and images/s."""
    return {tag: epoch_row[name] for name, tag in CLASSIFIER_TAGS.items() if name in epoch_row}


def log_classifier_end(tracker: Tracker, metrics: Mapping[str, Any], roc_png: Path, step: int) -> None:
    """At the end of train-classifier: the test metrics and the ROC figure, at the last epoch."""
    tracker.scalars({f"test/{k}": metrics.get(k) for k in ("auc", "pr_auc", "balanced_accuracy", "sensitivity",
                                                           "specificity")}, step)
    tracker.image_file("figures/roc", roc_png, step)


def log_evaluation(out: Path, metrics: Mapping[str, Any]) -> None:
    """evaluate-gan: every top-level number of metrics.json (FD, KID, precision, recall, ...) and the
    memorised fraction, at the generator's training step (0 when the fakes do not say)."""
    source = metrics.get("protocol", {}).get("source") or {}
    try:
        step = int(source.get("step") or 0)
    except (TypeError, ValueError):
        step = 0
    values = {f"evaluate-gan/{k}": v for k, v in metrics.items()}
    memorised = (metrics.get("memorization") or {}).get("fraction_below_threshold")
    values["evaluate-gan/memorised_fraction"] = memorised
    with open_tracker(out) as tracker:
        tracker.scalars(values, step)


def log_study_cells(out: Path, results: Any) -> int:
    """experiment: one HParams entry per (condition, seed) cell with its test and OOD AUCs; the entries are
    rewritten whole each time the tables are, so a cell has exactly one. Returns how many were written."""
    import shutil

    if not wanted() or not available() or results is None or not len(results):
        return 0
    from torch.utils.tensorboard import SummaryWriter

    folder = Path(out) / FOLDER / STUDY
    shutil.rmtree(folder, ignore_errors=True)
    count = 0
    with SummaryWriter(log_dir=str(folder)) as writer:
        for (condition, seed), rows in results.groupby(["condition", "seed"], sort=False):
            first = rows.iloc[0]
            hparams = {"condition": str(condition), "kind": str(first["kind"]),
                       "source": str(first["source"] or ""), "seed": int(seed)}
            metrics = {f"auc/{str(t).replace(':', '-')}": _number(a) for t, a in zip(rows["test_set"], rows["auc"],
                                                                                      strict=True)}
            writer.add_hparams(hparams, metrics, run_name=f"{condition}-seed{int(seed)}")
            count += 1
    return count


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
