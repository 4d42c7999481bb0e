"""--source medmnist: one DermaMNIST .npz of MedMNIST / MedMNIST+ (e.g. dermamnist_128.npz) as --input.

The file holds train_images, train_labels, val_images, val_labels, test_images and test_labels: images
N×H×W×3 uint8 (H = W = 28, 64, 128 or 224), labels N×1 integers in DermaMNIST's seven HAM10000 classes
(below; as medmnist's INFO["dermamnist"]["label"] numbers them). Its official train/val/test split is kept
as it is (the source's own split: no --keep-split). The file has no patient or lesion ids, so the split can
only be checked for identical images, which prepare drops like any duplicate: MedMNIST split by image, so
images of one HAM10000 lesion may sit in two splits, and nothing here can tell.

--target melanoma: mel (4) vs the rest; --target malignant: mel, bcc and akiec (4, 1, 0) vs the rest, as
--source ham10000 reads the same diagnoses. Images are decoded from the file's pixels and cached at --sizes.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from skingan.data.sources.base import DataSource, Imported, SourceOptions
from skingan.data.sources.labels import label_to_target
from skingan.data.sources.tables import make_table
from skingan.errors import UserError

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

SPLITS = ("train", "val", "test")
# medmnist INFO["dermamnist"]["label"] (MedMNIST v2/v3), with HAM10000's short codes
CLASSES: dict[int, tuple[str, str]] = {
    0: ("akiec", "actinic keratoses and intraepithelial carcinoma"),
    1: ("bcc", "basal cell carcinoma"),
    2: ("bkl", "benign keratosis-like lesions"),
    3: ("df", "dermatofibroma"),
    4: ("mel", "melanoma"),
    5: ("nv", "melanocytic nevi"),
    6: ("vasc", "vascular lesions"),
}
POSITIVE = {"melanoma": "mel (4)", "malignant": "mel, bcc and akiec (4, 1, 0)"}
ATTRIBUTION = "DermaMNIST (MedMNIST, Yang et al. 2023) from HAM10000 (Tschandl et al. 2018)"


class ArrayImages(Mapping):
    """The images of the .npz by image id, as PIL images made on access (the arrays are held once)."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays
        self.rows = {f"{split}_{i:05d}": (split, i) for split in SPLITS for i in range(len(arrays[split]))}

    def __getitem__(self, image_id: str) -> Image.Image:
        from PIL import Image

        split, row = self.rows[image_id]
        return Image.fromarray(self.arrays[split][row], "RGB")

    def __contains__(self, image_id: object) -> bool:
        return image_id in self.rows

    def __iter__(self) -> Iterator[str]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every key of the file, checked: images N×H×W×3 uint8, labels N×1 (or N) integers 0-6, N alike."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise UserError(f"--input '{path}' is not a readable .npz file ({str(error)[:120]}); give a MedMNIST "
                        "DermaMNIST file such as dermamnist_128.npz") from error
    wanted = [f"{split}_{kind}" for split in SPLITS for kind in ("images", "labels")]
    missing = [key for key in wanted if key not in arrays]
    if missing:
        raise UserError(f"--input '{path}' has no key {', '.join(missing)}; a MedMNIST .npz holds "
                        f"{', '.join(wanted)} (its keys: {', '.join(sorted(arrays)) or 'none'})")
    for split in SPLITS:
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3 or images.shape[1] != images.shape[2]:
            raise UserError(f"--input '{path}': key {split}_images has shape {images.shape} {images.dtype}; expected "
                            "N×H×W×3 uint8 square RGB images (DermaMNIST; grey MedMNIST sets are not skin images)")
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.ndim != 1 or labels.shape[0] != images.shape[0] or not np.issubdtype(labels.dtype, np.integer):
            raise UserError(f"--input '{path}': key {split}_labels has shape {arrays[f'{split}_labels'].shape} "
                            f"{labels.dtype}; expected {images.shape[0]}×1 integers (one per {split} image)")
        bad = sorted(set(np.unique(labels).tolist()) - set(CLASSES))
        if bad:
            raise UserError(f"--input '{path}': key {split}_labels holds {', '.join(map(str, bad[:5]))}; expected "
                            f"DermaMNIST's classes 0-6 ({', '.join(f'{k} {c}' for k, (c, _) in CLASSES.items())})")
        arrays[split], arrays[f"{split}_labels"] = images, labels
    return arrays


def read(root: Path, options: SourceOptions) -> Imported:
    """The three splits of the file, in order (train, val, test), ids `<split>_<index>` within the file."""
    arrays = load_npz(root)
    rows: dict[str, list] = {"image_id": [], "path": [], "target": [], "label": [], "diagnosis": [], "split": []}
    for split in SPLITS:
        for index, value in enumerate(arrays[f"{split}_labels"].tolist()):
            code, name = CLASSES[int(value)]
            rows["image_id"].append(f"{split}_{index:05d}")
            rows["path"].append("")
            rows["target"].append(label_to_target(code, options.target))
            rows["label"].append(code)
            rows["diagnosis"].append(name)
            rows["split"].append(split)
    table = make_table(rows, "medmnist")
    table["benign_malignant"] = table["target"].map({1: "malignant", 0: "benign"}).fillna("")
    table["attribution"] = ATTRIBUTION
    table["license"] = "CC-BY-NC"  # HAM10000's licence (MedMNIST lists its files as CC BY 4.0)
    side = int(arrays["train"].shape[1])
    notes = [f"--target {options.target}: positive = {POSITIVE[options.target]} of DermaMNIST's 7 classes",
             f"official MedMNIST train/val/test split kept ({', '.join(f'{s} {len(arrays[s])}' for s in SPLITS)}); "
             "the file has no patient or lesion ids: only identical images could be checked across splits",
             f"images are {side}×{side} px in the file"]
    return Imported(table, images=ArrayImages({s: arrays[s] for s in SPLITS}), notes=notes, files=[root])


def check(options: SourceOptions) -> None:
    for flag, value in (("--keep-split", options.keep_split), ("--splits-from", options.splits_from),
                        ("--regroup", options.regroup)):
        if value:
            raise ValueError(f"{flag}: --source medmnist keeps the file's official train/val/test split; drop {flag}")


SOURCE = DataSource("medmnist", "a MedMNIST DermaMNIST .npz (--input dermamnist_128.npz), official split kept",
                    read, input_file=True, own_split=True, check=check)
