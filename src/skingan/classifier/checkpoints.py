"""A classifier run's checkpoints: `last.pt` (everything resume needs) and `best.pt` (the best epoch's weights).

`last.pt` holds the model, optimiser, scheduler, scaler, early-stopping state and history; `best.pt` the
weights of the best validation epoch for inference (its threshold is added when training finishes).
Both are written atomically from the unwrapped model. `check_resume_compatible` refuses to continue a run
under another prepared set, other settings than RESUMABLE_CHANGES, or other input statistics than it was
trained with (a run begun when Lite0 was fed ImageNet mean/std cannot switch to Lite statistics mid-way).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from skingan.classifier.config import ClassifierConfig
from skingan.classifier.model import backbone_normalization, checkpoint_normalization
from skingan.config import to_dict
from skingan.errors import UserError, one_line
from skingan.runs import atomic_torch_save, safe_torch_load

# Keys that may change when a run is resumed (train longer, evaluate differently); the rest must match.
RESUMABLE_CHANGES = {"train.epochs", "train.patience", "train.eval_batch_size", "data.workers", "eval.bootstrap",
                     "eval.ci"}
RESUME_KEYS = {"model", "optimizer", "scaler", "epoch", "best_auc", "best_epoch", "bad_epochs", "history", "seed",
               "meta", "config"}


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
    trained = checkpoint_normalization(checkpoint.get("meta") or {}, path)
    wanted = backbone_normalization(config.model.backbone)
    if trained != wanted:
        raise UserError(f"--resume: '{path}' was trained on inputs normalised as '{trained.name}' "
                        f"(mean {list(trained.mean)}), but this version feeds {config.model.backbone} "
                        f"'{wanted.name}' statistics; start a new run (another --out)")


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
