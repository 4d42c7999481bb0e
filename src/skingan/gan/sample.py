"""Generate images from a checkpoint alone: the generator, its provenance, and correctly de-normalised PNGs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from skingan.config import config_hash
from skingan.data import samples
from skingan.data.prepared import class_index
from skingan.errors import UserError, one_line
from skingan.gan.checkpoint import load_checkpoint
from skingan.gan.config import config_from_saved
from skingan.gan.images import save_png, to_uint8
from skingan.gan.registry import build_generator

log = logging.getLogger("skingan")



def load_generator(checkpoint_path: str | Path, device: str = "cpu", use_ema: bool = True) -> tuple[nn.Module, dict]:
    """The generator (eval mode) and its provenance, from the checkpoint file alone."""
    path = Path(checkpoint_path)
    ckpt = load_checkpoint(path)
    config = config_from_saved(ckpt["config"], origin=f"{path} (config)")
    G = build_generator(config)
    weights = ckpt["G_ema"] if use_ema and ckpt.get("G_ema") is not None else ckpt["G"]
    if use_ema and ckpt.get("G_ema") is None:
        log.info("%s has no EMA generator (train.ema was off); using the raw generator", path)
    load_weights(G, weights, path, f"{config.model.arch}{config.model.image_size}")
    G = G.to(device).eval()
    meta: dict[str, Any] = {
        "arch": ckpt["arch"],
        "image_size": int(ckpt["image_size"]),
        "nz": int(ckpt["nz"]),
        "classes": list(ckpt["classes"]),
        "conditional": config.conditional,
        "step": int(ckpt["step"]),
        "prepared_hash": ckpt["prepared_hash"],
        "train_split": ckpt["train_split"],
        "config_hash": config_hash(ckpt["config"]),
        "checkpoint": str(path),
        "ema": weights is ckpt.get("G_ema"),
        "skingan_version": ckpt.get("skingan_version"),
    }
    return G, meta


def load_weights(module: nn.Module, weights: Any, path: Path, what: str) -> None:
    """load_state_dict, with weights that do not fit the checkpoint's own config as a clear error."""
    try:
        module.load_state_dict(weights)
    except (RuntimeError, TypeError, AttributeError) as error:
        raise UserError(f"'{path}': its generator weights do not fit the {what} generator its config "
                        f"describes (a damaged or foreign checkpoint): {one_line(error)}") from error


def resolve_class(meta: dict, class_name: str | None) -> str:
    """The class to draw: any class the generator learned; None means its only class (unconditional)."""
    classes = meta["classes"]
    if class_name is None:
        if meta["conditional"]:
            raise UserError(f"this conditional generator generates {', '.join(classes)}: choose --class (or all)")
        return classes[0]
    name = class_name.strip().lower()
    if name not in classes:
        raise UserError(f"--class {class_name}: this generator was trained on {', '.join(classes)} only")
    return name


def noise_seed(seed: int, class_name: str) -> int:
    """Each class draws its own latents, so benign and malignant samples of one run do not share z."""
    return seed * 1_000_003 + class_index(class_name)


@torch.no_grad()
def generate_images(G: nn.Module, meta: dict, n: int, class_name: str | None, seed: int, batch_size: int = 64,
                    device: str = "cpu") -> np.ndarray:
    """n images of one class as uint8 (n, S, S, 3); the same seed gives the same images at any batch size."""
    name = resolve_class(meta, class_name)
    g = torch.Generator().manual_seed(noise_seed(seed, name))
    z = torch.randn(n, meta["nz"], generator=g)
    label = meta["classes"].index(name)
    out = np.empty((n, meta["image_size"], meta["image_size"], 3), dtype=np.uint8)
    for start in range(0, n, batch_size):
        zb = z[start:start + batch_size].to(device)
        y = torch.full((zb.shape[0],), label, dtype=torch.long, device=device) if meta["conditional"] else None
        out[start:start + zb.shape[0]] = to_uint8(G(zb, y))
    return out


def write_samples(checkpoint: str | Path, out: str | Path, n: int, class_name: str | None = None, seed: int = 0,
                  use_ema: bool = True, device: str = "cpu", batch_size: int = 64) -> dict:
    """DIR/<class>/<class>_000000.png…, DIR/manifest.csv and DIR/sample.json; returns the summary record."""
    from tqdm import tqdm

    from skingan.runs import atomic_write_json, atomic_write_text, remove_stale_temporaries

    out = Path(out)
    if samples.is_sample_folder(out):
        raise UserError(f"'{out}' already holds samples (manifest.csv); choose another --out")
    remove_stale_temporaries(out)  # PNGs cut short by a kill; the re-run rewrites every file
    G, meta = load_generator(checkpoint, device=device, use_ema=use_ema)
    names = list(meta["classes"]) if class_name in (None, "all") else [resolve_class(meta, class_name)]
    rows, counts = [], {}
    for name in names:
        images = generate_images(G, meta, n, name, seed, batch_size=batch_size, device=device)
        for index, image in enumerate(tqdm(images, desc=f"sample {name}", unit="img", leave=False)):
            file = samples.image_file(name, index)
            save_png(image, out / file)
            rows.append({"file": file, "class": name, "target": class_index(name), "seed": seed, "index": index,
                         "checkpoint": meta["checkpoint"], "step": meta["step"], "arch": meta["arch"],
                         "image_size": meta["image_size"], "config_hash": meta["config_hash"],
                         "prepared_hash": meta["prepared_hash"], "train_split": meta["train_split"]})
        counts[name] = len(images)
    atomic_write_text(out / samples.MANIFEST, samples.manifest_text(rows))
    record = {**{k: meta[k] for k in ("checkpoint", "step", "arch", "image_size", "nz", "classes", "conditional",
                                      "config_hash", "prepared_hash", "train_split", "ema")},
              "seed": seed, "n_per_class": n, "counts": counts, "total": sum(counts.values())}
    atomic_write_json(out / samples.RECORD, record)
    return record
