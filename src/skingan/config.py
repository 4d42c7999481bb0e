"""YAML → typed dataclasses with strict keys, checked types and ranges, and `--set a.b=value` overrides.

A stage declares its config as nested dataclasses. Fields may carry limits through `setting(...)`:

    @dataclass
    class TrainConfig:
        steps: int = setting(1000, min=1)
        loss: str = setting("hinge", choices=("bce", "hinge", "wasserstein"))

A dataclass may define `check(self)` for rules across fields; it raises `ValueError` with a message
naming the keys involved, and the loader reports it with the file name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from skingan.errors import UserError

T = TypeVar("T")

REPO_CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PACKAGED_CONFIGS = Path(__file__).resolve().parent / "configs"


def setting(default: Any = MISSING, *, choices: tuple | None = None, min: float | None = None,
            max: float | None = None, help: str = "", default_factory: Any = MISSING) -> Any:
    """A dataclass field with limits checked when the config is loaded."""
    metadata = {"choices": choices, "min": min, "max": max, "help": help}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def config_dirs() -> list[Path]:
    """Where config names are looked up: ./configs, the source checkout's configs, the installed copy."""
    dirs = [Path.cwd() / "configs", REPO_CONFIGS, PACKAGED_CONFIGS]
    unique: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


def available_configs() -> list[str]:
    names: set[str] = set()
    for d in config_dirs():
        names.update(p.stem for p in d.glob("*.yaml"))
    return sorted(names)


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A path to a YAML file, or a name under configs/ (`sngan128` and `sngan128.yaml` both work)."""
    candidate = Path(name_or_path).expanduser()
    if candidate.is_file():
        return candidate
    name = candidate.name if candidate.suffix in (".yaml", ".yml") else f"{candidate.name}.yaml"
    if candidate.parent == Path("."):
        for d in config_dirs():
            if (d / name).is_file():
                return d / name
    known = ", ".join(available_configs()) or "none found"
    raise UserError(f"config '{name_or_path}' not found: give a YAML path or one of: {known}")


class DuplicateKeyError(yaml.YAMLError):
    pass


class _StrictLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping (PyYAML would silently keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # '<<: *anchor' may be overridden by design
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, typing.Hashable) and key in seen:
                line = key_node.start_mark.line + 1
                raise DuplicateKeyError(f"key '{key}' is given twice (again at line {line}); keep one")
            if isinstance(key, typing.Hashable):
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"cannot read config '{path}': {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise UserError(f"config '{path}' is not UTF-8 text ({error.reason} at byte {error.start})") from error
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except DuplicateKeyError as error:
        raise UserError(f"config '{path}': {error}") from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"config '{path}' is not valid YAML{where}") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"config '{path}' must be a mapping of sections (e.g. 'train:'), got {type(data).__name__}")
    return data


def load_config(cls: type[T], source: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Build `cls` from a YAML file (or defaults when `source` is None) plus `key=value` overrides."""
    data: dict = {}
    origin = "defaults"
    if source is not None:
        path = resolve_config_path(source)
        origin = str(path)
        data = read_yaml(path)
    layer_defaults = getattr(cls, "layer_defaults", None)
    if callable(layer_defaults):  # e.g. GANConfig: the chosen family's recipe beneath the file
        data = layer_defaults(data, list(overrides or []))
    config = from_dict(cls, data, origin=origin, check=False)
    file_error = None
    try:
        run_checks(config, origin=origin)
    except UserError as error:
        if not overrides:
            raise
        file_error = error  # an override may still mend it
    for override in overrides or []:
        config = apply_override(config, override, check=False)
    if overrides:  # cross-field rules judge the final config, so the order of --set flags does not matter
        try:
            run_checks(config, origin="--set")
        except UserError:
            if file_error is not None:
                raise file_error from None
            raise
    return config


def from_dict(cls: type[T], data: dict, *, origin: str, prefix: str = "", check: bool = True) -> T:
    """`cls` from a mapping with strict keys and typed values; `check=False` leaves the cross-field rules
    (`check()` methods) to the caller."""
    if not isinstance(data, dict):
        raise UserError(f"{origin}: '{prefix.rstrip('.') or '(top)'}' must be a mapping, got {data!r}")
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(known), key=str)  # YAML keys may be numbers too
    if unknown:
        raise UserError(
            f"{origin}: unknown key '{prefix}{unknown[0]}'; accepted keys here: {', '.join(sorted(known))}"
        )
    values = {}
    for name, f in known.items():
        key = f"{prefix}{name}"
        if name in data:
            values[name] = convert(hints[name], data[name], f, origin=origin, key=key, check=check)
        elif is_dataclass(hints[name]) and f.default is MISSING and f.default_factory is MISSING:
            values[name] = from_dict(hints[name], {}, origin=origin, prefix=f"{key}.", check=check)
    instance = cls(**values)
    if check:
        run_checks(instance, origin=origin)
    return instance


def run_checks(instance: Any, *, origin: str) -> None:
    for f in fields(instance):
        value = getattr(instance, f.name)
        if is_dataclass(value):
            run_checks(value, origin=origin)
    check = getattr(instance, "check", None)
    if callable(check):
        try:
            check()
        except ValueError as error:
            raise UserError(f"{origin}: {error}") from error


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(tp))
    if origin in (list, tuple):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        return f"a list of {_describe(args[0])}" if args else "a list"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def convert(tp: Any, value: Any, f: dataclasses.Field | None, *, origin: str, key: str, check: bool = True) -> Any:
    """Check `value` against the annotation `tp` (and the field's limits); return the typed value."""

    def fail(expected: str) -> UserError:
        return UserError(f"{origin}: {key}={value!r} is not accepted: expected {expected}")

    origin_tp = get_origin(tp)
    if origin_tp in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return convert(arg, value, f, origin=origin, key=key, check=check)
            except UserError as error:
                errors.append(error)
        if len(errors) == 1:
            raise errors[0]
        raise fail(_describe(tp))
    if is_dataclass(tp):
        return from_dict(tp, value, origin=origin, prefix=f"{key}.", check=check)
    if origin_tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise fail(_describe(tp))
        item_types = [a for a in get_args(tp) if a is not Ellipsis]
        item_tp = item_types[0] if item_types else Any
        if origin_tp is tuple and len(item_types) > 1 and Ellipsis not in get_args(tp):
            if len(value) != len(item_types):
                raise fail(f"a list of {len(item_types)} values")
            return tuple(convert(t, v, None, origin=origin, key=f"{key}[{i}]")
                         for i, (t, v) in enumerate(zip(item_types, value, strict=True)))
        items = [convert(item_tp, v, f, origin=origin, key=f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin_tp is tuple else items
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise fail("true or false")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("an integer")
        result: Any = value
    elif tp is float:
        if isinstance(value, bool):
            raise fail("a number")
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise fail("a number") from None
        if not isinstance(value, (int, float)):
            raise fail("a number")
        result = float(value)
        if not math.isfinite(result):  # NaN passes every min/max comparison
            raise fail("a finite number")
    elif tp is str:
        if not isinstance(value, str):
            raise fail("a string")
        result = value
    else:
        raise TypeError(f"unsupported config type {tp!r} for {key}")
    if f is not None:
        _check_limits(result, f, fail)
    return result


def _check_limits(value: Any, f: dataclasses.Field, fail: Any) -> None:
    choices = f.metadata.get("choices")
    low, high = f.metadata.get("min"), f.metadata.get("max")
    if choices is not None and value not in choices:
        raise fail("one of " + ", ".join(str(c) for c in choices))
    if low is not None and value < low:
        raise fail(f"a value >= {low}" + (f" and <= {high}" if high is not None else ""))
    if high is not None and value > high:
        raise fail(f"a value <= {high}" + (f" and >= {low}" if low is not None else ""))


def _parse_override_value(raw: str, tp: Any) -> Any:
    """Command-line text → Python value, guided by the target type."""
    base = tp
    if get_origin(tp) in (Union, types.UnionType):
        non_none = [a for a in get_args(tp) if a is not type(None)]
        if raw.strip().lower() in ("null", "none", "~"):
            return None
        base = non_none[0] if len(non_none) == 1 else tp
    if base is str:
        return raw
    if base is float:
        return raw
    if base is bool:
        lowered = raw.strip().lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        return raw
    if get_origin(base) in (list, tuple) and raw.strip() and not raw.strip().startswith("["):
        return [_yaml_value(part) for part in raw.split(",")]  # "64,128" and a lone "64" alike
    return _yaml_value(raw)


def _yaml_value(raw: str) -> Any:
    """YAML's reading of one value ('3' → 3, 'null' → None); text YAML cannot read stays text for the type check."""
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def apply_override(config: T, override: str, *, check: bool = True) -> T:
    """Apply one `section.key=value` to a config; the value is converted to the field's type.

    With `check=False` the cross-field rules (`check()` methods) are left to the caller, who runs them once
    after the last override; types and ranges are always checked.
    """
    origin = "--set"
    if "=" not in override:
        raise UserError(f"--set '{override}': expected KEY=VALUE, e.g. --set train.steps=500")
    key, raw = override.split("=", 1)
    key = key.strip()
    legacy_key = getattr(type(config), "legacy_key", None)
    if callable(legacy_key):  # a key that has moved since (e.g. model.ngf → sngan.ngf)
        key = legacy_key(config, key)
    parts = key.split(".")
    targets = [config]
    for depth, part in enumerate(parts):
        node = targets[-1]
        names = [f.name for f in fields(node)]  # type: ignore[arg-type]
        if part not in names:
            where = ".".join(parts[:depth]) or "(top)"
            raise UserError(f"--set {key}: unknown key '{part}' in {where}; accepted: {', '.join(names)}")
        if depth < len(parts) - 1:
            child = getattr(node, part)
            if child is None and next(f for f in fields(node) if f.name == part).metadata.get("omit_none"):
                raise UserError(f"--set {key}: section '{part}' is not used by this config "
                                f"(it belongs to another choice, e.g. model.arch={part})")
            if not is_dataclass(child):
                raise UserError(f"--set {key}: '{'.'.join(parts[:depth + 1])}' is a value, not a section")
            targets.append(child)
    leaf_parent = targets[-1]
    leaf_field = next(f for f in fields(leaf_parent) if f.name == parts[-1])
    leaf_type = get_type_hints(type(leaf_parent))[parts[-1]]
    if is_dataclass(leaf_type):
        raise UserError(f"--set {key}: '{key}' is a section; set one of its keys, e.g. {key}.NAME=VALUE")
    value = convert(leaf_type, _parse_override_value(raw, leaf_type), leaf_field, origin=origin, key=key)
    new_leaf = dataclasses.replace(leaf_parent, **{parts[-1]: value})
    for depth in range(len(parts) - 2, -1, -1):
        new_leaf = dataclasses.replace(targets[depth], **{parts[depth]: new_leaf})
    if check:
        run_checks(new_leaf, origin=origin)
    return typing.cast(T, new_leaf)


def to_dict(config: Any) -> dict:
    """A plain dict (tuples as lists) suitable for YAML/JSON."""

    def plain(value: Any) -> Any:
        if is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in fields(value)
                    if not (f.metadata.get("omit_none") and getattr(value, f.name) is None)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        return value

    return plain(config)


def to_yaml(config: Any) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False, default_flow_style=None)


def config_hash(config: Any) -> str:
    """A short, stable hash of the resolved config."""
    payload = json.dumps(to_dict(config), sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()[:16]


__all__ = [
    "UserError",
    "apply_override",
    "available_configs",
    "config_hash",
    "dataclass",
    "from_dict",
    "load_config",
    "resolve_config_path",
    "setting",
    "to_dict",
    "to_yaml",
]
