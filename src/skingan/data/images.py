"""Decode one image file once into square uint8 RGB arrays for every cache size.

Handles what real archives contain: huge JPEGs (decoded at reduced scale with PIL's draft mode), EXIF
rotation, grayscale / palette / RGBA / CMYK / 16-bit files (all become 8-bit RGB), decompression bombs,
and files that are empty, truncated or not images at all (a `DecodeError` with a one-line reason).
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

RESIZE_MODES = ("crop", "pad", "squash")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
# Largest ISIC originals are ~6000×4000 (24 Mpx); anything far above that is a bomb or not a photograph.
MAX_PIXELS = 180_000_000
EXIF_ORIENTATION = 0x0112


class DecodeError(Exception):
    """An image that cannot be used; the message says why in a few words."""


@dataclass
class Decoded:
    """One decoded image: its caches, the original size and the sha256 of the file's bytes."""

    arrays: dict[int, np.ndarray]
    width: int
    height: int
    sha256: str


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode → 8-bit RGB; 16-bit and float data are scaled, not clipped; alpha is laid on black."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        data = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or data.max(initial=0) > 255 else 255.0
        if mode == "F" and data.max(initial=0) <= 1.0:
            top = 1.0
        gray = np.clip(data / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
    if mode == "P":
        image = image.convert("RGBA") if "transparency" in image.info else image.convert("RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


def square(image: Image.Image, mode: str) -> Image.Image:
    """crop: centre square of the short side; pad: black borders to a square; squash: unchanged."""
    width, height = image.size
    if mode == "squash" or width == height:
        return image
    side = min(width, height) if mode == "crop" else max(width, height)
    if mode == "crop":
        left, top = (width - side) // 2, (height - side) // 2
        return image.crop((left, top, left + side, top + side))
    canvas = Image.new("RGB", (side, side), (0, 0, 0))
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def resize_all(image: Image.Image, sizes: list[int], mode: str) -> dict[int, np.ndarray]:
    """Antialiased (Lanczos) square arrays for every size, each from the same full-quality square."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode {mode!r} not in {RESIZE_MODES}")
    squared = square(to_rgb(image), mode)
    out = {}
    for size in sizes:
        resized = squared.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
        out[size] = np.asarray(resized, dtype=np.uint8).copy()
    return out


def _apply_draft(image: Image.Image, target: int, mode: str) -> None:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale while the result still covers the largest cache size."""
    if image.format != "JPEG":
        return
    width, height = image.size
    # pad: the long side becomes the square's side; crop and squash need both sides ≥ target
    scale = target / (max(width, height) if mode == "pad" else min(width, height))
    request = (max(1, int(width * scale + 0.999)), max(1, int(height * scale + 0.999)))
    image.draft(None, request)


def decode_bytes(data: bytes, sizes: list[int], mode: str = "crop", draft: bool = True) -> Decoded:
    """Decode image bytes into every cache size; raises DecodeError with a short reason."""
    if not data:
        raise DecodeError("empty file (0 bytes)")
    digest = hashlib.sha256(data).hexdigest()
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise DecodeError(f"{width}×{height} pixels exceeds the {MAX_PIXELS:,}-pixel limit")
            if draft:
                _apply_draft(image, max(sizes), mode)
            image.load()
            if image.getexif().get(EXIF_ORIENTATION, 1) in (5, 6, 7, 8):
                width, height = height, width  # report the displayed orientation
            image = ImageOps.exif_transpose(image)
        except DecodeError:
            raise
        except UnidentifiedImageError as error:
            raise DecodeError("not an image (PIL cannot identify the format)") from error
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise DecodeError(f"decompression bomb: {error}") from error
        except OSError as error:
            reason = str(error)
            if "truncated" in reason:
                raise DecodeError(f"truncated file ({reason})") from error
            raise DecodeError(f"corrupt image ({reason})") from error
        except (ValueError, SyntaxError, EOFError, IndexError, struct.error) as error:
            raise DecodeError(f"corrupt image ({type(error).__name__}: {error})") from error
        arrays = resize_all(image, sizes, mode)
    return Decoded(arrays=arrays, width=width, height=height, sha256=digest)


def decode_file(path: str | Path, sizes: list[int], mode: str = "crop", draft: bool = True) -> Decoded:
    """Read a file once, hash it, and decode it (see decode_bytes)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as error:
        raise DecodeError("file not found") from error
    except IsADirectoryError as error:
        raise DecodeError("is a directory, not an image file") from error
    except OSError as error:
        raise DecodeError(f"unreadable ({error.strerror or error})") from error
    except ValueError as error:  # a NUL byte in a file name taken from a CSV
        raise DecodeError(f"not a usable file name ({error})") from error
    return decode_bytes(data, sizes, mode, draft)


def decode_pil(image: Image.Image, sizes: list[int], mode: str = "crop") -> Decoded:
    """An image already in memory (phantoms): hash its pixels instead of file bytes."""
    rgb = to_rgb(image)
    digest = hashlib.sha256(rgb.tobytes() + repr(rgb.size).encode()).hexdigest()
    return Decoded(arrays=resize_all(rgb, sizes, mode), width=rgb.size[0], height=rgb.size[1], sha256=digest)


def decode_job(job: tuple[str, list[int], str, bool]) -> tuple[Decoded | None, str | None]:
    """Worker entry point for process pools: never raises for a bad image, returns (result, reason)."""
    path, sizes, mode, draft = job
    try:
        return decode_file(path, sizes, mode, draft), None
    except DecodeError as error:
        return None, str(error)
    except Exception as error:  # noqa: BLE001 - a decoder bug on one file must not lose the others
        return None, f"decoder failed ({type(error).__name__}: {error})"
