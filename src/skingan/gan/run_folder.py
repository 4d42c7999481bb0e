"""The GAN run folder contract: what `skingan train-gan --out RUN` writes, and how others find it.

    RUN/config.yaml, environment.json     the resolved config and environment (skingan.runs.init_run_dir)
    RUN/checkpoints/last.pt               everything needed to resume exactly, or to sample without the config
    RUN/metrics.csv                       one row per logged step (losses, D(x), D(G(z)), images/s, ...)
    RUN/samples/step_0000500.png          fixed-noise grids during training
    RUN/loss_curves.png                   the losses and D outputs over steps, written when training stops
"""

from __future__ import annotations

import csv
from pathlib import Path

CONFIG = "config.yaml"
CHECKPOINTS = "checkpoints"
LAST_CHECKPOINT = f"{CHECKPOINTS}/last.pt"
METRICS_CSV = "metrics.csv"
SAMPLES = "samples"
LOSS_CURVES = "loss_curves.png"


def last_checkpoint(run: Path) -> Path:
    return run / LAST_CHECKPOINT


def grid_path(run: Path, step: int) -> Path:
    return run / SAMPLES / f"step_{step:07d}.png"


def grids(run: Path) -> list[Path]:
    return sorted((run / SAMPLES).glob("step_*.png"))


def holds_run(folder: Path) -> bool:
    """A folder that train-gan has started (its config is written before step 0)."""
    return (folder / CONFIG).exists()


def is_gan_run(folder: Path) -> bool:
    return last_checkpoint(folder).is_file() and (folder / METRICS_CSV).is_file()


class MetricsLog:
    """metrics.csv: one row per logged step; on resume rows after the checkpoint are dropped."""

    def __init__(self, path: Path, resume_step: int | None) -> None:
        self.path, self.fields = path, None
        if resume_step is not None and path.is_file():
            with open(path, newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if whole_row(r) and int(r["step"]) <= resume_step]
            if rows:
                self.fields = list(rows[0])
                with open(path, "w", newline="") as handle:
                    writer = csv.DictWriter(handle, fieldnames=self.fields)
                    writer.writeheader()
                    writer.writerows(rows)
            else:
                path.unlink()
        elif path.exists():
            path.unlink()

    def write(self, row: dict[str, float]) -> None:
        new = self.fields is None
        if new:
            self.fields = list(row)
        with open(self.path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)


def whole_row(row: dict) -> bool:
    """False for the last row of a metrics.csv cut short by a kill or a full disk."""
    return None not in row and None not in row.values() and str(row.get("step", "")).isdigit()
