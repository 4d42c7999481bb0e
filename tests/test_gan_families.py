"""The generator-family registry: configs as deltas over family recipes, the legacy layout still loading and
resuming bitwise, train.max_minutes, and a trainer that names no family."""

from __future__ import annotations

import ast
import copy
from pathlib import Path

import pytest
import torch
import yaml

from skingan.config import available_configs, from_dict, load_config, to_dict
from skingan.errors import UserError
from skingan.gan.checkpoint import load_checkpoint
from skingan.gan.config import GANConfig, config_from_saved
from skingan.gan.registry import FAMILIES
from skingan.gan.sample import generate_images, load_generator
from skingan.gan.train import train

SRC = Path(__file__).resolve().parents[1] / "src" / "skingan"

# Two configs exactly as they were written before families had sections and recipes (every key spelled out).
OLD_SNGAN64 = """
model: {arch: sngan, image_size: 64, nz: 128, ngf: 64, ndf: 64, g_upsample: resize, d_norm: none,
        spectral_norm: true, d_dropout: 0.0}
data: {classes: [malignant], split: train}
train: {steps: 10000, batch_size: 64, lr_g: 0.0001, lr_d: 0.0004, betas: [0.0, 0.9], n_critic: 1, loss: hinge,
        ema: true, ema_decay: 0.999, diffaugment: 'color,translation,cutout', amp: true, channels_last: true,
        checkpoint_every: 1000, sample_every: 500, log_every: 10}
"""
OLD_ACGAN64_SEED = """
model: {arch: acgan, image_size: 64, nz: 600, ngf: 64, ndf: 64, g_upsample: resize, d_norm: batch,
        spectral_norm: true, d_dropout: 0.25}
data: {classes: [benign, malignant], split: train}
train: {steps: 20000, batch_size: 16, lr_g: 0.0002, lr_d: 0.0002, betas: [0.5, 0.999], n_critic: 1, loss: bce,
        label_smoothing: 0.1, fake_label: 0.1, aux_weight: 1.0, ema: false, diffaugment: none, amp: false,
        checkpoint_every: 1000, sample_every: 500, log_every: 10}
"""


def tiny(*overrides: str):
    return load_config(GANConfig, "gan-tiny32", ["train.grid_size=4", *overrides])


@pytest.mark.parametrize(("name", "old"), [("sngan64", OLD_SNGAN64), ("acgan64-seed", OLD_ACGAN64_SEED)])
def test_delta_configs_resolve_to_the_old_full_configs(name: str, old: str, tmp_path: Path) -> None:
    legacy = tmp_path / "legacy.yaml"
    legacy.write_text(old)
    assert to_dict(load_config(GANConfig, name)) == to_dict(load_config(GANConfig, legacy))
    resolved = to_dict(load_config(GANConfig, name))
    assert resolved[name[:5]]["ngf"] == 64 and "ngf" not in resolved["model"]
    assert set(resolved) == {"model", "data", "train", name[:5]}  # only the active family's section


def test_every_shipped_gan_config_names_a_registered_family() -> None:
    gan_configs = [n for n in available_configs() if n not in ("efficientnet", "augmentation")]
    assert len(gan_configs) >= 17
    for name in gan_configs:
        config = load_config(GANConfig, name)
        assert config.model.arch in FAMILIES
        assert config.model.image_size in config.family.sizes
        assert type(config.options) is config.family.options


def test_family_recipe_lies_beneath_the_file_and_follows_a_set_arch() -> None:
    assert tiny().train.lr_d == 0.0004
    wgan = tiny("model.arch=wgan", "model.spectral_norm=false", "train.loss=wasserstein")  # the file says hinge
    assert wgan.family.name == "wgan" and wgan.train.n_critic == 5 and wgan.train.gp_lambda == 10.0
    assert wgan.options.ngf == 8 and wgan.options.spectral_norm is False  # the file's sngan options moved over
    assert tiny("model.arch=acgan").data.classes == ["benign", "malignant"]  # acgan's recipe needs both


def test_legacy_model_keys_still_work_on_the_command_line_and_in_files(tmp_path: Path) -> None:
    assert tiny("model.ngf=12").options.ngf == 12
    assert tiny("sngan.ngf=12").options.ngf == 12
    old = tmp_path / "old.yaml"
    old.write_text("model: {arch: dcgan, image_size: 32, ngf: 16, d_norm: none}\n")
    config = load_config(GANConfig, old)
    assert (config.options.ngf, config.options.d_norm, config.options.spectral_norm) == (16, "none", False)


def test_a_section_of_another_family_and_an_unsupported_size_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {arch: sngan, image_size: 32}\nwgan: {ngf: 8}\n")
    with pytest.raises(UserError, match="section 'wgan' is for model.arch=wgan"):
        load_config(GANConfig, bad)
    with pytest.raises(UserError, match="section 'wgan' is not used"):
        tiny("wgan.ngf=8")
    with pytest.raises(UserError, match="model.arch=wgan needs train.loss=wasserstein"):
        tiny("model.arch=wgan", "train.loss=hinge")


def legacy_layout(config_dict: dict) -> dict:
    """A resolved config as checkpoints stored it before the families: options under model, no max_minutes."""
    old = copy.deepcopy(config_dict)
    arch = old["model"]["arch"]
    old["model"].update(old.pop(arch))
    old["train"].pop("max_minutes")
    return old


def test_a_checkpoint_in_the_legacy_layout_samples_and_resumes_bitwise(tiny_prepared: Path, tmp_path: Path) -> None:
    """Checkpoints written before the registry hold the classic options under `model:`; such a checkpoint
    (G/D keys unchanged) samples the same images and resumes to the same weights as an uninterrupted run."""
    train(tiny("train.steps=2"), tiny_prepared, tmp_path / "a", progress=False)
    ckpt_path = tmp_path / "a" / "checkpoints" / "last.pt"
    ckpt = load_checkpoint(ckpt_path)
    before = generate_images(*load_generator(ckpt_path), n=4, class_name=None, seed=3)
    ckpt["config"] = legacy_layout(ckpt["config"])
    assert "ngf" in ckpt["config"]["model"] and "sngan" not in ckpt["config"]
    torch.save(ckpt, ckpt_path)
    assert config_from_saved(ckpt["config"], origin="test").options.ngf == 8
    after = generate_images(*load_generator(ckpt_path), n=4, class_name=None, seed=3)
    assert (before == after).all()
    train(tiny("train.steps=4"), tiny_prepared, tmp_path / "a", resume=True, progress=False)
    train(tiny("train.steps=4"), tiny_prepared, tmp_path / "b", progress=False)
    resumed, straight = (load_checkpoint(tmp_path / r / "checkpoints" / "last.pt") for r in ("a", "b"))
    for key in ("G", "D", "G_ema"):
        assert all(torch.equal(resumed[key][n], straight[key][n]) for n in straight[key])


def test_max_minutes_stops_with_a_checkpoint_that_resumes_exactly(tiny_prepared: Path, tmp_path: Path) -> None:
    result = train(tiny("train.steps=5", "train.max_minutes=0.00001"), tiny_prepared, tmp_path / "a",
                   progress=False)
    assert result.stopped_by == "max_minutes" and result.step == 1
    ckpt = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")
    assert ckpt["step"] == 1
    assert (tmp_path / "a" / "samples" / "step_0000001.png").is_file()
    resumed = train(tiny("train.steps=5"), tiny_prepared, tmp_path / "a", resume=True, progress=False)
    assert resumed.stopped_by == "steps" and resumed.step == 5
    train(tiny("train.steps=5"), tiny_prepared, tmp_path / "b", progress=False)
    a, b = (load_checkpoint(tmp_path / r / "checkpoints" / "last.pt") for r in ("a", "b"))
    for key in ("G", "D", "G_ema"):
        assert all(torch.equal(a[key][n], b[key][n]) for n in b[key])
    steps = [line.split(",")[0] for line in (tmp_path / "a" / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == sorted(set(steps), key=int)  # no step logged twice across the stop


def test_the_training_loop_names_no_family() -> None:
    loop_files = ["train.py", "steps.py", "state.py", "checkpoint.py", "data.py", "sample.py"]
    for name in loop_files:
        text = (SRC / "gan" / name).read_text()
        for family in FAMILIES:
            assert f'"{family}"' not in text and f"import {family}" not in text, (name, family)


def imports_of(path: Path, package_root: Path) -> set[str]:
    """Every skingan module a file imports, at top level or inside functions (lazy imports included)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("skingan"):
            found.add(node.module)
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                if (package_root.parent / (candidate.replace(".", "/") + ".py")).is_file():
                    found.add(candidate)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("skingan"))
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
              and node.args):
            # importlib.import_module("skingan.x.y") or f"skingan.commands.{name}": every module it may name
            arg = node.args[0]
            text = arg.value if isinstance(arg, ast.Constant) else (
                arg.values[0].value if isinstance(arg, ast.JoinedStr) and isinstance(arg.values[0], ast.Constant) else "")
            if isinstance(text, str) and text.startswith("skingan"):
                prefix = text if isinstance(arg, ast.Constant) else text.rstrip(".")
                folder = package_root.parent / prefix.replace(".", "/")
                found.update(f"{prefix}.{m.stem}" for m in folder.glob("*.py")) if folder.is_dir() else found.add(prefix)
    return found


def test_no_import_cycle_in_the_package_lazy_imports_included() -> None:
    modules = {}
    for path in SRC.rglob("*.py"):
        name = ".".join(path.relative_to(SRC.parent).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    graph = {name: {m for m in imports_of(path, SRC) if m in modules and m != name} for name, path in modules.items()}
    for name in graph:  # a package's __init__ is not an edge of its own
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_gan_config_round_trips_through_yaml() -> None:
    for name in ("sngan64", "acgan64-seed", "wgan128", "dcgan64"):
        config = load_config(GANConfig, name)
        again = from_dict(GANConfig, yaml.safe_load(yaml.safe_dump(to_dict(config))), origin="round trip")
        assert to_dict(again) == to_dict(config)
