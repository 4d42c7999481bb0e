"""Flags → typed options, through the config machinery the training commands use (skingan.config).

A command whose options are flags rather than a YAML file (prepare, download) declares them as a config
dataclass, maps its parsed flags onto the fields, and resolves them here: strict keys, checked types, then the
class's `check()`. Its messages already name the flag (`--sizes 4: ...`), so they are reported as they are,
without the origin that a config file's messages start with. `--dry-run` prints the result as YAML.
"""

from __future__ import annotations

from typing import Any, TypeVar

from skingan.config import from_dict, to_yaml
from skingan.errors import UserError

T = TypeVar("T")

ORIGIN = "command line"


def options_from_flags(cls: type[T], values: dict[str, Any]) -> T:
    """`cls` from flag values (one per field), checked once, before anything is read or written."""
    try:
        return from_dict(cls, values, origin=ORIGIN)
    except UserError as error:
        rule = error.__cause__
        if isinstance(rule, ValueError) and str(error) == f"{ORIGIN}: {rule}":  # a check() rule, as written
            raise UserError(str(rule)) from rule
        raise


def print_options(options: Any) -> None:
    """What --dry-run shows: the resolved options, as YAML that `from_dict` reads back."""
    print(to_yaml(options), end="")
