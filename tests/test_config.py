"""The typed config system: strict keys, types, ranges, overrides, name resolution."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skingan.config import (
    apply_override,
    config_hash,
    from_dict,
    load_config,
    resolve_config_path,
    setting,
    to_dict,
    to_yaml,
)
from skingan.errors import UserError


@dataclass
class Model:
    arch: str = setting("sngan", choices=("dcgan", "sngan"))
    image_size: int = setting(64, choices=(32, 64, 128))


@dataclass
class Train:
    steps: int = setting(100, min=1)
    lr: float = setting(2e-4, min=0.0)
    betas: tuple[float, float] = (0.5, 0.999)
    classes: list[str] = setting(default_factory=lambda: ["malignant"])
    ema: float | None = setting(None, min=0.0, max=1.0)
    amp: bool = False

    def check(self) -> None:
        if self.amp and self.steps < 2:
            raise ValueError("train.amp needs train.steps >= 2")


@dataclass
class Config:
    model: Model = field(default_factory=Model)
    train: Train = field(default_factory=Train)


def test_defaults_and_yaml_round_trip(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  arch: dcgan\ntrain:\n  lr: 1e-4\n  betas: [0.0, 0.9]\n")
    config = load_config(Config, path)
    assert config.model.arch == "dcgan" and config.model.image_size == 64
    assert config.train.lr == pytest.approx(1e-4) and config.train.betas == (0.0, 0.9)
    again = tmp_path / "again.yaml"
    again.write_text(to_yaml(config))
    assert load_config(Config, again) == config
    assert config_hash(config) == config_hash(load_config(Config, again))
    assert config_hash(config) != config_hash(apply_override(config, "train.steps=7"))


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("model:\n  arch: biggan\n", ["model.arch='biggan'", "dcgan, sngan"]),
        ("model:\n  image_size: 100\n", ["model.image_size=100", "32, 64, 128"]),
        ("train:\n  steps: -5\n", ["train.steps=-5", ">= 1"]),
        ("train:\n  steps: 1.5\n", ["train.steps=1.5", "integer"]),
        ("train:\n  stepz: 3\n", ["unknown key 'train.stepz'", "steps"]),
        ("trian: {}\n", ["unknown key 'trian'"]),
        ("train:\n  amp: maybe\n", ["train.amp", "true or false"]),
        ("train:\n  amp: true\n  steps: 1\n", ["train.amp needs"]),
        ("train: [1, 2]\n", ["'train' must be a mapping"]),
        ("- a\n- b\n", ["must be a mapping of sections"]),
        ("model: {arch: [\n", ["not valid YAML"]),
    ],
)
def test_bad_files_name_file_key_value_and_accepted(tmp_path, text, fragments):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as error:
        load_config(Config, path)
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    if "YAML" not in fragments[0] and "mapping of sections" not in fragments[0]:
        assert "bad.yaml" in message


def test_overrides_convert_types():
    config = from_dict(Config, {}, origin="defaults")
    for override in ["train.steps=5", "train.lr=1e-3", "train.betas=0,0.99", "train.classes=benign,malignant",
                     "train.ema=0.999", "train.amp=true", "model.image_size=128"]:
        config = apply_override(config, override)
    assert config.train.steps == 5 and config.train.lr == pytest.approx(1e-3)
    assert config.train.betas == (0.0, 0.99) and config.train.classes == ["benign", "malignant"]
    assert config.train.ema == pytest.approx(0.999) and config.train.amp is True
    assert apply_override(config, "train.ema=null").train.ema is None
    assert config.model.image_size == 128


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("train.steps=-1", ">= 1"),
        ("train.stepz=1", "unknown key 'stepz'"),
        ("train.steps=abc", "integer"),
        ("train=3", "is a section"),
        ("train.ema=2", "<= 1.0"),
        ("nokey", "KEY=VALUE"),
        ("model.image_size=100", "32, 64, 128"),
    ],
)
def test_bad_overrides(override, fragment):
    with pytest.raises(UserError) as error:
        apply_override(from_dict(Config, {}, origin="x"), override)
    assert fragment in str(error.value)


@given(st.integers(min_value=1, max_value=10**9))
def test_any_valid_step_count_round_trips(steps):
    config = apply_override(from_dict(Config, {}, origin="x"), f"train.steps={steps}")
    assert config.train.steps == steps
    assert to_dict(config)["train"]["steps"] == steps


@given(st.text(max_size=20))
def test_override_never_crashes_with_an_unexpected_exception(value):
    with contextlib.suppress(UserError):
        apply_override(from_dict(Config, {}, origin="x"), f"train.steps={value}")


def test_config_names_resolve_with_or_without_suffix(tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mine.yaml").write_text("train: {steps: 3}\n")
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path("mine") == resolve_config_path("mine.yaml")
    assert load_config(Config, "mine").train.steps == 3
    with pytest.raises(UserError, match="not found"):
        resolve_config_path("nope")
