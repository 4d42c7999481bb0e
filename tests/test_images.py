"""Decoding: real full-resolution JPEGs, every colour mode, EXIF rotation, broken files, resize modes."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from skingan.data import images
from skingan.data.images import DecodeError, decode_bytes, decode_file, decode_job, resize_all


@pytest.fixture(scope="module")
def fullres_rows(isic_fullres):
    return pd.read_csv(isic_fullres / "labels.csv")


@pytest.fixture(scope="module")
def real_jpeg(isic_fullres, fullres_rows) -> bytes:
    """The largest real original (3072×2304 or so)."""
    row = fullres_rows.sort_values("width").iloc[-1]
    return (isic_fullres / row["image"]).read_bytes()


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def test_real_originals_decode_with_their_true_size(isic_fullres, fullres_rows):
    for _, row in fullres_rows.head(12).iterrows():
        decoded = decode_file(isic_fullres / row["image"], [64, 128], "crop")
        assert (decoded.width, decoded.height) == (row["width"], row["height"])
        assert decoded.sha256 == row["sha256"]
        assert decoded.arrays[128].shape == (128, 128, 3) and decoded.arrays[64].dtype == np.uint8
        assert 20 < decoded.arrays[128].mean() < 240 and decoded.arrays[128].std() > 5


def test_draft_mode_matches_full_decode(real_jpeg):
    fast = decode_bytes(real_jpeg, [128], "crop", draft=True).arrays[128].astype(float)
    full = decode_bytes(real_jpeg, [128], "crop", draft=False).arrays[128].astype(float)
    assert np.abs(fast - full).mean() < 3.0  # same picture; draft differs only in DCT-domain scaling


@pytest.mark.parametrize("mode", ["crop", "pad", "squash"])
def test_resize_modes_on_a_wide_image(mode):
    wide = np.zeros((100, 300, 3), dtype=np.uint8)
    wide[:, 100:200] = 200  # a bright centre third
    out = resize_all(Image.fromarray(wide), [30], mode)[30].astype(float)
    if mode == "crop":  # the centre square is all bright
        assert out.mean() > 190
    elif mode == "pad":  # black bands above and below, the middle row keeps the bright band only in its centre
        assert out[:8].max() < 5 and out[-8:].max() < 5 and out[15, 15, 0] > 190 and out[15, 2, 0] < 10
    else:  # squash keeps the whole width: a third is bright
        assert 60 < out.mean() < 80


def test_resize_is_antialiased():
    checker = (np.indices((512, 512)).sum(axis=0) % 2 * 255).astype(np.uint8)
    out = resize_all(Image.fromarray(checker, "L"), [32], "squash")[32].astype(float)
    assert abs(out.mean() - 127.5) < 3 and out.std() < 3  # nearest-neighbour would give pure black or white


def test_cmyk_jpeg_becomes_rgb(real_jpeg):
    original = Image.open(io.BytesIO(real_jpeg)).convert("RGB").resize((400, 300))
    cmyk = encode(original.convert("CMYK"), "JPEG", quality=95)
    assert Image.open(io.BytesIO(cmyk)).mode == "CMYK"
    out = decode_bytes(cmyk, [64], "squash").arrays[64].astype(float)
    reference = resize_all(original, [64], "squash")[64].astype(float)
    assert np.abs(out - reference).mean() < 12


def test_sixteen_bit_png_is_scaled_not_clipped(real_jpeg):
    gray = np.asarray(Image.open(io.BytesIO(real_jpeg)).convert("L").resize((200, 150)), dtype=np.uint16)
    sixteen = Image.fromarray(gray * 257)  # full 16-bit range
    assert sixteen.mode.startswith("I")
    out = decode_bytes(encode(sixteen, "PNG"), [64], "squash").arrays[64]
    reference = resize_all(Image.fromarray(gray.astype(np.uint8)), [64], "squash")[64]
    assert np.abs(out.astype(float) - reference.astype(float)).mean() < 1.5
    assert out.max() > 100  # clipping at 255 would have turned nearly everything white


def test_grayscale_jpeg_gives_three_equal_channels(real_jpeg):
    gray = Image.open(io.BytesIO(real_jpeg)).convert("L").resize((200, 150))
    out = decode_bytes(encode(gray, "JPEG"), [32], "crop").arrays[32].astype(int)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    assert out.std() > 5


def test_transparent_pixels_become_black_and_palette_works():
    rgba = np.full((40, 40, 4), 255, dtype=np.uint8)
    rgba[:, :20, 3] = 0
    out = decode_bytes(encode(Image.fromarray(rgba, "RGBA"), "PNG"), [40], "squash").arrays[40]
    assert out[:, :18].max() == 0 and out[:, 22:].min() == 255
    palette = Image.fromarray(rgba[..., :3]).convert("P")
    assert decode_bytes(encode(palette, "PNG"), [16], "crop").arrays[16].shape == (16, 16, 3)


def test_exif_rotation_is_applied(real_jpeg):
    upright = Image.open(io.BytesIO(real_jpeg)).convert("RGB").resize((300, 200))
    exif = Image.Exif()
    exif[images.EXIF_ORIENTATION] = 6  # stored sideways: viewers rotate 90° clockwise
    data = encode(upright, "JPEG", quality=95, exif=exif.tobytes())
    decoded = decode_bytes(data, [64], "squash")
    assert (decoded.width, decoded.height) == (200, 300)
    rotated = resize_all(upright.transpose(Image.Transpose.ROTATE_270), [64], "squash")[64].astype(float)
    assert np.abs(decoded.arrays[64].astype(float) - rotated).mean() < 8


@pytest.mark.parametrize("name, make, reason", [
    ("empty", lambda jpeg: b"", "empty file"),
    ("text", lambda jpeg: b"this is a text file, not a JPEG\n" * 20, "not an image"),
    ("truncated", lambda jpeg: jpeg[: len(jpeg) // 3], "truncated"),
    ("garbage", lambda jpeg: jpeg[:20] + bytes(range(256)) * 40, "corrupt|truncated"),
])
def test_broken_files_raise_decode_error(real_jpeg, name, make, reason):
    with pytest.raises(DecodeError, match=reason):
        decode_bytes(make(real_jpeg), [64], "crop")


def test_decompression_bomb_guard(real_jpeg, monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 1_000_000)
    with pytest.raises(DecodeError, match="pixel limit"):
        decode_bytes(real_jpeg, [64], "crop")
    monkeypatch.setattr(images, "MAX_PIXELS", 10**12)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)  # PIL's own guard: warning → error
    with pytest.raises(DecodeError, match="decompression bomb"):
        decode_bytes(real_jpeg, [64], "crop")


def test_worker_entry_reports_instead_of_raising(tmp_path, isic_fullres, fullres_rows):
    missing = decode_job((str(tmp_path / "nope.jpg"), [32], "crop", True))
    assert missing[0] is None and missing[1] == "file not found"
    good = decode_job((str(isic_fullres / fullres_rows["image"].iloc[0]), [32], "crop", True))
    assert good[1] is None and good[0].arrays[32].shape == (32, 32, 3)
