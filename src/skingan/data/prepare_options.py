"""What `skingan prepare` is asked to do, as a typed config (skingan.config), and what prepare.json keeps of it.

Each flag of `skingan prepare` is one field here (--image-col → image_col), in the order of its --help; a
source reads the fields it needs (skingan.data.sources.base.SourceOptions). `check()` holds every rule on the
values, so a mistake is reported before any file is read.

A prepared set is reused when the "parameters" in its prepare.json equal `recorded()` of the new options and
its inputs are the same files. RECORDED is that list of keys, as the first prepared sets wrote it: a key added,
removed or renamed there would make every existing set look different, so new options that change the output
must be handled with care (tests/test_prepare_migration.py checks sets written before this module existed):
such an option is in OPTIONAL_RECORDED and recorded only when it differs from its default (--regroup).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skingan.config import setting, to_dict
from skingan.data.images import RESIZE_MODES
from skingan.data.sources.labels import TARGETS
from skingan.data.sources.registry import get_source, source_names
from skingan.data.splits import check_sizes
from skingan.errors import UserError

RECORDED = ("source", "input", "target", "sizes", "resize", "val_size", "test_size", "seed", "keep_split",
            "splits_from", "reduce", "max_ratio", "draft", "labels", "image_col", "label_col", "id_col",
            "patient_col", "lesion_col", "n")
OPTIONAL_RECORDED = {"regroup": False}  # added later: recorded only when not the default, so older sets match
PATHS = ("input", "labels", "splits_from")  # recorded as absolute paths
MIN_SIZE, MAX_SIZE = 8, 1024


@dataclass
class PrepareOptions:
    """Everything `skingan prepare` is asked to do (paths as given; the command resolves --labels)."""

    out: str = setting("data/prepared", help="folder for the prepared set")
    seed: int = setting(0, help="seed for every random choice (phantoms, --max-ratio, --reduce, splits)")
    # the source
    source: str = setting("folder", help="layout of --input: a name from skingan.data.sources")
    input: str | None = setting(None, help="folder with the images (not needed for phantom)")
    n: int = setting(200, help="number of phantom images (--source phantom)")
    target: str = setting("malignant", help="positive class: malignant (vs benign) or melanoma (vs the rest)")
    # --source folder with a CSV
    labels: str | None = setting(None, help="CSV of labels")
    image_col: str = setting("image", help="column with the image path or file stem")
    label_col: str = setting("target", help="column with the label")
    id_col: str | None = setting(None, help="column with the image id (default: the image file stem)")
    patient_col: str | None = setting(None, help="column with the patient id (splits never share a patient)")
    lesion_col: str | None = setting(None, help="column with the lesion id (splits never share a lesion)")
    # processing
    sizes: list[int] = setting(default_factory=lambda: [64, 128], help="cache sizes in pixels")
    resize: str = setting("crop", help="crop: centre square; pad: black borders; squash: the original study")
    draft: bool = setting(True, help="decode JPEGs in draft mode (reduced scale; --no-draft turns it off)")
    val_size: float = setting(0.15, help="fraction of images for validation")
    test_size: float = setting(0.15, help="fraction of images for test")
    keep_split: str | None = setting(None, help="keep the split in this column of the source's table")
    splits_from: str | None = setting(None, help="a prepared set whose images keep their split here")
    regroup: bool = setting(False, help="move each patient/lesion group a kept split puts in two splits into the "
                                        "split holding most of its images (otherwise such a split is refused)")
    reduce: int | None = setting(None, help="keep this many images with the same class ratio")
    max_ratio: float | None = setting(None, help="at most this many benign images per malignant one")
    workers: int = setting(0, help="decoding processes (0: one per CPU, at most 8)")
    strict: bool = setting(False, help="fail if any image cannot be read")
    force: bool = setting(False, help="replace a different prepared set at out")

    def check(self) -> None:
        """Every rule on the values (none reads a file); each message names the flag at fault."""
        if self.source not in source_names():
            raise ValueError(f"--source {self.source!r} is not known; accepted: {', '.join(source_names())}")
        if self.target not in TARGETS:
            raise ValueError(f"--target {self.target!r} is not known; accepted: {', '.join(TARGETS)}")
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"--resize {self.resize!r} is not known; accepted: {', '.join(RESIZE_MODES)}")
        if not self.sizes:
            raise ValueError("--sizes needs at least one size, e.g. --sizes 64 128")
        for size in self.sizes:
            if not MIN_SIZE <= size <= MAX_SIZE:
                raise ValueError(f"--sizes {size}: each size must be between {MIN_SIZE} and {MAX_SIZE} pixels")
        try:
            check_sizes(self.val_size, self.test_size)
        except UserError as error:
            raise ValueError(str(error)) from None
        if self.reduce is not None and self.reduce < 2:
            raise ValueError(f"--reduce {self.reduce}: must keep at least 2 images")
        if self.max_ratio is not None and self.max_ratio <= 0:
            raise ValueError(f"--max-ratio {self.max_ratio}: must be > 0 (benign images per malignant image)")
        if self.workers < 0:
            raise ValueError(f"--workers {self.workers}: must be ≥ 0 (0 = one per CPU)")
        source_check = get_source(self.source).check
        if source_check is not None:
            source_check(self)
        if self.keep_split and self.splits_from:
            raise ValueError("--keep-split and --splits-from cannot be combined; pick one source of splits")
        if self.regroup and not (self.keep_split or self.splits_from):
            raise ValueError("--regroup moves patient/lesion groups of a kept split: it needs --keep-split COL or "
                             "--splits-from PREPARED (splits made by prepare never split a group)")

    def recorded(self) -> dict[str, Any]:
        """The options that decide the output, as prepare.json's "parameters" (not where it goes, how many
        workers made it, or what to do about a different set or an unreadable file)."""
        values = to_dict(self)
        for key in PATHS:
            if values[key] is not None:
                values[key] = str(Path(values[key]).resolve())
        recorded = {key: values[key] for key in RECORDED}
        recorded.update({key: values[key] for key, default in OPTIONAL_RECORDED.items() if values[key] != default})
        return recorded

    @property
    def out_path(self) -> Path:
        return Path(self.out)

    @property
    def input_path(self) -> Path | None:
        return None if self.input is None else Path(self.input)

    @property
    def splits_from_path(self) -> Path | None:
        return None if self.splits_from is None else Path(self.splits_from)
