"""Where the fakes come from: a `skingan sample` folder, a plain folder of images, or a GAN checkpoint
sampled in memory; each becomes a FakeSet of one class (or of ALL classes: a whole folder scored against
every real image, see all_classes.py) with a record of its source."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from skingan.data.prepared import CLASS_NAMES, class_index
from skingan.data.samples import MANIFEST
from skingan.errors import UserError
from skingan.gan.run_folder import CHECKPOINTS, LAST_CHECKPOINT

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ALL = "all"  # a FakeSet of every class: scored against the real images of both classes
SOURCE_KEYS = ("checkpoint", "step", "arch", "image_size", "config_hash", "prepared_hash", "train_split")


@dataclass
class FakeSet:
    """Generated images of one class (or ALL), uint8 (N, S, S, 3), and where they came from."""

    images: np.ndarray
    class_name: str
    source: dict = field(default_factory=dict)
    paths: list[Path] | None = None  # their files, when read from disk (the classifier-view C2ST loads them)
    scope: str = ""  # which reals they are scored against, and why (protocol "class_scope")

    @property
    def targets(self) -> list[int]:
        """The prepared-set targets of the reals they are scored against."""
        return list(range(len(CLASS_NAMES))) if self.class_name == ALL else [class_index(self.class_name)]

    def describe_scope(self) -> str:
        if self.scope:
            return self.scope
        return f"class {self.class_name}: fakes vs real {self.class_name} images"


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as error:
        raise UserError(f"'{path}' is not a readable image: {error}") from error


def _stack(paths: list[Path], where: Path) -> np.ndarray:
    arrays = [_read_image(p) for p in paths]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise UserError(f"images in '{where}' have different sizes {sorted(shapes)[:4]}; all fakes must share one size")
    shape = shapes.pop()
    if shape[0] != shape[1]:
        raise UserError(f"images in '{where}' are {shape[1]}x{shape[0]}; square images are expected")
    return np.stack(arrays)


def resolve_class(requested: str | None, available: list[str], where: str) -> str:
    if requested is not None:
        name = CLASS_NAMES[class_index(requested)]
        if available and name not in available:
            raise UserError(f"--class {requested}: {where} has only {', '.join(available)}")
        return name
    if len(available) == 1:
        return available[0]
    if not available:
        raise UserError(f"{where} does not say which class its images are; pass --class benign|malignant")
    raise UserError(f"{where} holds several classes ({', '.join(available)}); choose one with --class")


def load_samples_dir(folder: str | Path, class_name: str | None, n: int) -> FakeSet:
    """A `skingan sample` folder (manifest.csv) or a plain folder of PNG/JPEG images (then --class is needed)."""
    import pandas as pd

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"--samples '{folder}' is not a folder")
    manifest = folder / MANIFEST
    source: dict = {"kind": "samples", "path": str(folder)}
    if manifest.is_file():
        table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
        if not {"file", "class"} <= set(table.columns):
            raise UserError(f"'{manifest}' lacks the columns file and class (is it a 'skingan sample' manifest?)")
        name = resolve_class(class_name, sorted(table["class"].astype(str).unique()), f"'{manifest}'")
        rows = table[table["class"].astype(str) == name]
        if "index" in rows.columns:
            rows = rows.iloc[np.argsort(pd.to_numeric(rows["index"], errors="coerce").to_numpy(), kind="stable")]
        rows = rows.head(n)
        paths = [folder / f for f in rows["file"]]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise UserError(f"'{manifest}' lists '{missing[0]}', which does not exist ({len(missing)} missing)")
        first = rows.iloc[0].to_dict() if len(rows) else {}
        for key in SOURCE_KEYS:
            if key in first and first[key] != "":
                source[key] = first[key]
    else:
        paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not paths:
            raise UserError(f"--samples '{folder}' holds no {MANIFEST} and no PNG/JPEG images")
        if class_name is None:
            raise UserError(f"--samples '{folder}' has no {MANIFEST}; say which class its images are "
                            "with --class benign|malignant")
        name = CLASS_NAMES[class_index(class_name)]
        paths = paths[:n]
    if not paths:
        raise UserError(f"--samples '{folder}' has no images of class {name}")
    return _fake_set(paths, folder, name, source)


def _fake_set(paths: list[Path], folder: Path, name: str, source: dict, scope: str = "") -> FakeSet:
    source["image_format"] = ",".join(sorted({p.suffix.lower().lstrip(".") for p in paths}))
    return FakeSet(_stack(paths, folder), name, source, paths=list(paths), scope=scope)


def load_whole_folder(folder: str | Path, n: int, scope: str) -> FakeSet:
    """The first n images of a folder as one set of ALL classes (manifest order when it has one)."""
    import pandas as pd

    folder = Path(folder)
    manifest = folder / MANIFEST
    source: dict = {"kind": "samples", "path": str(folder)}
    if manifest.is_file():
        table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
        if "file" not in table.columns:
            raise UserError(f"'{manifest}' lacks the column file (is it a 'skingan sample' manifest?)")
        if "index" in table.columns:  # interleave the classes' draws: image 0 of each, then image 1, ...
            table = table.iloc[np.argsort(pd.to_numeric(table["index"], errors="coerce").to_numpy(), kind="stable")]
        first = table.iloc[0].to_dict() if len(table) else {}
        source.update({key: first[key] for key in SOURCE_KEYS if first.get(key, "") != ""})
        paths = [folder / f for f in table["file"].head(n)]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise UserError(f"'{manifest}' lists '{missing[0]}', which does not exist ({len(missing)} missing)")
    else:
        paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())[:n]
    if not paths:
        raise UserError(f"--samples '{folder}' holds no PNG/JPEG images")
    return _fake_set(paths, folder, ALL, source, scope)


def find_run_checkpoint(run_dir: str | Path) -> Path:
    """A train-gan run folder's last checkpoint."""
    run_dir = Path(run_dir)
    checkpoint = run_dir / LAST_CHECKPOINT
    if not checkpoint.is_file():
        raise UserError(f"--run '{run_dir}' has no {LAST_CHECKPOINT} (is it a 'skingan train-gan' run folder?)")
    return checkpoint


def open_generator(checkpoint: Path, device: str) -> tuple[Any, dict]:
    """The EMA generator of a --checkpoint and its provenance, with clear errors when it cannot be read."""
    try:
        from skingan.gan.sample import load_generator
    except ImportError as error:
        raise UserError("evaluating a checkpoint needs skingan.gan.sample, which this installation lacks; "
                        "write images with another tool and pass --samples DIR") from error
    if not checkpoint.is_file():
        raise UserError(f"--checkpoint '{checkpoint}' does not exist")
    return load_generator(checkpoint, device=device, use_ema=True)


def generate_fakes(checkpoint: str | Path, class_name: str | None, n: int, seed: int, device: str,
                   batch_size: int = 64) -> FakeSet:
    """Sample n images of one class from a GAN checkpoint (EMA weights), in memory (lossless, like PNG)."""
    checkpoint = Path(checkpoint)
    generator, meta = open_generator(checkpoint, device)
    from skingan.gan.sample import generate_images
    classes = [str(c) for c in (meta.get("classes") or [])]
    name = resolve_class(class_name, classes, f"generator '{checkpoint}'")
    images = generate_images(generator, meta, n, name, seed, batch_size=batch_size, device=device)
    source = {"kind": "checkpoint", "checkpoint": str(checkpoint), "image_format": "uint8 in memory (lossless)",
              **{k: meta.get(k) for k in ("arch", "step", "image_size", "config_hash", "prepared_hash",
                                          "train_split", "conditional")}}
    return FakeSet(np.asarray(images, dtype=np.uint8), name, source)


def model_name(fakes: FakeSet) -> str:
    """The name tables show: the run folder and step of a checkpoint, else the samples folder's name."""
    source = fakes.source
    if source.get("checkpoint"):
        checkpoint = Path(str(source["checkpoint"]))
        run = checkpoint.parent.parent.name if checkpoint.parent.name == CHECKPOINTS else checkpoint.stem
        return f"{run}" + (f" @ step {source['step']}" if source.get("step") not in (None, "") else "")
    return Path(str(source.get("path", "samples"))).name
