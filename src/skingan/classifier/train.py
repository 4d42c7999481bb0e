"""Training the classifier: loaders, one epoch, evaluation, checkpoints, early stopping on validation AUC.

`fit(...)` is the whole run; the steps it uses (`build_loaders`, `train_one_epoch`, `predict`, `evaluate`,
`save_checkpoint`) are short and importable on their own. Only the training split is ever resampled or
mixed with synthetic images; validation and test are read in order, once each, at their natural class
balance. Resume is exact: every epoch reseeds torch/numpy/albumentations from (seed, epoch), and
`last.pt` holds the model, optimiser, scheduler, scaler, early-stopping state and history.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from skingan.classifier import metrics as M
from skingan.classifier.config import ClassifierConfig
from skingan.classifier.model import build_classifier, model_meta
from skingan.classifier.synthetic import check_no_leakage, choose_synthetic, read_manifest, used_table
from skingan.config import to_dict
from skingan.data.dataset import ConcatImageDataset, ImageArrayDataset, load_png_images, prepared_split
from skingan.data.prepared import PreparedSet, open_prepared
from skingan.data.transforms import build_eval_transform, build_transform
from skingan.distributed import Dist, broadcast_flag, init_distributed
from skingan.errors import UserError, one_line
from skingan.runs import (
    atomic_torch_save,
    atomic_write_json,
    atomic_write_text,
    init_run_dir,
    safe_torch_load,
)

log = logging.getLogger("skingan")

# Keys that may change when a run is resumed (train longer, evaluate differently); the rest must match.
RESUMABLE_CHANGES = {"train.epochs", "train.patience", "train.eval_batch_size", "data.workers", "eval.bootstrap",
                     "eval.ci"}
RESUME_KEYS = {"model", "optimizer", "scaler", "epoch", "best_auc", "best_epoch", "bad_epochs", "history", "seed",
               "meta", "config"}
EPOCH_COLUMNS = ("epoch", "train_loss", "val_loss", "val_auc", "lr", "seconds", "s_per_iteration",
                 "images_per_s", "best")


# -------------------------------------------------------------------------------------------- data
def synthetic_datasets(rows: Any, image_size: int, resize_mode: str) -> ImageArrayDataset:
    """Synthetic PNGs decoded and resized like the prepared cache, kept as uint8."""
    images = load_png_images([Path(p) for p in rows["path"]], image_size, resize_mode)
    return ImageArrayDataset(images, np.arange(len(rows)), rows["target"].to_numpy(), rows["path"].tolist(),
                             "synthetic")


def build_datasets(config: ClassifierConfig, prepared: PreparedSet, synthetic_rows: Any = None,
                   seed: int = 0) -> dict[str, Any]:
    """train (real train split + synthetic, augmented), val and test (real, never augmented or mixed)."""
    size = config.data.image_size
    train_transform = build_transform(config.augment.policy, size, seed=seed)
    parts = [] if config.synthetic.only else [prepared_split(prepared, "train", size)]
    if synthetic_rows is not None and len(synthetic_rows):
        parts.append(synthetic_datasets(synthetic_rows, size, str(prepared.info.get("resize", "crop"))))
    train = ConcatImageDataset(parts)
    train.set_transform(train_transform)
    eval_transform = build_eval_transform(size)
    datasets = {"train": train, "val": prepared_split(prepared, "val", size, eval_transform),
                "test": prepared_split(prepared, "test", size, eval_transform)}
    for split in ("train", "val", "test"):
        if len(np.unique(datasets[split].targets)) < 2:
            raise UserError(f"prepared set '{prepared.root}': the {split} split needs both classes, benign and "
                            f"malignant (ROC-AUC is undefined otherwise; counts: {prepared.counts()[split]})")
    return datasets


def reseed_transform(dataset: Any, seed: int) -> None:
    parts = getattr(dataset, "parts", [dataset])
    for transform in {id(p.transform): p.transform for p in parts if p.transform is not None}.values():
        transform.set_random_seed(seed)


def _worker_init(worker_id: int) -> None:
    info = torch.utils.data.get_worker_info()
    reseed_transform(info.dataset, int(info.seed % 2**31))


def build_train_sampler(dataset: Any, sampler: str, ddp: Dist) -> Any:
    """The training sampler: imbalanced resampling (torchsampler), or a (distributed) shuffle."""
    if sampler == "imbalanced":
        from torchsampler import ImbalancedDatasetSampler

        # Under DDP each rank draws its own share with replacement from its own seeded stream.
        return ImbalancedDatasetSampler(dataset, labels=dataset.get_labels(),
                                        num_samples=math.ceil(len(dataset) / ddp.world))
    if ddp.enabled:
        from torch.utils.data.distributed import DistributedSampler

        return DistributedSampler(dataset, num_replicas=ddp.world, rank=ddp.rank, shuffle=True)
    return None


def build_loaders(datasets: dict[str, Any], config: ClassifierConfig, ddp: Dist | None = None,
                  device: str = "cpu") -> dict[str, Any]:
    """Train: resampled or shuffled. Val/test: sequential, every image once, natural class balance."""
    from torch.utils.data import DataLoader

    ddp = ddp or Dist()
    workers = config.data.workers
    common = {"num_workers": workers, "pin_memory": device == "cuda", "persistent_workers": False,
              "worker_init_fn": _worker_init if workers else None}
    sampler = build_train_sampler(datasets["train"], config.train.sampler, ddp)
    per_epoch = len(sampler) if sampler is not None else len(datasets["train"])
    lonely = per_epoch % config.train.batch_size == 1 and per_epoch > 1  # batch norm cannot train on one image
    if lonely:
        log.info("dropping the last training batch of each epoch: it would hold a single image")
    loaders = {"train": DataLoader(datasets["train"], batch_size=config.train.batch_size,
                                   sampler=sampler, shuffle=sampler is None, drop_last=lonely, **common)}
    for split in ("val", "test"):
        loaders[split] = DataLoader(datasets[split], batch_size=config.train.eval_batch_size, shuffle=False,
                                    **common)
    return loaders


# ----------------------------------------------------------------------------------- optimisation
def build_criterion(config: ClassifierConfig, train_targets: np.ndarray, device: str) -> nn.Module:
    """BCE-with-logits; with `weighted_loss`, positives weigh n_neg / n_pos (training split counts)."""
    if config.train.sampler != "weighted_loss":
        return nn.BCEWithLogitsLoss()
    n_pos = int(train_targets.sum())
    n_neg = len(train_targets) - n_pos
    return nn.BCEWithLogitsLoss(pos_weight=torch.tensor(n_neg / max(n_pos, 1), device=device))


def build_optimizer(model: nn.Module, config: ClassifierConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=config.train.lr, weight_decay=config.train.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, config: ClassifierConfig, steps_per_epoch: int) -> Any:
    """Per-step warm-up + cosine (LambdaLR), per-epoch ReduceLROnPlateau on val AUC, or none."""
    if config.train.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=config.train.plateau_factor, patience=config.train.plateau_patience)
    if config.train.scheduler == "none":
        return None
    total = max(config.train.epochs * steps_per_epoch, 1)
    warmup = int(round(config.train.warmup_epochs * steps_per_epoch))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(total - warmup, 1)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_one_epoch(model: nn.Module, criterion: nn.Module, optimizer: torch.optim.Optimizer, loader: Any,
                    device: str, *, scaler: Any, scheduler: Any = None, amp: bool = False,
                    grad_clip: float = 0.0, desc: str = "train", progress: bool = True) -> dict[str, float]:
    """One pass over the training loader; stops the run on a non-finite loss."""
    from tqdm import tqdm

    model.train()
    total, count, steps = 0.0, 0, 0
    start = time.perf_counter()
    for images, targets in tqdm(loader, desc=desc, leave=False, disable=not progress, unit="batch"):
        images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        with torch.autocast(device_type="cuda" if device.startswith("cuda") else "cpu", enabled=amp):
            loss = criterion(model(images).float(), targets)
        if not torch.isfinite(loss):
            raise UserError(f"training loss became {loss.item()} at {desc}; lower train.lr or check the data")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if grad_clip > 0:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()
        if scheduler is not None and not isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step()
        total += loss.item() * len(targets)
        count += len(targets)
        steps += 1
    seconds = time.perf_counter() - start
    return {"train_loss": total / max(count, 1), "seconds": seconds, "s_per_iteration": seconds / max(steps, 1),
            "images_per_s": count / max(seconds, 1e-9)}


@torch.no_grad()
def predict(model: nn.Module, loader: Any, device: str, amp: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(labels, logits) over the whole loader, in order."""
    model.eval()
    labels, logits = [], []
    for images, targets in loader:
        with torch.autocast(device_type="cuda" if device.startswith("cuda") else "cpu", enabled=amp):
            out = model(images.to(device, non_blocking=True)).float()
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


# ----------------------------------------------------------------------------------- checkpoints
def unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") else model


def save_checkpoint(path: Path, model: nn.Module, *, optimizer: Any, scheduler: Any, scaler: Any,
                    state: dict, meta: dict, config: ClassifierConfig) -> None:
    """A dict of state_dicts and plain values, written atomically from the unwrapped model."""
    atomic_torch_save({
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict(),
        **state,
        "meta": meta,
        "config": to_dict(config),
    }, path)


def save_best(path: Path, model: nn.Module, *, state: dict, meta: dict, config: ClassifierConfig) -> None:
    """The best epoch's weights for inference (resume state lives in last.pt)."""
    atomic_torch_save({"model": unwrap(model).state_dict(), "epoch": state["epoch"], "val_auc": state["best_auc"],
                       "seed": state["seed"], "meta": meta, "config": to_dict(config)}, path)


def check_resume_compatible(config: ClassifierConfig, checkpoint: Any, prepared_hash: str, path: Path) -> None:
    """--resume continues the same run: same prepared set, same config but for RESUMABLE_CHANGES."""
    if not isinstance(checkpoint, dict) or not set(checkpoint) >= RESUME_KEYS:
        raise UserError(f"--resume: '{path}' is not a skingan classifier checkpoint (keys "
                        f"{', '.join(sorted(RESUME_KEYS))} expected)")
    saved_hash = (checkpoint.get("meta") or {}).get("prepared_hash")
    if saved_hash != prepared_hash:
        raise UserError(f"--resume: '{path}' was trained on prepared set {saved_hash}, but --data has hash "
                        f"{prepared_hash}; use the same --data")
    saved = checkpoint["config"] if isinstance(checkpoint["config"], dict) else {}
    for section, values in to_dict(config).items():
        before = saved.get(section) if isinstance(saved.get(section), dict) else {}
        for key, value in values.items():
            if f"{section}.{key}" not in RESUMABLE_CHANGES and before.get(key) != value:
                raise UserError(f"--resume: {section}.{key}={value!r}, but the checkpoint '{path}' has "
                                f"{section}.{key}={before.get(key)!r}; only {', '.join(sorted(RESUMABLE_CHANGES))} "
                                "may change on resume")


def restore_checkpoint(path: Path, model: nn.Module, optimizer: Any, scheduler: Any, scaler: Any) -> dict:
    checkpoint = safe_torch_load(path)
    try:
        unwrap(model).load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        if scheduler is not None and checkpoint.get("scheduler") is not None:
            scheduler.load_state_dict(checkpoint["scheduler"])
        if checkpoint.get("scaler"):
            scaler.load_state_dict(checkpoint["scaler"])
        return {k: checkpoint[k] for k in ("epoch", "best_auc", "best_epoch", "bad_epochs", "history", "seed")}
    except (RuntimeError, KeyError, ValueError, TypeError) as error:
        raise UserError(f"--resume: '{path}' does not fit this run's model (a damaged or foreign checkpoint): "
                        f"{one_line(error)}") from error


# ------------------------------------------------------------------------------------ run outputs
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


# ------------------------------------------------------------------------------------------- fit
def select_synthetic(config: ClassifierConfig, prepared: PreparedSet, seed: int) -> Any:
    """The synthetic rows this run trains on (None when it uses none), after the leakage check."""
    if not config.uses_synthetic():
        return None
    if not config.synthetic.dir:
        raise UserError("synthetic.ratio/balance/only is set but no synthetic folder: pass --synthetic DIR")
    manifest = read_manifest(config.synthetic.dir)
    check_no_leakage(manifest, prepared.hash, config.synthetic.dir)
    train_targets = prepared.targets[prepared.indices("train")]
    counts = {t: int((train_targets == t).sum()) for t in (0, 1)}
    return choose_synthetic(manifest, counts, ratio=config.synthetic.ratio, balance=config.synthetic.balance,
                            only=config.synthetic.only, classes=config.synthetic.classes, seed=seed)


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
        stop = broadcast_flag(stop, ddp)
    metrics = finish(model, best, loaders, config, device, out, seed, state, synthetic_rows) if ddp.main else {}
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
                    "best_val_auc": state["best_auc"],
                    "train_images": len(loaders["train"].dataset),
                    "synthetic_images": 0 if synthetic_rows is None else len(synthetic_rows),
                    "train_seconds": round(sum(h["seconds"] for h in state["history"]), 2)})
    checkpoint["threshold"] = metrics["threshold"]
    atomic_torch_save(checkpoint, best)
    atomic_write_json(out / "metrics.json", metrics)
    return metrics


def _counts(dataset: Any) -> str:
    targets = np.asarray(dataset.targets)
    synthetic = sum(o == "synthetic" for o in dataset.origins)
    return f"{int((targets == 0).sum())} benign / {int(targets.sum())} malignant, {synthetic} synthetic"
