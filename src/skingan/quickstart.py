"""The whole study in one command: each stage is a `skingan` subcommand, run in order and resumable.

A stage is skipped when its result is complete (the file it writes last exists; for train-gan the checkpoint
reached every step, for the experiment experiment.json says finished); a GAN run that was interrupted resumes
from its checkpoint, and the experiment skips finished (condition, seed) cells. The commands, and each stage's
status (running, done, reused), are recorded in `quickstart.json`, so the report can say exactly how to
reproduce the run.
"""

from __future__ import annotations

import json
import logging
import math
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from skingan.errors import UserError
from skingan.runs import atomic_write_json

log = logging.getLogger("skingan")

SYNTHETIC_RATIO = 0.5
# The winner of scripts/bench_gan_quality.py (README "Which generator?"), class-conditional on both classes.
GAN_CONFIG = "projected64"


@dataclass(frozen=True)
class Budget:
    """Sizes that keep the phantom study under ~15 minutes on a 2-core CPU at minutes=1.0."""

    phantoms: int
    gan_steps: int
    gan_batch: int
    gan_minutes: float
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
            # batch 16: at the same 7-minute cap on 2 CPU cores, 328 steps of 16 reached a 14 % lower FD_lite0 on
            # the phantom melanomas than 176 steps of 32, and lesion colours instead of saturated red (README)
            gan_steps=max(20, int(800 * minutes)),
            gan_batch=16,
            gan_minutes=round(7.0 * minutes, 3),
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
    finished: Callable[[], bool] | None = None  # a stricter completion test than the marker's existence

    def command(self) -> list[str]:
        return list(self.argv() if callable(self.argv) else self.argv)

    def done(self) -> bool:
        return self.done_marker.exists() and (self.finished is None or self.finished())


def gan_reached(checkpoint: Path, steps: int, earlier: dict | None = None) -> Callable[[], bool]:
    """train-gan writes loss_curves.png even when interrupted: done means the checkpoint reached every step, or
    the stage ended on its time cap (train.max_minutes) in an earlier quickstart that recorded it as done at
    the checkpoint's step (`earlier`: the stage records quickstart.json held when this quickstart started)."""
    def check() -> bool:
        from skingan.runs import safe_torch_load

        try:
            step = int(safe_torch_load(checkpoint).get("step", -1))
        except UserError:
            return False
        if step >= steps:
            return True
        record = (earlier or {}).get("train-gan", {})
        return record.get("status") == "done" and record.get("step") == step
    return check


def experiment_finished(record: Path) -> Callable[[], bool]:
    """experiment.json says finished only after every cell, table and figure is written."""
    def check() -> bool:
        try:
            return bool(json.loads(record.read_text(encoding="utf-8")).get("finished"))
        except (OSError, ValueError):
            return False
    return check


def samples_per_class(prepared: Path, ratio: float, minimum: int) -> int:
    """Synthetic images per class that cover +ratio, balancing and synthetic-only training of this set."""
    from skingan.data.prepared import open_prepared

    train = open_prepared(prepared).counts()["train"]
    n_train = train["benign"] + train["malignant"]
    gap = abs(train["benign"] - train["malignant"])
    return max(minimum, math.ceil(ratio * n_train), gap)


def plan(out: Path, source: str, input_dir: Path | None, budget: Budget, seed: int, device: str,
         earlier: dict | None = None) -> list[Stage]:
    prepared = out / "prepared"
    gan = out / "gan"
    samples = out / "samples"
    common = ["--seed", str(seed), "--device", device]
    stages: list[Stage] = []
    if input_dir is not None and source != "folder":
        raise UserError(f"--input is only read with --source folder (this is --source {source}); "
                        "drop --input or add --source folder")
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
        ["train-gan", "--config", GAN_CONFIG, "--data", str(prepared), "--out", str(gan),
         "--set", "data.classes=[benign,malignant]", f"train.steps={budget.gan_steps}",
         f"train.batch_size={budget.gan_batch}", f"train.max_minutes={budget.gan_minutes}",
         "--set", f"train.checkpoint_every={max(10, budget.gan_steps // 6)}",
         "--set", f"train.sample_every={max(10, budget.gan_steps // 4)}", *common],
        gan / "loss_curves.png", resume_flag="--resume", resume_marker=gan / "checkpoints" / "last.pt",
        finished=gan_reached(gan / "checkpoints" / "last.pt", budget.gan_steps, earlier)))
    stages.append(Stage(
        "sample",
        lambda: ["sample", "--checkpoint", str(gan / "checkpoints" / "last.pt"),
                 "--n", str(samples_per_class(prepared, SYNTHETIC_RATIO, budget.samples)), "--class", "all",
                 "--out", str(samples), *common],
        samples / "sample.json"))  # written after manifest.csv: a folder killed between is finished by a re-run
    stages.append(Stage(
        "evaluate-gan",
        lambda: ["evaluate-gan", "--samples", str(samples), "--data", str(prepared), "--class", "malignant",
                 "--n", str(min(budget.eval_n, samples_per_class(prepared, SYNTHETIC_RATIO, budget.samples))),
                 "--c2st-size", "64", "--out", str(out / "evaluation"), *common],
        out / "evaluation" / "metrics.json"))
    stages.append(Stage(
        "experiment",
        ["experiment", "--config", "augmentation", "--data", str(prepared), "--synthetic", str(samples),
         "--seeds", str(budget.seeds), "--out", str(out / "experiment"),
         "--set", "study.conditions=real-aug,synthetic,balanced,synthetic-only", "--set", f"study.ratios={SYNTHETIC_RATIO}",
         "--set", f"classifier.train.epochs={budget.epochs}", "--set", "classifier.data.image_size=64",
         "--set", "classifier.eval.bootstrap=200", *common],
        out / "experiment" / "conclusion.md", finished=experiment_finished(out / "experiment" / "experiment.json")))
    return stages


def stage_command(name: str) -> ModuleType:
    """The subcommand module a stage runs (imported by name: the quickstart needs no command-line discovery)."""
    from skingan.commands import download, evaluate_gan, experiment, prepare, sample, train_gan

    modules = {m.NAME: m for m in (download, prepare, train_gan, sample, evaluate_gan, experiment)}
    return modules[name]


def run_stage(stage: Stage, argv: list[str]) -> None:
    """Run one stage in this process. Ctrl-C and OSError reach the quickstart command itself, so its single
    message says to run the quickstart again (not the stage's own resume hint)."""
    from skingan.commands._common import stage_parser

    args = stage_parser(stage_command(argv[0])).parse_args(argv[1:])
    try:
        code = int(args._run(args) or 0)
    except UserError as error:
        raise UserError(f"stage '{stage.name}' (skingan {args.command}): {error}; then run the same quickstart "
                        "command again to resume") from error
    if code != 0:
        raise UserError(f"stage '{stage.name}' failed (exit {code}); fix the cause above and run the "
                        "same quickstart command again to resume")


def resume_arguments(stage: Stage) -> list[str]:
    """--resume when the stage left a checkpoint; a run folder killed before its first checkpoint holds
    nothing to resume (only its description), so it is cleared and the stage starts again."""
    if stage.resume_flag is None or stage.resume_marker is None:
        return []
    if stage.resume_marker.exists():
        return [stage.resume_flag]
    folder = stage.done_marker.parent
    if (folder / "config.yaml").exists():
        import shutil

        log.info("%s: '%s' was stopped before its first checkpoint; starting it again", stage.name, folder)
        shutil.rmtree(folder)
    return []


def finished_step(stage: Stage) -> dict:
    """The step a GAN stage ended at (its time cap may stop it before train.steps): what gan_reached reads."""
    if stage.resume_marker is None or not stage.resume_marker.is_file():
        return {}
    from skingan.runs import safe_torch_load

    try:
        return {"step": int(safe_torch_load(stage.resume_marker).get("step", -1))}
    except UserError:
        return {}


def previous_stages(state_path: Path) -> dict:
    try:
        return dict(json.loads(state_path.read_text(encoding="utf-8")).get("stages") or {})
    except (OSError, ValueError, AttributeError):
        return {}


def run_quickstart(out: Path, source: str = "phantom", input_dir: Path | None = None, minutes: float = 1.0,
                   seed: int = 0, device: str = "auto") -> Path:
    from skingan.report import write_report
    from skingan.runs import remove_stale_temporaries

    budget = Budget.scaled(minutes)
    state_path = out / "quickstart.json"
    earlier = previous_stages(state_path)  # read before this run rewrites the file stage by stage
    stages = plan(out, source, input_dir, budget, seed, device, earlier)  # refuses bad options before anything
    out.mkdir(parents=True, exist_ok=True)                                 # is written
    remove_stale_temporaries(out)  # files a killed stage or record write left; the stages below redo their work
    state = {"source": source, "minutes": minutes, "seed": seed, "budget": budget.__dict__,
             "phantom": source == "phantom", "commands": [], "stages": {}}
    total = len(stages) + 1
    for number, stage in enumerate(stages, start=1):
        command = stage.command()
        argv = list(command)
        if stage.done():
            log.info("[%d/%d] %s: already done, reusing %s", number, total, stage.name, stage.done_marker.parent)
            state["stages"][stage.name] = {**earlier.get(stage.name, {}), "status": "done", "reused": True}
        else:
            argv += resume_arguments(stage)
            log.info("[%d/%d] %s: skingan %s", number, total, stage.name, shlex.join(argv))
            state["stages"][stage.name] = {"status": "running"}
            atomic_write_json(state_path, state)
            started = time.monotonic()
            run_stage(stage, argv)
            state["stages"][stage.name] = {"status": "done", "reused": False,
                                           "seconds": round(time.monotonic() - started, 1),
                                           **finished_step(stage)}
        state["commands"].append("skingan " + shlex.join(command))
        atomic_write_json(state_path, state)
    log.info("[%d/%d] report", total, total)
    report = write_report(out)
    state["commands"].append(f"skingan report {shlex.quote(str(out))}")
    state["stages"]["report"] = {"status": "done", "reused": False}
    atomic_write_json(state_path, state)
    return report
