"""The data sources `skingan prepare --source NAME` reads: every module of this package that defines SOURCE.

Nothing registers a source by hand: a module that defines `SOURCE = DataSource(...)` (skingan.data.sources.base)
is found here, listed in `--source`'s choices and in `skingan prepare --help`, and run by `import_source`.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from pathlib import Path

from skingan.data.sources.base import DataSource, Imported, SourceOptions
from skingan.errors import UserError

# The order of `--source`'s choices (and of "accepted: ..." in messages); sources not listed come after, by name.
LISTED = ("isic", "ham10000", "siim-isic-2020", "isic2017", "medmnist", "folder", "isic-json", "phantom")


@functools.cache
def sources() -> dict[str, DataSource]:
    """Every source by name, in the order above."""
    import skingan.data.sources as package

    found: dict[str, DataSource] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"skingan.data.sources.{info.name}")
        source = getattr(module, "SOURCE", None)
        if not isinstance(source, DataSource):
            continue  # the interface and the helpers sources share
        if source.name in found:
            raise RuntimeError(f"two data sources are named {source.name!r}: rename one of them")
        found[source.name] = source

    def order(name: str) -> tuple[int, str]:
        return (LISTED.index(name) if name in LISTED else len(LISTED), name)

    return {name: found[name] for name in sorted(found, key=order)}


def source_names() -> tuple[str, ...]:
    return tuple(sources())


def get_source(name: str) -> DataSource:
    if name not in sources():
        raise UserError(f"--source {name!r} is not known; accepted: {', '.join(source_names())}")
    return sources()[name]


def import_source(name: str, root: Path | None, options: SourceOptions) -> Imported:
    """Run source `name` on the --input folder (or file) `root` (checked first); a table listing no image is an error."""
    source = get_source(name)
    if source.needs_input:
        if root is None:
            raise UserError(f"--source {name} needs --input DIR (the folder holding the images)")
        if source.input_file and not root.is_file():
            raise UserError(f"--input '{root}' is not a file; --source {name} reads one file ({source.summary})")
        if not source.input_file and not root.is_dir():
            raise UserError(f"--input '{root}' is not a folder")
    imported = source.read(root, options)  # type: ignore[arg-type]
    if imported.table.empty:
        raise UserError(f"--input '{root}' (--source {name}) lists no images")
    return imported
