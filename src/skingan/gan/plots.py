"""loss_curves.png: the GAN losses and the mean D outputs over the steps of metrics.csv."""

from __future__ import annotations

from pathlib import Path

from skingan.runs import atomic_path

LOSS_COLUMNS = ("loss_d", "loss_g", "gp", "r1", "aux_d", "aux_g")


def plot_loss_curves(metrics_csv: Path, out_png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    if not metrics_csv.is_file():
        return
    table = pd.read_csv(metrics_csv)
    adaptive = "augment_p" in table
    fig, axes = plt.subplots(1, 3 if adaptive else 2, figsize=(16 if adaptive else 11, 4))
    for name in LOSS_COLUMNS:
        if name in table:
            axes[0].plot(table["step"], table[name], label=name, linewidth=1)
    axes[0].set(xlabel="step", ylabel="loss", title="losses")
    axes[0].legend()
    for name, label in (("d_real", "D(x)"), ("d_fake", "D(G(z))")):
        axes[1].plot(table["step"], table[name], label=label, linewidth=1)
    axes[1].set(xlabel="step", ylabel="mean D logit", title="D(x) and D(G(z))")
    axes[1].legend()
    if adaptive:
        axes[2].plot(table["step"], table["augment_p"], linewidth=1)
        axes[2].set(xlabel="step", ylabel="p", title="adaptive augmentation probability")
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
