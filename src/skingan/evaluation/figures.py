"""Figures of an evaluation: fakes beside reals, the closest fake/real pairs, and metric bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def image_grid(images: np.ndarray, columns: int = 8) -> np.ndarray:
    """Tile uint8 (N, S, S, 3) images into one (rows·S, columns·S, 3) array with 2-px white gaps."""
    n, size = len(images), images.shape[1]
    rows = max(1, -(-n // columns))
    gap = 2
    grid = np.full((rows * (size + gap) - gap, columns * (size + gap) - gap, 3), 255, dtype=np.uint8)
    for k, image in enumerate(images):
        r, c = divmod(k, columns)
        grid[r * (size + gap):r * (size + gap) + size, c * (size + gap):c * (size + gap) + size] = image
    return grid


def save_sample_grid(fakes: np.ndarray, reals: np.ndarray, path: Path, title: str, count: int = 64) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 6.4))
    for ax, images, label in ((axes[0], fakes, "generated"), (axes[1], reals, "real")):
        ax.imshow(image_grid(images[:count]))
        ax.set_title(f"{label} (first {min(count, len(images))} of {len(images)})")
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_closest_pairs(fakes: np.ndarray, train: np.ndarray, pairs: list[dict], threshold: float,
                       path: Path) -> None:
    """Each of the most similar fakes (top row of a pair) above its nearest real training image."""
    plt = _pyplot()
    columns = 8
    rows = 2 * max(1, -(-len(pairs) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.6, rows * 1.75), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, pair in enumerate(pairs):
        r, c = 2 * (k // columns), k % columns
        axes[r, c].imshow(fakes[pair["fake"]])
        axes[r, c].set_title(f"fake {pair['fake']}\nd={pair['distance']:.2f}", fontsize=7,
                             color="red" if pair["distance"] < threshold else "black")
        axes[r + 1, c].imshow(train[pair["train"]])
        axes[r + 1, c].set_title(f"train {pair['train']}", fontsize=7)
    fig.suptitle(f"closest fake / real-training pairs (red: closer than the 1st percentile of "
                 f"real↔real, {threshold:.2f})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_metric_bars(metrics: dict, path: Path) -> None:
    """Distribution metrics (with the real↔real noise floor) and the IQA metrics of both protocols."""
    plt = _pyplot()
    from skingan.evaluation.iqa import DIRECTIONS as IQA_DIRECTIONS
    from skingan.evaluation.iqa import IQA_METRICS, LABELS

    arrow = {"higher": "↑", "lower": "↓"}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    axes[0].bar(["FD", "noise floor"], [metrics["fd"], metrics["fd_noise_floor"]], color=["C0", "C7"])
    axes[0].set_title(f"Fréchet distance ({metrics['protocol']['extractor']}) ↓")
    names = ["precision", "recall", "density", "coverage"]
    axes[1].bar(names, [metrics[n] for n in names], color="C1")
    axes[1].axhline(1.0, color="grey", lw=0.8)
    axes[1].set_title("fidelity / diversity ↑")
    width = 0.38
    x = np.arange(len(IQA_METRICS))
    for shift, key in ((-width / 2, "iqa_seed"), (width / 2, "iqa_nn")):
        values = [metrics[key][m]["mean"] / (40 if m == "psnr" else 1) for m in IQA_METRICS]
        axes[2].bar(x + shift, values, width, label=key)
    axes[2].set_xticks(x, [f"{LABELS[m]}{arrow[IQA_DIRECTIONS[m]]}" + (" /40" if m == "psnr" else "")
                           for m in IQA_METRICS])
    axes[2].legend()
    axes[2].set_title("PIQA metrics (PSNR divided by 40)")
    n = metrics["protocol"]
    fig.suptitle(f"N fake = {n['n_fake']}, N real = {n['n_real']}, {n['class']} / {n['split']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
