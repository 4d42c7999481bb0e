"""`evaluate-gan --class all`: the sets a samples folder or a generator gives, each with the reals it is
scored against.

- A `skingan sample` folder whose manifest says which class each image is, from a conditional generator (or
  one trained on one class): one set per class, each scored against the real images of its own class.
- A folder whose labels say nothing about the images — no manifest.csv (a plain folder), a manifest with no
  class values, or an unconditional generator trained on both classes (its sample.json: conditional false,
  two classes; `skingan sample` then files the same mixed draws under both names) — is one set of ALL
  classes, scored against the real images of both classes. Its protocol's class_scope says which and why.

The command writes one evaluation folder per set (OUT/benign, OUT/malignant or OUT/all) and, for several,
a comparison of them (OUT/compare.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from skingan.data.samples import MANIFEST, RECORD
from skingan.errors import UserError
from skingan.evaluation.fakes import (
    ALL,
    FakeSet,
    generate_fakes,
    load_samples_dir,
    load_whole_folder,
    open_generator,
)


def _unconditional_mix(classes: list[str], conditional: object) -> bool:
    return conditional is False and len(classes) > 1


def _sample_record(folder: Path) -> dict:
    path = folder / RECORD
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise UserError(f"'{path}' is not valid JSON: {error}") from error
    return record if isinstance(record, dict) else {}


def whole_folder_scope(reason: str, what: str = "whole folder") -> str:
    return f"{what} vs the real images of all classes: {reason}"


def sample_sets(folder: str | Path, n: int) -> list[FakeSet]:
    """The sets of a samples folder under --class all (n images per set at most)."""
    import pandas as pd

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"--samples '{folder}' is not a folder")
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return [load_whole_folder(folder, n, whole_folder_scope(f"it has no {MANIFEST} saying which class each "
                                                                "image is"))]
    table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    classes = sorted(c for c in table["class"].astype(str).unique() if c) if "class" in table.columns else []
    record = _sample_record(folder)
    if _unconditional_mix([str(c) for c in record.get("classes") or []], record.get("conditional")):
        reason = (f"{RECORD} says an unconditional generator trained on {', '.join(record['classes'])} made them, so "
                  f"the class names in {MANIFEST} are only folder names")
        return [load_whole_folder(folder, n, whole_folder_scope(reason))]
    if not classes:
        return [load_whole_folder(folder, n, whole_folder_scope(f"{MANIFEST} names no class"))]
    scope = f"class {{0}}: the {{0}} images of {MANIFEST} vs real {{0}} images"
    return [_with_scope(load_samples_dir(folder, name, n), scope.format(name)) for name in classes]


def generator_sets(checkpoint: str | Path, n: int, seed: int, device: str, batch_size: int = 64) -> list[FakeSet]:
    """The sets of a generator under --class all: each class it was conditioned on, else one mixed set."""
    checkpoint = Path(checkpoint)
    generator, meta = open_generator(checkpoint, device)
    from skingan.gan.sample import generate_images
    classes = [str(c) for c in meta.get("classes") or []]
    if not _unconditional_mix(classes, meta.get("conditional")):
        return [_with_scope(generate_fakes(checkpoint, name, n, seed, device, batch_size),
                            f"class {name}: the generator's {name} images vs real {name} images") for name in classes]
    images = generate_images(generator, meta, n, None, seed, batch_size=batch_size, device=device)
    source = {"kind": "checkpoint", "checkpoint": str(checkpoint), "image_format": "uint8 in memory (lossless)",
              **{k: meta.get(k) for k in ("arch", "step", "image_size", "config_hash", "prepared_hash",
                                          "train_split", "conditional")}}
    reason = f"an unconditional generator trained on {', '.join(classes)} draws no class"
    return [FakeSet(np.asarray(images, dtype=np.uint8), ALL, source, scope=whole_folder_scope(reason, "all draws"))]


def _with_scope(fakes: FakeSet, scope: str) -> FakeSet:
    fakes.scope = scope
    return fakes
