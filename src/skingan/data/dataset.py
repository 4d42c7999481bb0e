"""Torch datasets over uint8 image arrays: the prepared set's cache and synthetic PNGs stored the same way.

Real images come from `cache/<size>.npy` (antialiased resize done once by `skingan prepare`). Synthetic
PNGs are decoded and resized with the same antialiased filter to the same size and kept as uint8, so both
reach the classifier through one path: uint8 RGB → albumentations → ImageNet normalisation.

A `matched_size` below the images' size sends every image of a dataset through that size first (Lanczos
down, then Lanczos up, `through_size`): real training images then carry the resolution of a smaller
generator's upscaled images instead of being systematically sharper than them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from skingan.data.transforms import to_chw_tensor
from skingan.errors import UserError


class ImageArrayDataset:
    """(image, target) pairs from a uint8 (N, S, S, 3) array (a memmap is fine) and row indices.

    `ids` and `origins` ('real' or 'synthetic') describe every item, so a run can record and tests can
    check exactly which images a loader sees.
    """

    def __init__(self, images: np.ndarray, rows: Sequence[int], targets: Sequence[int], ids: Sequence[str],
                 origin: str, transform: Any = None, matched_size: int | None = None) -> None:
        if not (len(rows) == len(targets) == len(ids)):
            raise ValueError("rows, targets and ids must have the same length")
        self.images = images
        self.matched_size = matched_size  # images pass through this size (down, up) before the transform
        self.rows = np.asarray(rows, dtype=np.int64)
        self.targets = np.asarray(targets, dtype=np.int64)
        self.ids = [str(i) for i in ids]
        self.origins = [origin] * len(self.rows)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        import torch

        image = self.image(index)
        if self.transform is not None:
            image = self.transform(image=image)["image"]
        else:
            image = image.astype(np.float32) / 255.0
        return to_chw_tensor(image), torch.tensor(float(self.targets[index]))

    def image(self, index: int) -> np.ndarray:
        """Item `index` as uint8 (S, S, 3), after `matched_size` and before the transform."""
        image = np.asarray(self.images[self.rows[index]])
        if self.matched_size is not None and self.matched_size < image.shape[0]:
            image = through_size(image, self.matched_size)
        return image

    def get_labels(self) -> list[int]:
        """For torchsampler's ImbalancedDatasetSampler."""
        return self.targets.tolist()


class ConcatImageDataset:
    """Several ImageArrayDatasets as one (real training images + synthetic ones), keeping ids and origins."""

    def __init__(self, parts: Sequence[ImageArrayDataset]) -> None:
        self.parts = [p for p in parts if len(p) > 0]
        self.offsets = np.cumsum([0] + [len(p) for p in self.parts])
        self.targets = np.concatenate([p.targets for p in self.parts]) if self.parts else np.zeros(0, np.int64)
        self.ids = [i for p in self.parts for i in p.ids]
        self.origins = [o for p in self.parts for o in p.origins]
        self.resolution: dict | None = None  # the classifier's record of the size its images passed through

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        part = int(np.searchsorted(self.offsets, index, side="right") - 1)
        return self.parts[part][index - int(self.offsets[part])]

    def get_labels(self) -> list[int]:
        return self.targets.tolist()

    def set_transform(self, transform: Any) -> None:
        for part in self.parts:
            part.transform = transform


def prepared_split(prepared: Any, split: str, image_size: int, transform: Any = None,
                   matched_size: int | None = None) -> ImageArrayDataset:
    """One split ('train', 'val', 'test' or 'all') of a prepared set at a cached size (through `matched_size`)."""
    images = prepared.images(image_size)
    rows = prepared.indices(split)
    meta = prepared.metadata.iloc[rows]
    return ImageArrayDataset(images, rows, meta["target"].to_numpy(), meta["image_id"].astype(str).tolist(),
                             "real", transform, matched_size)


def through_size(image: np.ndarray, size: int) -> np.ndarray:
    """A uint8 square image down to `size` and back to its own size, both with `resize_like_prepared` (Lanczos):
    the path a `size`-px synthetic image takes to the classifier."""
    from PIL import Image

    side = image.shape[0]
    small = resize_like_prepared(Image.fromarray(image), size)
    return resize_like_prepared(Image.fromarray(small), side)


def resize_like_prepared(image: Any, size: int, mode: str = "crop") -> np.ndarray:
    """A PIL image → uint8 (size, size, 3) with the antialiased (Lanczos) resize `skingan prepare` uses.

    Square images (every GAN output) resize directly; others are squared as the prepared set's `resize`
    mode says (crop: centre square of the short side, pad: black borders, squash: plain resize).
    """
    from PIL import Image

    image = image.convert("RGB")
    width, height = image.size
    if width != height and mode != "squash":
        side = min(width, height) if mode == "crop" else max(width, height)
        if mode == "crop":
            left, top = (width - side) // 2, (height - side) // 2
            image = image.crop((left, top, left + side, top + side))
        else:
            canvas = Image.new("RGB", (side, side))
            canvas.paste(image, ((side - width) // 2, (side - height) // 2))
            image = canvas
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8)


def load_png_images(paths: Sequence[Path], size: int, mode: str = "crop", via: int | None = None) -> np.ndarray:
    """Decode image files and store them like the prepared cache: uint8 (N, size, size, 3); with `via` below
    `size`, each image is first brought to `via` px (a larger generator's images down to a matched size)."""
    from PIL import Image, UnidentifiedImageError

    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as image:
                if via is not None and via < size:
                    image = Image.fromarray(resize_like_prepared(image, via, mode))
                out[i] = resize_like_prepared(image, size, mode)
        except (OSError, UnidentifiedImageError) as error:
            raise UserError(f"synthetic image '{path}' cannot be decoded: {error}") from error
    return out
