"""Figures of an evaluation: fakes beside reals, the closest fake/real pairs, and metric bars (the metrics,
their labels and arrows from the metric registry). Each writes a PNG to the path it is given."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from skingan.evaluation import registry


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
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)


def save_closest_pairs(fakes: np.ndarray, train: np.ndarray, pairs: list[dict], threshold: float | None,
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
                             color="red" if threshold is not None and pair["distance"] < threshold else "black")
        axes[r + 1, c].imshow(train[pair["train"]])
        axes[r + 1, c].set_title(f"train {pair['train']}", fontsize=7)
    fig.suptitle("closest fake / real-training pairs " + (
        f"(red: closer than the 1st percentile of held-out→train, {threshold:.2f})" if threshold is not None
        else "(no held-out threshold: memorisation not measurable)"), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)


def _height(value: object, divide: float) -> float:
    return float("nan") if value is None else float(value) / divide  # nan: not measured, no bar


def _bars(metrics: dict, panel: str, protocol: str | None = None, arrows: bool = False,
          reference: bool = False) -> tuple[list[str], list[float], list[str]]:
    """Tick labels, heights and colours ('' for the panel's own) of the registry's metrics drawn in one panel
    (and under one pairing). With `arrows`, each tick carries its metric's direction; with `reference`, the
    heights are the matched held-out real reference's (nan where a metric has none)."""
    drawn = [(m, m.bar) for m in registry.all_metrics() if m.bar is not None and m.bar.panel == panel
             and (protocol is None or m.group == protocol)]
    labels = [f"{bar.label or m.label}{m.arrow if arrows else ''}" + (f" /{bar.divide:g}" if bar.divide != 1 else "")
              for m, bar in drawn]
    record = (metrics.get(registry.REFERENCE) or {}) if reference else metrics
    heights = [_height(m.value(record) if (m.reference or not reference) else None, bar.divide) for m, bar in drawn]
    return labels, heights, [bar.color or "" for _, bar in drawn]


def _paired(ax, metrics: dict, panel: str, color: str) -> None:  # noqa: ANN001 (a matplotlib Axes)
    """The fakes' bars beside the held-out real reference's (grey): the value to compare each with."""
    labels, heights, colors = _bars(metrics, panel)
    _, reference, _ = _bars(metrics, panel, reference=True)
    x = np.arange(len(labels))
    ax.bar(x - 0.2, heights, 0.4, color=[c or color for c in colors], label="fakes")
    ax.bar(x + 0.2, reference, 0.4, color="C7", label="held-out real (matched N)")
    ax.set_xticks(x, labels)
    ax.legend(fontsize=7)


def save_metric_bars(metrics: dict, path: Path) -> None:
    """The registry's metrics that have a Bar, in three panels: Fréchet distance and the [0, 1]
    fidelity/diversity scores, each beside the matched held-out real reference, and the PIQA metrics under
    both pairings."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    _paired(axes[0], metrics, "fd", "C0")
    axes[0].set_title(f"Fréchet distance ({metrics['protocol']['extractor']}) ↓")
    _paired(axes[1], metrics, "unit", "C1")
    axes[1].axhline(1.0, color="grey", lw=0.8)
    axes[1].set_title("fidelity / diversity ↑")
    protocols = registry.PIQA_PROTOCOLS
    width = 0.76 / len(protocols)
    for k, protocol in enumerate(protocols):
        labels, heights, _ = _bars(metrics, "piqa", protocol, arrows=True)  # mixed directions
        x = np.arange(len(labels))
        axes[2].bar(x + (k - (len(protocols) - 1) / 2) * width, heights, width, label=protocol)
    axes[2].set_xticks(x, labels)
    axes[2].legend()
    axes[2].set_title("PIQA metrics (PSNR divided by 40)")
    n = metrics["protocol"]
    fig.suptitle(f"N fake = {n['n_fake']}, N real = {n['n_real']}, {n['class']} / {n['split']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
