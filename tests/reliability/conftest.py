"""Builders for the bad-input corpus: every hostile file is generated in tmp_path at test time (nothing committed).

`corpus_folder` holds real ISIC 2017 images plus one file per bad case, and a labels CSV listing them all;
`EXPECTED_SKIPS` and `EXPECTED_USABLE` say what `skingan prepare` must do with each.
"""

from __future__ import annotations

import io
import shutil
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

ODD_FOLDER = "dossier spécial ñ 皮膚"  # spaces and non-ASCII characters


# ------------------------------------------------------------------------------------------------ image bytes
def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose hand-made IHDR claims width × height 8-bit RGB pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 64)  # a few bytes of data; a decoder trusting IHDR would allocate 30 GB
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", rows) + png_chunk(b"IEND", b"")


def rgba_with_transparent_half(rgb: Image.Image) -> Image.Image:
    rgba = rgb.convert("RGBA")
    alpha = np.full(rgba.size[::-1], 255, dtype=np.uint8)
    alpha[:, : rgba.size[0] // 2] = 0  # left half fully transparent → black after compositing
    rgba.putalpha(Image.fromarray(alpha))
    return rgba


def gray16(rgb: Image.Image) -> Image.Image:
    return Image.fromarray(np.asarray(rgb.convert("L"), dtype=np.uint16) * 257)


# image id → (relative path, bytes builder from a real JPEG's bytes and PIL image, label)
BAD_FILES: dict[str, tuple[str, Callable[[bytes, Image.Image], bytes]]] = {
    "zero_byte": ("bad/zero_byte.jpg", lambda raw, im: b""),
    "text_as_jpg": ("bad/text_as_jpg.jpg", lambda raw, im: b"this is a text file, not a picture\n" * 20),
    "truncated_jpeg": ("bad/truncated_jpeg.jpg", lambda raw, im: raw[: len(raw) // 3]),
    "png_bomb": ("bad/png_bomb.png", lambda raw, im: png_bomb()),
}
ODD_FILES: dict[str, tuple[str, Callable[[bytes, Image.Image], bytes]]] = {
    "cmyk_jpeg": ("odd/cmyk_jpeg.jpg", lambda raw, im: encode(im.convert("CMYK"), "JPEG", quality=95)),
    "png16": ("odd/png16.png", lambda raw, im: encode(gray16(im), "PNG")),
    "grayscale": ("odd/grayscale.jpg", lambda raw, im: encode(im.convert("L"), "JPEG", quality=95)),
    "rgba": ("odd/rgba.png", lambda raw, im: encode(rgba_with_transparent_half(im), "PNG")),
    "odd_folder_name": (f"{ODD_FOLDER}/lésion n°1 (copy).jpg", lambda raw, im: raw),
}
EXPECTED_SKIPS = {"zero_byte": "empty", "text_as_jpg": "not an image", "truncated_jpeg": "truncated",
                  "png_bomb": "bomb", "a_folder": "directory", "not_there": "not found"}
EXPECTED_USABLE = set(ODD_FILES)


def real_rows(isic2017: Path, per_class: int) -> pd.DataFrame:
    """The first `per_class` benign and melanoma training images of ISIC 2017 (sorted, so always the same)."""
    labels = pd.read_csv(isic2017 / "labels.csv", dtype={"isic_id": str})
    train = labels[labels["split"] == "train"].sort_values("isic_id")
    return pd.concat([train[train["target"] == t].head(per_class) for t in (0, 1)], ignore_index=True)


def build_corpus_folder(isic2017: Path, root: Path, per_class: int = 10) -> tuple[Path, Path]:
    """Real images + every bad/odd file, and labels.csv listing them all (paths relative to root)."""
    every = real_rows(isic2017, per_class + 2)
    rows = every.drop(index=[per_class, per_class + 1, 2 * per_class + 2, 2 * per_class + 3])
    spare = every.iloc[[2 * per_class + 2, 2 * per_class + 3]]  # two melanomas not otherwise in the corpus
    lines = []
    for row in rows.itertuples():
        target = root / "real" / f"{row.isic_id}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(isic2017 / row.image, target)
        lines.append((row.isic_id, f"real/{row.isic_id}.jpg", "malignant" if row.target else "benign"))
    source_bytes = (isic2017 / spare["image"].iat[0]).read_bytes()
    source = Image.open(io.BytesIO(source_bytes)).convert("RGB")
    for image_id, (relative, make) in {**BAD_FILES, **ODD_FILES}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        raw = (isic2017 / spare["image"].iat[1]).read_bytes() if image_id == "odd_folder_name" else source_bytes
        path.write_bytes(make(raw, source))
        lines.append((image_id, relative, "malignant"))
    (root / "bad" / "a_folder.jpg").mkdir()  # a folder named like an image
    lines.append(("a_folder", "bad/a_folder.jpg", "benign"))
    lines.append(("not_there", "bad/not_there.jpg", "benign"))
    labels = root / "labels.csv"
    pd.DataFrame(lines, columns=["image_id", "image", "label"]).to_csv(labels, index=False)
    return root, labels


@pytest.fixture(scope="module")
def corpus_folder(isic2017: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_corpus_folder(isic2017, tmp_path_factory.mktemp("corpus"))


def write_subset_csv(isic2017: Path, path: Path, n: int) -> Path:
    """A labels CSV naming the first n ISIC 2017 images (absolute paths), for kill/resume runs."""
    labels = pd.read_csv(isic2017 / "labels.csv", dtype={"isic_id": str}).sort_values("isic_id").head(n)
    labels = labels.assign(image=[str(isic2017 / p) for p in labels["image"]])
    labels[["isic_id", "image", "target"]].to_csv(path, index=False)
    return path
