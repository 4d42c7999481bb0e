"""The interface of a data source: what `skingan prepare --source NAME` asks of it and what it gives back.

A source is one module in skingan.data.sources that defines

    SOURCE = DataSource(name="my-archive", summary="one line: the layout it reads", read=read)

where `read(root, options) -> Imported` lists the images under the --input folder `root` with their labels
(skingan.data.sources.tables builds the table; .labels turns label text into 1/0). The registry finds the
module by itself; `skingan prepare` then decodes, de-duplicates, splits and caches whatever the table lists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import pandas as pd
    from PIL import Image


class SourceOptions(Protocol):
    """The options a source may read. `skingan prepare` passes its PrepareOptions (its --help explains each)."""

    target: str  # which class is positive: malignant (vs benign) or melanoma (vs everything else)
    labels: str | Path | None  # --labels: a CSV of labels (the folder source)
    image_col: str  # --image-col, --label-col, --id-col, --patient-col, --lesion-col: its columns
    label_col: str
    id_col: str | None
    patient_col: str | None
    lesion_col: str | None
    keep_split: str | None  # --keep-split: the column of the source's own table that holds a split to keep
    splits_from: str | None  # --splits-from: a prepared set whose images keep their split
    regroup: bool  # --regroup: move patient/lesion groups a kept split puts in two splits
    n: int  # --n: how many images a generating source makes (phantom)
    seed: int  # --seed


@dataclass
class Imported:
    """What a source gives back: one row per listed image (tables.TABLE_COLUMNS), and what it noticed.

    `target` is 1/0, or <NA> when the label is unknown; `label` is the raw text the target came from; `path`
    is the image file ('' when none was found, or for in-memory images).
    """

    table: pd.DataFrame
    images: Mapping[str, Image.Image] = field(default_factory=dict)  # in-memory images (phantoms), by id
    notes: list[str] = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)  # rows removed by the source's own rules
    files: list[Path] = field(default_factory=list)  # the label/metadata files read: when one changes (or an
    # image does), the input fingerprint changes and `skingan prepare` rebuilds the set instead of reusing it


@dataclass(frozen=True)
class DataSource:
    """One --source NAME."""

    name: str  # the --source value; the module is named after it ('-' → '_')
    summary: str  # one line for `skingan prepare --help`: the layout it reads
    read: Callable[[Path, SourceOptions], Imported]  # the --input folder (None when needs_input is False)
    needs_input: bool = True  # False: the source makes its own images (phantom)
    input_file: bool = False  # True: --input is one file (medmnist's .npz), not a folder
    own_split: bool = False  # True: the table's `split` is the source's official train/val/test split, always
    # kept (no --keep-split); a patient/lesion group it puts in two splits is refused like any kept split
    check: Callable[[SourceOptions], None] | None = None  # rules on options only this source reads: raises
    # ValueError naming the flag (`--n 1: ...`), called by PrepareOptions.check() before anything is read
