"""The whole study in one command: each stage is a `skingan` subcommand, run in order and resumable.

A stage is skipped when the file it finishes with exists; a GAN run that was interrupted resumes from its
checkpoint, and the experiment skips finished (condition, seed) cells. The commands are recorded in
`quickstart.json`, so the report can say exactly how to reproduce the run.
"""

from __future__ import annotations

import logging
import math
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from skingan.errors import UserError
from skingan.runs import atomic_write_json

log = logging.getLogger("skingan")

SYNTHETIC_RATIO = 0.5


@dataclass(frozen=True)
class Budget:
    """Sizes that keep the phantom study under ~15 minutes on a 2-core CPU at minutes=1.0."""

    phantoms: int
    gan_steps: int
    gan_batch: int
    samples: int
    eval_n: int
    epochs: int
    seeds: int

    @classmethod
    def scaled(cls, minutes: float) -> Budget:
        if minutes <= 0:
            raise UserError(f"--minutes {minutes}: must be > 0 (1 = the default budget, ~15 min on 2 CPU cores)")
        phantoms = max(200, int(800 * min(minutes, 5.0)))
        return cls(
            phantoms=phantoms,
            gan_steps=max(20, int(1500 * minutes)),
            gan_batch=32,
            samples=64,
            eval_n=min(phantoms, 500),
            epochs=max(1, int(round(4 * minutes))),
            seeds=3,
        )


@dataclass
class Stage:
    name: str
    argv: list[str] | Callable[[], list[str]]
    done_marker: Path
    resume_flag: str | None = None
    resume_marker: Path | None = None

    def command(self) -> list[str]:
        return list(self.argv() if callable(self.argv) else self.argv)


def samples_per_class(prepared: Path, ratio: float, minimum: int) -> int:
    """Synthetic images per class that cover +ratio, balancing and synthetic-only training of this set."""
    from skingan.data.prepared import open_prepared

    train = open_prepared(prepared).counts()["train"]
    n_train = train["benign"] + train["malignant"]
    gap = abs(train["benign"] - train["malignant"])
    return max(minimum, math.ceil(ratio * n_train), gap)


def plan(out: Path, source: str, input_dir: Path | None, budget: Budget, seed: int, device: str) -> list[Stage]:
    prepared = out / "prepared"
    gan = out / "gan"
    samples = out / "samples"
    common = ["--seed", str(seed), "--device", device]
    stages: list[Stage] = []
    if source == "isic":
        download = out / "isic"
        stages.append(Stage("download", ["download", "--out", str(download), "--collections", "60",
                                         "--thumbnails", "--limit", "2000", *common],
                            download / "metadata.csv"))
        prepare_input = ["--source", "isic", "--input", str(download)]
    elif source == "folder":
        if input_dir is None:
            raise UserError("--source folder needs --input DIR (images in benign/ and malignant/ sub-folders, "
                            "or any layout 'skingan prepare --source folder' accepts)")
        if not input_dir.is_dir():
            raise UserError(f"--input '{input_dir}' is not a folder")
        prepare_input = ["--source", "folder", "--input", str(input_dir)]
    else:
        prepare_input = ["--source", "phantom", "--n", str(budget.phantoms)]
    stages.append(Stage("prepare", ["prepare", *prepare_input, "--out", str(prepared), "--sizes", "64", *common],
                        prepared / "prepare.json"))
    stages.append(Stage(
        "train-gan",
        ["train-gan", "--config", "acgan64", "--data", str(prepared), "--out", str(gan),
         "--set", f"train.steps={budget.gan_steps}", "--set", f"train.batch_size={budget.gan_batch}",
         "--set", "model.ngf=32", "--set", "model.ndf=32",
         "--set", f"train.checkpoint_every={max(10, budget.gan_steps // 6)}",
         "--set", f"train.sample_every={max(10, budget.gan_steps // 4)}", *common],
        gan / "loss_curves.png", resume_flag="--resume", resume_marker=gan / "checkpoints" / "last.pt"))
    stages.append(Stage(
        "sample",
        lambda: ["sample", "--checkpoint", str(gan / "checkpoints" / "last.pt"),
                 "--n", str(samples_per_class(prepared, SYNTHETIC_RATIO, budget.samples)), "--class", "all",
                 "--out", str(samples), *common],
        samples / "manifest.csv"))
    stages.append(Stage(
        "evaluate-gan",
        lambda: ["evaluate-gan", "--samples", str(samples), "--data", str(prepared), "--class", "malignant",
                 "--n", str(min(budget.eval_n, samples_per_class(prepared, SYNTHETIC_RATIO, budget.samples))),
                 "--out", str(out / "evaluation"), *common],
        out / "evaluation" / "metrics.json"))
    stages.append(Stage(
        "experiment",
        ["experiment", "--config", "augmentation", "--data", str(prepared), "--synthetic", str(samples),
         "--seeds", str(budget.seeds), "--out", str(out / "experiment"),
         "--set", "study.conditions=real-aug,synthetic,balanced,synthetic-only", "--set", f"study.ratios={SYNTHETIC_RATIO}",
         "--set", f"classifier.train.epochs={budget.epochs}", "--set", "classifier.data.image_size=64",
         "--set", "classifier.eval.bootstrap=200", *common],
        out / "experiment" / "conclusion.md"))
    return stages


def run_quickstart(out: Path, source: str = "phantom", input_dir: Path | None = None, minutes: float = 1.0,
                   seed: int = 0, device: str = "auto") -> Path:
    from skingan.cli import main as skingan_main
    from skingan.report import write_report

    out.mkdir(parents=True, exist_ok=True)
    budget = Budget.scaled(minutes)
    stages = plan(out, source, input_dir, budget, seed, device)
    state_path = out / "quickstart.json"
    state = {"source": source, "minutes": minutes, "seed": seed, "budget": budget.__dict__,
             "phantom": source == "phantom", "commands": [], "stages": {}}
    total = len(stages) + 1
    for number, stage in enumerate(stages, start=1):
        command = stage.command()
        argv = list(command)
        if stage.done_marker.exists():
            log.info("[%d/%d] %s: already done, reusing %s", number, total, stage.name, stage.done_marker.parent)
        else:
            if stage.resume_flag and stage.resume_marker is not None and stage.resume_marker.exists():
                argv.append(stage.resume_flag)
            log.info("[%d/%d] %s: skingan %s", number, total, stage.name, shlex.join(argv))
            started = time.monotonic()
            code = skingan_main(argv)
            if code != 0:
                raise UserError(f"stage '{stage.name}' failed (exit {code}); fix the cause above and run the "
                                "same quickstart command again to resume")
            state["stages"][stage.name] = {"seconds": round(time.monotonic() - started, 1)}
        state["commands"].append("skingan " + shlex.join(command))
        atomic_write_json(state_path, state)
    log.info("[%d/%d] report", total, total)
    report = write_report(out)
    state["commands"].append(f"skingan report {shlex.quote(str(out))}")
    atomic_write_json(state_path, state)
    return report
