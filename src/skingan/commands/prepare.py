"""skingan prepare: any supported source → one prepared, split, cached data set."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

from skingan.commands._common import add_common, finite_float
from skingan.data.sources.labels import TARGETS
from skingan.data.sources.registry import sources

if TYPE_CHECKING:
    from skingan.data.prepare_options import PrepareOptions

NAME = "prepare"
HELP = ("turn raw images (ISIC, HAM10000, SIIM-ISIC 2020, ISIC 2017, DermaMNIST, a folder, ISIC JSON, phantoms) "
        "into a prepared set")
EXAMPLE = ("skingan prepare --source folder --input ../shared/data/isic2017-256 --labels labels.csv "
           "--image-col image --label-col target --id-col isic_id --keep-split split --out data/prepared/isic2017")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "sources (--source):\n" + "\n".join(f"  {s.name:<16}{s.summary}" for s in sources().values())
    add_common(parser, out_default="data/prepared", out_help="folder for the prepared set")
    source = parser.add_argument_group("source")
    source.add_argument("--source", required=True, choices=tuple(sources()), help="layout of --input")
    source.add_argument("--input", type=Path,
                        help="folder with the images (medmnist: the .npz file; not needed for phantom)")
    source.add_argument("--n", type=int, default=200, help="number of phantom images (--source phantom)")
    source.add_argument("--target", default="malignant", choices=TARGETS,
                        help="positive class: malignant (benign vs malignant) or melanoma (vs everything else)")
    folder = parser.add_argument_group("--source folder with a CSV")
    folder.add_argument("--labels", type=Path, help="CSV of labels (relative to --input or absolute)")
    folder.add_argument("--image-col", default="image", help="column with the image path or file stem")
    folder.add_argument("--label-col", default="target",
                        help="column with the label (1/0, malignant/benign, melanoma/nevus, mel, yes/no, ...)")
    folder.add_argument("--id-col", help="column with the image id (default: the image file stem)")
    folder.add_argument("--patient-col", help="column with the patient id (splits never share a patient)")
    folder.add_argument("--lesion-col", help="column with the lesion id (splits never share a lesion)")
    processing = parser.add_argument_group("processing")
    processing.add_argument("--sizes", type=int, nargs="+", default=[64, 128], help="cache sizes in pixels")
    processing.add_argument("--resize", default="crop", choices=("crop", "pad", "squash"),
                            help="crop: centre square; pad: black borders; squash: the original study")
    processing.add_argument("--no-draft", dest="draft", action="store_false",
                            help="decode JPEGs at full resolution (slower; draft mode is on by default)")
    processing.add_argument("--val-size", type=finite_float, default=0.15, help="fraction of images for validation")
    processing.add_argument("--test-size", type=finite_float, default=0.15, help="fraction of images for test")
    processing.add_argument("--keep-split", "--split-col", dest="keep_split", metavar="COL",
                            help="keep the split in this column (train/val/test; for isic2017 any name, e.g. "
                                 "'official'); missing val/test are carved, grouped, out of train")
    processing.add_argument("--splits-from", type=Path, metavar="PREPARED",
                            help="give images (same id or bytes) already in this prepared set the same split")
    processing.add_argument("--regroup", action="store_true",
                            help="with --keep-split/--splits-from: move each patient or lesion the kept split puts "
                                 "in two splits into the split holding most of its images (ties by --seed); "
                                 "without it such a split is refused")
    processing.add_argument("--reduce", type=int, metavar="N", help="keep N images with the same class ratio")
    processing.add_argument("--max-ratio", type=finite_float, metavar="R", help="at most R benign images per malignant")
    processing.add_argument("--workers", type=int, default=0, help="decoding processes (0: one per CPU, ≤ 8)")
    processing.add_argument("--strict", action="store_true", help="fail if any image cannot be read")
    processing.add_argument("--force", action="store_true", help="replace a different prepared set at --out")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the resolved options (YAML) and exit without reading or writing anything")


def resolve_labels(labels: Path | None, input_dir: Path | None) -> Path | None:
    """--labels as given when it is absolute or a file from here, else relative to --input."""
    if labels is None or labels.is_absolute() or labels.is_file() or input_dir is None:
        return labels
    return input_dir / labels


def resolve_options(args: argparse.Namespace) -> PrepareOptions:
    """The flags as typed options (skingan.config; one field per flag, same name), checked before any file is
    read. --device is accepted like everywhere, but nothing here runs on it."""
    from skingan.commands._options import options_from_flags
    from skingan.data.prepare_options import PrepareOptions

    values = {f.name: getattr(args, f.name) for f in fields(PrepareOptions)}
    values["labels"] = resolve_labels(args.labels, args.input)
    values = {name: str(value) if isinstance(value, Path) else value for name, value in values.items()}
    return options_from_flags(PrepareOptions, values)


def summary_table(info: dict) -> str:
    from skingan.data.prepared import CLASS_NAMES, SPLITS

    counts = info["counts"]
    lines = [f"{'split':<8}" + "".join(f"{n:>11}" for n in CLASS_NAMES) + f"{'total':>9}"]
    for split in SPLITS:
        row = counts.get(split, {})
        lines.append(f"{split:<8}" + "".join(f"{row.get(n, 0):>11}" for n in CLASS_NAMES)
                     + f"{sum(row.values()):>9}")
    totals = [sum(counts.get(s, {}).get(n, 0) for s in SPLITS) for n in CLASS_NAMES]
    lines.append(f"{'all':<8}" + "".join(f"{t:>11}" for t in totals) + f"{sum(totals):>9}")
    dropped = info.get("dropped", {})
    lines.append(
        f"skipped (unreadable): {len(info.get('skipped', []))}   unknown label: "
        f"{len(dropped.get('unknown_label', []))}   duplicates: "
        f"{len(dropped.get('duplicate_id', [])) + len(dropped.get('duplicate_bytes', [])) + len(dropped.get('by_source_rules', []))}"
        f"   time: {info.get('elapsed_s', 0):.1f} s"
    )
    regrouped = info.get("split", {}).get("regrouped")
    if regrouped:
        lines.append(f"  regrouped (--regroup): {regrouped['groups_moved']} patient/lesion group(s), "
                     f"{regrouped['images_moved']} image(s) moved into the split holding most of each group")
    lines.extend(f"  note: {note}" for note in info.get("notes", []))
    for item in info.get("skipped", [])[:10]:
        lines.append(f"  skipped {item['path'] or item['image_id']}: {item['reason']}")
    if len(info.get("skipped", [])) > 10:
        lines.append(f"  ... and {len(info['skipped']) - 10} more (see prepare.json)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    options = resolve_options(args)
    if args.dry_run:
        from skingan.commands._options import print_options

        print_options(options)
        return 0
    from skingan.data.prepare import prepare

    result = prepare(options)
    print(summary_table(result.info))
    state = "already up to date at" if result.reused else "written to"
    print(f"prepared set {state} {result.out} ({result.info['total']} images, hash {result.hash[:12]})")
    return 0
