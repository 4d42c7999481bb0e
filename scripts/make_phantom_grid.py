"""Draw a grid of procedural dermoscopy phantoms (benign rows, then malignant rows) for the README.

Example:
    python scripts/make_phantom_grid.py --out docs/phantoms.png --seed 0 --cols 8 --rows 1 --tile 120
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from PIL import Image, ImageDraw

from skingan.data.phantom import malignant_flags, phantom_records, render_phantom


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/phantoms.png"), help="PNG to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cols", type=int, default=8, help="phantoms per row")
    parser.add_argument("--rows", type=int, default=1, help="rows per class (benign rows, then malignant rows)")
    parser.add_argument("--tile", type=int, default=120, help="pixels per phantom in the grid")
    parser.add_argument("--size", type=int, default=256, help="phantom render size before scaling to --tile")
    parser.add_argument("--colours", type=int, default=0,
                        help="quantise the PNG to this many colours (0: full RGB, the default)")
    parser.add_argument("--bench", type=int, default=0, metavar="N",
                        help="also time phantom_records for N images and print images/s")
    return parser.parse_args(argv)


def pick_indices(n_per_class: int, seed: int) -> tuple[list[int], list[int]]:
    """The first n_per_class benign and malignant indices of a seeded phantom set."""
    flags = malignant_flags(max(8 * n_per_class, 64), seed)
    benign = [i for i, m in enumerate(flags) if not m][:n_per_class]
    malignant = [i for i, m in enumerate(flags) if m][:n_per_class]
    return benign, malignant


def build_grid(seed: int, cols: int, rows: int, tile: int, size: int) -> Image.Image:
    benign, malignant = pick_indices(cols * rows, seed)
    label_h, gap = 18, 4
    width = cols * tile + (cols - 1) * gap
    height = 2 * (label_h + rows * tile + (rows - 1) * gap) + gap
    grid = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    top = 0
    for title, indices, malignant_flag in (("benign (nevus, seborrheic keratosis)", benign, False),
                                           ("malignant (melanoma)", malignant, True)):
        draw.text((2, top + 3), title, fill=(0, 0, 0))
        top += label_h
        for k, index in enumerate(indices):
            image = render_phantom(index, seed, malignant_flag, size).resize((tile, tile), Image.LANCZOS)
            grid.paste(image, ((k % cols) * (tile + gap), top + (k // cols) * (tile + gap)))
        top += rows * tile + (rows - 1) * gap + gap
    return grid


def bench(n: int, seed: int, size: int) -> tuple[float, float]:
    """Images per wall-clock second and per CPU second of this process, for n phantoms."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in phantom_records(n, seed, size):
        pass
    return n / (time.perf_counter() - wall), n / (time.process_time() - cpu)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    grid = build_grid(args.seed, args.cols, args.rows, args.tile, args.size)
    if args.colours:
        grid = grid.quantize(args.colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB, {grid.width}x{grid.height})")
    if args.bench:
        per_wall, per_cpu = bench(args.bench, args.seed, args.size)
        print(f"phantom_records: {per_wall:.1f} images/s wall-clock, {per_cpu:.1f} images per CPU-second "
              f"({args.bench} images at {args.size} px, one process)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
