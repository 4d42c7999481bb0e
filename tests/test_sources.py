"""The data-source registry: every module of skingan.data.sources that defines SOURCE is a `--source`, and a new
source is one module (the example in the package's docstring, run here end to end)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import skingan.data.sources as package
from skingan.cli import build_parser, main
from skingan.data.prepared import open_prepared
from skingan.data.sources.base import DataSource
from skingan.data.sources.registry import LISTED, get_source, source_names, sources
from skingan.errors import UserError


def prepare_parser():
    return next(a for a in build_parser()._actions if a.dest == "command").choices["prepare"]


def test_every_source_module_is_registered_under_its_name():
    modules = {info.name for info in pkgutil.iter_modules(package.__path__)}
    with_source = {m for m in modules if isinstance(getattr(importlib.import_module(f"{package.__name__}.{m}"),
                                                            "SOURCE", None), DataSource)}
    assert with_source == modules - {"base", "registry", "labels", "tables"}
    assert {name.replace("-", "_") for name in source_names()} == with_source  # the module is named after it
    assert source_names() == LISTED  # the order of --source's choices and of "accepted: ..." since the start
    for source in sources().values():
        assert source.summary and "\n" not in source.summary and len(source.summary) <= 80, source.name


def test_the_command_reads_its_choices_and_help_from_the_registry():
    parser = prepare_parser()
    assert tuple(next(a for a in parser._actions if a.dest == "source").choices) == source_names()
    help_text = parser.format_help()
    for source in sources().values():
        assert f"  {source.name:<16}{source.summary}" in help_text


def test_unknown_source_and_source_checks():
    with pytest.raises(UserError, match="--source 'kaggle' is not known; accepted: isic, ham10000, siim-isic-2020"):
        get_source("kaggle")
    assert get_source("phantom").needs_input is False and get_source("phantom").check is not None
    assert all(s.needs_input for name, s in sources().items() if name != "phantom")


def test_source_modules_import_nothing_heavy_at_import_time():
    """`skingan --help` builds prepare's parser, which imports every source: numpy, pandas, PIL wait for `read`."""
    heavy = {"numpy", "pandas", "PIL", "torch"}
    for path in Path(package.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only; imports inside functions run when a source is used
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not {n.split(".")[0] for n in names} & heavy, f"{path.name}: {names}"
            assert "skingan.data.images" not in names, path.name


# --------------------------------------------------------------------------------- a new source, one module
NEW_SOURCE = '''
from __future__ import annotations

from pathlib import Path

from skingan.data.sources.base import DataSource, Imported, SourceOptions
from skingan.data.sources.labels import label_to_target
from skingan.data.sources.tables import find_file, index_images, make_table, read_csv_strings
'''


def docstring_example() -> str:
    """The module the package docstring shows, as code."""
    doc = package.__doc__ or ""
    start = doc.index("    def read(")
    end = doc.index("and `skingan prepare --source my-archive")
    return textwrap.dedent(doc[start:end])


@pytest.fixture
def my_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """skingan.data.sources.my_archive, written from the docstring into a folder added to the package's path."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "my_archive.py").write_text(NEW_SOURCE + "\n\n" + docstring_example(), encoding="utf-8")
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(folder)])
    sources.cache_clear()
    yield folder
    sys.modules.pop(f"{package.__name__}.my_archive", None)
    sources.cache_clear()


def test_a_new_source_is_one_module(my_archive, tmp_path, capsys):
    assert source_names() == (*LISTED, "my-archive")
    root = tmp_path / "archive"
    root.mkdir()
    rng = np.random.default_rng(0)
    ids = [f"IMG_{k:02d}" for k in range(12)]
    for k, image_id in enumerate(ids):
        pixels = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) // (1 + k % 2)
        Image.fromarray(pixels).save(root / f"{image_id}.png")
    pd.DataFrame({"id": ids, "dx": ["melanoma" if k % 2 else "nevus" for k in range(12)]}).to_csv(
        root / "my_labels.csv", index=False)
    assert "my-archive" in prepare_parser().format_help()
    flags = ["prepare", "--source", "my-archive", "--input", str(root), "--out", str(tmp_path / "p"), "--sizes", "16",
             "--workers", "1"]
    assert main(flags) == 0, capsys.readouterr().err
    prepared = open_prepared(tmp_path / "p")
    assert len(prepared) == 12 and int(prepared.targets.sum()) == 6
    assert set(prepared.metadata["source"]) == {"my-archive"} and prepared.info["parameters"]["source"] == "my-archive"
    capsys.readouterr()
    (root / "my_labels.csv").write_text((root / "my_labels.csv").read_text().replace("nevus", "melanoma", 1))
    assert main(flags) == 2  # the labels file is part of the input fingerprint (Imported.files)
    assert "already holds a prepared set made with different input files" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ the old import names
def test_the_old_importer_names_still_work(isic2017, tmp_path):
    from skingan.data import importers

    labels = tmp_path / "labels.csv"
    rows = pd.read_csv(isic2017 / "labels.csv").head(4)
    pd.DataFrame({"image": [str(isic2017 / p) for p in rows["image"]], "target": rows["target"]}).to_csv(
        labels, index=False)
    imported = importers.import_folder_csv(tmp_path, importers.ImportOptions(target="melanoma", labels=labels))
    assert list(imported.table["target"]) == rows["target"].tolist()
    assert tuple(importers.SOURCES) == source_names() and importers.label_to_target("mel") == 1
