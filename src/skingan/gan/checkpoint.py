"""GAN checkpoints: what they hold, how they are written (atomically, finite weights only), read back
(weights_only), checked against the run that resumes them, and restored exactly (RNG states included).

The keys are the same for every family; a family's extra state (e.g. ADA's p) travels in `augment_state`.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skingan import __version__
from skingan.config import to_dict
from skingan.data.prepared import PreparedSet
from skingan.errors import TrainingStopped, UserError, one_line
from skingan.gan.config import migrate_legacy
from skingan.gan.state import GANState
from skingan.runs import atomic_torch_save, safe_torch_load

CHECKPOINT_KEYS = ("G", "D", "G_ema", "opt_G", "opt_D", "scaler", "step", "rng", "augment_state", "config",
                   "prepared_hash", "train_split", "classes", "arch", "image_size", "nz")
# Schedule and bookkeeping keys that may change when a run is resumed (e.g. to train longer).
RESUMABLE_CHANGES = {"steps", "max_minutes", "checkpoint_every", "sample_every", "log_every", "collapse_patience",
                     "compile"}


def rng_state() -> dict[str, Any]:
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(internal), gauss],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_dict(state: GANState, prepared: PreparedSet) -> dict[str, Any]:
    config = state.config
    return {
        "G": state.G.state_dict(),
        "D": state.D.state_dict(),
        "G_ema": state.G_ema.state_dict() if state.G_ema is not None else None,
        "opt_G": state.opt_G.state_dict(),
        "opt_D": state.opt_D.state_dict(),
        "scaler": state.scaler.state_dict(),
        "step": state.step,
        "rng": {**rng_state(), "noise": state.noise.get_state()},
        "augment_state": state.augment.state_dict(),
        "config": to_dict(config),
        "prepared_hash": prepared.hash,
        "train_split": config.data.split,
        "classes": list(config.data.classes),
        "arch": config.model.arch,
        "image_size": config.model.image_size,
        "nz": config.model.nz,
        "skingan_version": __version__,
    }


def weights_finite(state: GANState) -> bool:
    modules = [state.G, state.D] + ([state.G_ema] if state.G_ema is not None else [])
    return all(bool(torch.isfinite(p).all()) for m in modules for p in m.parameters())


def save_checkpoint(path: Path, state: GANState, prepared: PreparedSet) -> None:
    """Atomically write the checkpoint; refuse (keeping the previous one) if any weight is not finite."""
    if not weights_finite(state):
        raise TrainingStopped(f"step {state.step}: weights are not finite; training stopped and the last "
                              f"good checkpoint '{path}' is kept")
    atomic_torch_save(checkpoint_dict(state, prepared), path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    ckpt = safe_torch_load(path)
    if not isinstance(ckpt, dict) or not {"G", "D", "step", "config"} <= set(ckpt):
        raise UserError(f"'{path}' is not a skingan GAN checkpoint (keys G, D, step, config missing)")
    missing = [key for key in CHECKPOINT_KEYS if key not in ckpt]
    if missing or not isinstance(ckpt["config"], dict):
        raise UserError(f"'{path}' is not a complete skingan GAN checkpoint "
                        f"(missing {', '.join(missing) or 'a config mapping'})")
    return ckpt


def restore_or_refuse(state: GANState, ckpt: dict[str, Any], path: Path) -> None:
    """restore_state; a checkpoint whose tensors do not fit the models it names is a clear error."""
    try:
        restore_state(state, ckpt)
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as error:
        raise UserError(f"--resume: '{path}' does not fit the {state.config.model.arch}"
                        f"{state.config.model.image_size} models of this config (a damaged or foreign "
                        f"checkpoint): {one_line(error)}") from error


def restore_state(state: GANState, ckpt: dict[str, Any]) -> None:
    state.G.load_state_dict(ckpt["G"])
    state.D.load_state_dict(ckpt["D"])
    if state.G_ema is not None and ckpt.get("G_ema") is not None:
        state.G_ema.load_state_dict(ckpt["G_ema"])
    state.opt_G.load_state_dict(ckpt["opt_G"])
    state.opt_D.load_state_dict(ckpt["opt_D"])
    state.scaler.load_state_dict(ckpt["scaler"])
    state.augment.load_state_dict(ckpt["augment_state"])
    state.noise.set_state(ckpt["rng"]["noise"])
    state.step = int(ckpt["step"])
    if state.dist.main:
        set_rng_state(ckpt["rng"])
    else:  # other ranks' global RNG (dropout only) was never saved: reseed it per rank and step
        torch.manual_seed(hash((state.dist.rank, state.step)) % 2**31)


def check_resume_compatible(config: Any, ckpt: dict[str, Any], prepared: PreparedSet, path: Path) -> None:
    if ckpt.get("prepared_hash") != prepared.hash:
        raise UserError(f"--resume: '{path}' was trained on prepared set {ckpt.get('prepared_hash')}, "
                        f"but --data has hash {prepared.hash}; use the same --data")
    saved, now = migrate_legacy(ckpt["config"]), to_dict(config)
    for section, values in now.items():
        for key, value in values.items():
            if section == "train" and key in RESUMABLE_CHANGES:
                continue
            if saved.get(section, {}).get(key) != value:
                raise UserError(f"--resume: {section}.{key}={value!r}, but the checkpoint '{path}' has "
                                f"{section}.{key}={saved.get(section, {}).get(key)!r}; only train.steps, "
                                "train.max_minutes and the logging/checkpoint intervals may change on resume")
    if int(ckpt["step"]) > config.train.steps:
        raise UserError(f"--resume: the checkpoint is at step {ckpt['step']}, beyond train.steps="
                        f"{config.train.steps}; raise train.steps to continue")
