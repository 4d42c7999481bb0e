"""skingan sample: de-normalisation, determinism, provenance manifest, checkpoint-only loading."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import assert_clean_error, run_skingan
from skingan.config import load_config
from skingan.data.samples import MANIFEST_COLUMNS
from skingan.gan.config import GANConfig
from skingan.gan.sample import generate_images, load_generator, to_uint8
from skingan.gan.train import train


@pytest.fixture(scope="module")
def checkpoints(tiny_prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gan_runs")
    uncond = load_config(GANConfig, "gan-tiny32", ["train.steps=2"])
    train(uncond, tiny_prepared, root / "sngan", progress=False)
    acgan = load_config(GANConfig, "gan-tiny32", ["train.steps=1", "data.classes=[benign,malignant]",
                                                  "model.arch=acgan"])
    train(acgan, tiny_prepared, root / "acgan", progress=False)
    return {"sngan": root / "sngan" / "checkpoints" / "last.pt", "acgan": root / "acgan" / "checkpoints" / "last.pt"}


def test_to_uint8_uses_the_full_range() -> None:
    x = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0, -1.2, 1.3]).view(1, 1, 1, 7).expand(1, 3, 1, 7)
    out = to_uint8(x)
    assert out.shape == (1, 1, 7, 3) and out.dtype == np.uint8
    assert out[0, 0, :, 0].tolist() == [0, 64, 128, 191, 255, 0, 255]  # -0.5 → 63.75 → 64, not clamped to 0


class Ramp(torch.nn.Module):
    """A 'generator' whose output spans [-1, 1] left to right, to test the de-normalisation end to end."""

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        ramp = torch.linspace(-1, 1, 32).view(1, 1, 1, 32)
        return ramp.expand(z.shape[0], 3, 32, 32)


def test_generate_images_maps_minus_one_to_0_and_plus_one_to_255() -> None:
    meta = {"classes": ["malignant"], "conditional": False, "nz": 4, "image_size": 32}
    images = generate_images(Ramp(), meta, 3, None, seed=0)
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8
    assert images.min() == 0 and images.max() == 255
    assert images[0, 0, 15, 0] < 128 < images[0, 0, 16, 0]  # dark half kept, not clamped to black


def test_load_generator_from_the_checkpoint_alone(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    lonely = tmp_path / "elsewhere" / "model.pt"
    lonely.parent.mkdir()
    shutil.copy(checkpoints["sngan"], lonely)
    G, meta = load_generator(lonely)
    assert not G.training
    for key in ("arch", "image_size", "nz", "classes", "conditional", "step", "prepared_hash", "train_split",
                "config_hash", "checkpoint"):
        assert key in meta
    assert meta["arch"] == "sngan" and meta["image_size"] == 32 and meta["nz"] == 16 and meta["step"] == 2
    assert meta["classes"] == ["malignant"] and meta["conditional"] is False and meta["train_split"] == "train"
    raw, raw_meta = load_generator(lonely, use_ema=False)
    assert raw_meta["ema"] is False and meta["ema"] is True
    z = torch.randn(2, 16)
    assert not torch.equal(G(z), raw(z))  # EMA and raw weights differ after training


def test_generation_is_deterministic_and_batch_size_free(checkpoints: dict[str, Path]) -> None:
    G, meta = load_generator(checkpoints["sngan"])
    a = generate_images(G, meta, 10, "malignant", seed=7, batch_size=4)
    b = generate_images(G, meta, 10, "malignant", seed=7, batch_size=64)
    c = generate_images(G, meta, 10, "malignant", seed=8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert len({img.tobytes() for img in a}) == 10  # distinct images


def test_conditional_generator_needs_and_uses_the_class(checkpoints: dict[str, Path]) -> None:
    from skingan.errors import UserError

    G, meta = load_generator(checkpoints["acgan"])
    assert meta["conditional"] and meta["classes"] == ["benign", "malignant"]
    with pytest.raises(UserError, match="choose --class"):
        generate_images(G, meta, 2, None, seed=0)
    assert generate_images(G, meta, 2, "benign", seed=0).shape == (2, 32, 32, 3)


def test_cli_sample_writes_pngs_manifest_and_provenance(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "synthetic"
    result = run_skingan("sample", "--checkpoint", checkpoints["sngan"], "--n", "5", "--class", "malignant",
                         "--out", out, "--seed", "3", "--batch-size", "2")
    assert result.returncode == 0, result.stderr
    assert str(out / "manifest.csv") in result.stdout
    with open(out / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == MANIFEST_COLUMNS
    assert [r["file"] for r in rows] == [f"malignant/malignant_{i:06d}.png" for i in range(5)]
    ckpt_meta = load_generator(checkpoints["sngan"])[1]
    assert all(r["class"] == "malignant" and r["target"] == "1" and r["seed"] == "3" and r["step"] == "2"
               and r["train_split"] == "train" and r["prepared_hash"] == ckpt_meta["prepared_hash"]
               and r["config_hash"] == ckpt_meta["config_hash"] for r in rows)
    record = json.loads((out / "sample.json").read_text())
    assert record["counts"] == {"malignant": 5} and record["seed"] == 3
    G, meta = load_generator(checkpoints["sngan"])
    expected = generate_images(G, meta, 5, "malignant", seed=3)
    written = np.stack([np.asarray(Image.open(out / r["file"])) for r in rows])
    assert np.array_equal(written, expected)  # PNGs are exactly the generator's de-normalised output
    again = run_skingan("sample", "--checkpoint", checkpoints["sngan"], "--n", "5", "--out", out)
    assert_clean_error(again, "already holds samples")


def test_cli_sample_all_classes_of_an_acgan(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "both"
    result = run_skingan("sample", "--checkpoint", checkpoints["acgan"], "--n", "3", "--class", "all", "--out", out)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["benign", "malignant", "manifest.csv", "sample.json"]
    assert len(list((out / "benign").glob("*.png"))) == 3 and len(list((out / "malignant").glob("*.png"))) == 3


def test_cli_sample_user_errors(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    wrong_class = run_skingan("sample", "--checkpoint", checkpoints["sngan"], "--n", "2", "--class", "benign",
                              "--out", tmp_path / "a")
    assert_clean_error(wrong_class, "--class benign", "malignant only")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    assert_clean_error(run_skingan("sample", "--checkpoint", junk, "--out", tmp_path / "b"), "cannot be loaded")
    assert_clean_error(run_skingan("sample", "--checkpoint", tmp_path / "none.pt", "--out", tmp_path / "c"),
                       "does not exist")
