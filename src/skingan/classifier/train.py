"""Training the classifier: `fit` is the whole run, early-stopping on validation AUC, then the test metrics.

Read top to bottom: `fit` builds the data, model and optimiser, restores `last.pt` on resume, and loops
over epochs; `end_of_epoch` validates and updates early stopping; `finish` reloads the best epoch and
writes metrics.json. Each step it uses lives in a module with that one job: `train_data` (synthetic rows,
datasets, loaders), `train_epoch` (loss, optimiser, schedule, one epoch), `inference` (predict, evaluate),
`checkpoints` (last.pt / best.pt, resume checks) and `train_outputs` (epochs.csv, curves, final metrics,
predictions); their public names are importable from here too. Resume is exact: every epoch reseeds
torch/numpy/albumentations from (seed, epoch), and `last.pt` holds the model, optimiser, scheduler, scaler,
early-stopping state and history.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from skingan.classifier.checkpoints import (
    RESUMABLE_CHANGES,
    RESUME_KEYS,
    check_resume_compatible,
    restore_checkpoint,
    save_best,
    save_checkpoint,
    unwrap,
)
from skingan.classifier.config import ClassifierConfig
from skingan.classifier.inference import evaluate, predict, probabilities
from skingan.classifier.model import build_classifier, model_meta
from skingan.classifier.synthetic import used_table
from skingan.classifier.train_data import (
    build_datasets,
    build_loaders,
    build_train_sampler,
    reseed_transform,
    select_synthetic,
    synthetic_datasets,
)
from skingan.classifier.train_epoch import build_criterion, build_optimizer, build_scheduler, train_one_epoch
from skingan.classifier.train_outputs import (
    EPOCH_COLUMNS,
    final_metrics,
    plot_curves,
    write_epochs_csv,
    write_predictions,
)
from skingan.data.prepared import open_prepared
from skingan.distributed import broadcast_flag, init_distributed
from skingan.runs import atomic_torch_save, atomic_write_json, init_run_dir, safe_torch_load
from skingan.tracking import classifier_tags, log_classifier_end, open_tracker

__all__ = [
    "EPOCH_COLUMNS", "RESUMABLE_CHANGES", "RESUME_KEYS", "build_criterion", "build_datasets", "build_loaders",
    "build_optimizer", "build_scheduler", "build_train_sampler", "check_resume_compatible", "end_of_epoch",
    "evaluate", "final_metrics", "finish", "fit", "plot_curves", "predict", "probabilities", "reseed_transform",
    "restore_checkpoint", "save_best", "save_checkpoint", "select_synthetic", "synthetic_datasets",
    "train_one_epoch", "unwrap", "write_epochs_csv", "write_predictions",
]

log = logging.getLogger("skingan")


def fit(config: ClassifierConfig, data: str | Path, out: str | Path, *, seed: int = 0, device: str = "cpu",
        resume: bool = False, progress: bool = True) -> dict:
    """Train, early-stop on validation AUC, evaluate the best epoch on test; returns metrics.json's content."""
    from skingan.runs import seed_everything

    out = Path(out)
    ddp = init_distributed(device)
    if ddp.enabled and device == "cuda":
        torch.cuda.set_device(ddp.local_rank)
        device = f"cuda:{ddp.local_rank}"
    prepared = open_prepared(data)
    last, best = out / "checkpoints" / "last.pt", out / "checkpoints" / "best.pt"
    if resume and last.is_file():
        check_resume_compatible(config, safe_torch_load(last), prepared.hash, last)
    prepared.images(config.data.image_size)  # a missing cache size fails before the run folder exists
    synthetic_rows = select_synthetic(config, prepared, seed)
    seed_everything(seed)
    datasets = build_datasets(config, prepared, synthetic_rows, seed)  # refuses unusable splits before any write
    if ddp.main:
        init_run_dir(out, config=config, seed=seed, device=device, resume=resume,
                     extra={"prepared": str(Path(data).resolve()), "prepared_hash": prepared.hash})
        if synthetic_rows is not None:
            used_table(synthetic_rows).to_csv(out / "synthetic_used.csv", index=False)
    loaders = build_loaders(datasets, config, ddp, device)
    amp = config.train.amp and device.startswith("cuda")
    model = build_classifier(config.model.backbone, image_size=config.data.image_size,
                             pretrained=config.model.pretrained, weights=config.model.weights,
                             dropout=config.model.dropout, freeze_blocks=config.model.freeze_blocks,
                             bn_trainable=config.model.bn_trainable).to(device)
    criterion = build_criterion(config, datasets["train"].targets, device)
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config, len(loaders["train"]))
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    meta = model_meta(config, prepared.hash)
    state = {"epoch": 0, "best_auc": -1.0, "best_epoch": 0, "bad_epochs": 0, "history": [], "seed": seed}
    if resume and last.is_file():
        state = restore_checkpoint(last, model, optimizer, scheduler, scaler)
        log.info("resuming %s after epoch %d (best val AUC %.4f)", out, state["epoch"], state["best_auc"])
    train_model = model
    if ddp.enabled:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[ddp.local_rank] if device.startswith("cuda") else None)
    log.info("train %d images (%s), val %d, test %d; %s at %d px on %s",
             len(datasets["train"]), _counts(datasets["train"]), len(datasets["val"]), len(datasets["test"]),
             config.model.backbone, config.data.image_size, device)
    tracker = open_tracker(out, main=ddp.main, resume_step=state["epoch"] if resume else None)
    stop = state["bad_epochs"] >= config.train.patience > 0
    for epoch in range(state["epoch"] + 1, config.train.epochs + 1):
        if stop:
            break
        seed_everything(seed * 1000 + epoch + ddp.rank * 100003)
        reseed_transform(datasets["train"], seed * 1000 + epoch + ddp.rank * 100003)
        sampler = loaders["train"].sampler
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        row = train_one_epoch(train_model, criterion, optimizer, loaders["train"], device, scaler=scaler,
                              scheduler=scheduler, amp=amp, grad_clip=config.train.grad_clip,
                              desc=f"epoch {epoch}/{config.train.epochs}", progress=progress and ddp.main)
        if ddp.main:
            stop = end_of_epoch(model, loaders, criterion, device, amp, epoch, row, state, config, scheduler,
                                optimizer)
            if state["best_epoch"] == epoch:  # first: last.pt must never name a best epoch best.pt lacks
                save_best(best, model, state=state, meta=meta, config=config)
            save_checkpoint(last, model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, state=state,
                            meta=meta, config=config)
            write_epochs_csv(out / "epochs.csv", state["history"])
            plot_curves(state["history"], out / "curves.png")
            tracker.scalars(classifier_tags(state["history"][-1]), epoch)
        stop = broadcast_flag(stop, ddp)
    metrics = finish(model, best, loaders, config, device, out, seed, state, synthetic_rows) if ddp.main else {}
    log_classifier_end(tracker, metrics, out / "roc.png", state["epoch"])
    tracker.close()
    if ddp.enabled:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return metrics


def end_of_epoch(model: nn.Module, loaders: dict, criterion: nn.Module, device: str, amp: bool, epoch: int,
                 row: dict, state: dict, config: ClassifierConfig, scheduler: Any, optimizer: Any) -> bool:
    """Validate, update early stopping and the plateau scheduler; True when training should stop."""
    val = evaluate(model, loaders["val"], device, criterion, amp)
    improved = val["auc"] > state["best_auc"]
    if improved:
        state.update(best_auc=float(val["auc"]), best_epoch=epoch, bad_epochs=0)
    else:
        state["bad_epochs"] += 1
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(val["auc"])
    state["epoch"] = epoch
    state["history"].append({"epoch": epoch, "train_loss": round(row["train_loss"], 6),
                             "val_loss": round(val["loss"], 6), "val_auc": round(float(val["auc"]), 6),
                             "lr": optimizer.param_groups[0]["lr"], "seconds": round(row["seconds"], 2),
                             "s_per_iteration": round(row["s_per_iteration"], 4),
                             "images_per_s": round(row["images_per_s"], 2), "best": int(improved)})
    log.info("epoch %d: train loss %.4f, val loss %.4f, val AUC %.4f%s (%.1f s, %.3f s/iteration)", epoch,
             row["train_loss"], val["loss"], val["auc"], " *" if improved else "", row["seconds"],
             row["s_per_iteration"])
    return state["bad_epochs"] >= config.train.patience > 0


def finish(model: nn.Module, best: Path, loaders: dict, config: ClassifierConfig, device: str, out: Path,
           seed: int, state: dict, synthetic_rows: Any) -> dict:
    """Reload the best epoch, choose the threshold on validation, write metrics.json and figures."""
    checkpoint = safe_torch_load(best)
    model.load_state_dict(checkpoint["model"])
    metrics = final_metrics(model, loaders, config, device, out, seed)
    metrics.update({"best_epoch": state["best_epoch"], "epochs_run": state["epoch"],
                    "normalization": (checkpoint.get("meta") or {}).get("normalization"),
                    "best_val_auc": state["best_auc"],
                    "train_images": len(loaders["train"].dataset),
                    "synthetic_images": 0 if synthetic_rows is None else len(synthetic_rows),
                    "synthetic_resolution": getattr(loaders["train"].dataset, "resolution", None),
                    "train_seconds": round(sum(h["seconds"] for h in state["history"]), 2)})
    checkpoint["threshold"] = metrics["threshold"]
    atomic_torch_save(checkpoint, best)
    atomic_write_json(out / "metrics.json", metrics)
    return metrics


def _counts(dataset: Any) -> str:
    targets = np.asarray(dataset.targets)
    synthetic = sum(o == "synthetic" for o in dataset.origins)
    return f"{int((targets == 0).sum())} benign / {int(targets.sum())} malignant, {synthetic} synthetic"
