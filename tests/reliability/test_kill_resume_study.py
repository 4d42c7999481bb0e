"""`skingan evaluate-gan`, `experiment` and `quickstart` killed with SIGKILL at seeded random moments (and at the
moments that matter: during feature extraction, mid-cache-write, mid-cell, mid-stage) or stopped with Ctrl-C, then
run again: the result equals an uninterrupted run, nothing half-written is read as complete and no temporary file
is left behind."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import REPO, make_prepared_set, run_skingan
from reliability.test_kill_resume_prepare import kill_leftovers, start, wait_until
from reliability.test_kill_resume_stages import (
    Reference,
    checksums,
    kill_when,
    make_reference,
    temporaries,
    with_out,
)
from skingan.runs import TMP_PREFIX, safe_torch_load

pytestmark = pytest.mark.slow

TIMEOUT = 300  # seconds for any one subprocess
EVAL_TRAIN_BENIGN = 200  # real reference images: feature extraction lasts seconds, the cache is 2 MB
QUICKSTART_MINUTES = "0.02"


# ----------------------------------------------------------------------------------------------- data
def build_prepared(isic2017: Path, out: Path, counts: dict[str, tuple[int, int]]) -> Path:
    """Real ISIC 2017 images at 32 px, `counts[split] = (benign, melanoma)`; test rows come from the end of
    the ISIC training split so they never repeat a training image."""
    labels = pd.read_csv(isic2017 / "labels.csv", dtype={"isic_id": str}).sort_values("isic_id")
    pools = {"train": labels[labels["split"] == "train"], "val": labels[labels["split"] == "val"],
             "test": labels[labels["split"] == "train"].iloc[::-1]}
    rows, splits = [], []
    for split, per_class in counts.items():
        for target, n in enumerate(per_class):
            chosen = pools[split][pools[split]["target"] == target].head(n)
            rows += list(chosen.itertuples())
            splits += [split] * len(chosen)
    images = [Image.open(isic2017 / row.image).convert("RGB") for row in rows]
    return make_prepared_set(out, images, [int(r.target) for r in rows], splits, sizes=(32,),
                             image_ids=[r.isic_id for r in rows])


def start_with_env(args: list[str], logs: Path, env: dict[str, str]) -> subprocess.Popen:
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        return start(args, logs)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def interrupt_when(args: list[str], logs: Path, ready: Callable[[subprocess.Popen], bool],
                   env: dict[str, str] | None = None) -> tuple[int, float, str]:
    """Start the command, wait until `ready`, press Ctrl-C (SIGINT to the whole process group, as a terminal
    does); returns (exit code, seconds from the signal to the exit, stderr)."""
    process = start_with_env(args, logs, env or {})
    try:
        assert wait_until(lambda: ready(process) or process.poll() is not None, TIMEOUT, 0.005), "never got ready"
        signalled = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=60)
        stopped = time.monotonic() - signalled
    finally:
        kill_leftovers(process)
    return process.returncode, stopped, (logs / "stderr.txt").read_text()


def assert_clean_interrupt(code: int, seconds: float, stderr: str, command: str) -> None:
    assert code == 130, stderr[-3000:]
    assert seconds < 15, f"took {seconds:.1f} s to stop after Ctrl-C"
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if "interrupted" in line]
    assert lines == [f"skingan {command}: interrupted. Run the same command again to resume (finished work is "
                     "kept)."], lines


def stderr_has(logs: Path, fragment: str) -> Callable[[subprocess.Popen], bool]:
    def check(process: subprocess.Popen) -> bool:
        try:
            return fragment in (logs / "stderr.txt").read_text()
        except OSError:
            return False
    return check


# ----------------------------------------------------------------------------------------------- evaluate-gan
@pytest.fixture(scope="module")
def eval_data(isic2017: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("eval")
    return build_prepared(isic2017, root / "prepared",
                          {"train": (EVAL_TRAIN_BENIGN, 10), "val": (20, 10), "test": (10, 10)})


@pytest.fixture(scope="module")
def eval_checkpoint(eval_data: Path) -> Path:
    out = eval_data.parent / "gan"
    result = run_skingan("train-gan", "--config", "gan-tiny32", "--data", eval_data, "--device", "cpu", "--seed", "5",
                         "--set", "train.steps=4", "--set", "data.classes=[benign]", "--set", "train.sample_every=100",
                         "--out", out, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    return out / "checkpoints" / "last.pt"


def eval_args(data: Path, checkpoint: Path, root: Path) -> list[str]:
    """Each run has its own feature cache (root/cache) beside its output (root/eval, the last argument)."""
    return ["evaluate-gan", "--checkpoint", str(checkpoint), "--data", str(data), "--class", "benign", "--n", "64",
            "--resize", "64", "--batch-size", "50", "--seed", "1", "--device", "cpu",
            "--c2st-size", "64", "--c2st-folds", "2", "--c2st-epochs", "2",  # the two-sample tests, cheaply
            "--feature-cache", str(root / "cache"), "--out", str(root / "eval")]


@pytest.fixture(scope="module")
def eval_reference(eval_data: Path, eval_checkpoint: Path) -> Reference:
    return make_reference(eval_args(eval_data, eval_checkpoint, eval_data.parent / "reference"))


def cache_of(reference: Reference) -> Path:
    return reference.out.parent / "cache"


def relocated(reference: Reference, root: Path) -> list[str]:
    """The reference command with its feature cache and output moved under root."""
    args = with_out(reference.args, root / "eval")
    args[args.index("--feature-cache") + 1] = str(root / "cache")
    return args


def metrics_without_cache_use(out: Path) -> tuple[dict, bool]:
    """metrics.json holds no timing key; only whether the real features came from the cache may differ."""
    metrics = json.loads((out / "metrics.json").read_text())
    return metrics, metrics["protocol"].pop("real_features_cached")


def output_files(out: Path) -> dict[str, str]:
    """Checksums of what an evaluation writes, without its per-run records (environment, log, and TensorBoard
    event files, whose names and headers carry the wall time, host and pid of the run)."""
    return {k: v for k, v in checksums(out).items()
            if k not in ("environment.json", "log.txt") and not k.startswith("tensorboard/")}


def cache_entries_complete(cache: Path) -> bool:
    return cache.is_dir() and len(list(cache.glob("*.npy"))) == 2  # train/benign and val/benign


def cache_being_written(cache: Path) -> bool:
    try:
        return any(e.name.startswith(TMP_PREFIX) and ".npy." in e.name and e.stat().st_size > 0
                   for e in os.scandir(cache))
    except OSError:
        return False


def eval_phase(root: Path, logs: Path) -> str:
    """Where a killed evaluation stopped, judged from what it left on disk."""
    out, cache = root / "eval", root / "cache"
    if (out / "metrics.json").exists():
        return "complete"
    if cache.is_dir() and any(p.name.startswith(TMP_PREFIX) for p in cache.iterdir()):
        return "mid-cache-write"
    if cache_entries_complete(cache):
        return "after the cache"
    if "features (" in (logs / "stderr.txt").read_text():
        return "during feature extraction"
    return "before feature extraction"


def rerun_evaluation(reference: Reference, root: Path) -> None:
    """Run the same command again: same metrics, same figures and tables, the same cache bytes, no leftovers."""
    # the real features: train/benign (the reference set) and the held-out reals of the matched reference
    entries = [p.name for p in cache_of(reference).glob("*.npy")]
    train_entry_whole = all((root / "cache" / name).is_file() for name in entries)
    result = run_skingan(*relocated(reference, root), timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    metrics, cached = metrics_without_cache_use(root / "eval")
    expected, _ = metrics_without_cache_use(reference.out)
    assert metrics == expected
    assert cached == train_entry_whole  # the cache is used exactly when every whole entry was there
    files, expected_files = output_files(root / "eval"), output_files(reference.out)
    assert files.pop("metrics.json") and expected_files.pop("metrics.json")  # compared above, less cache use
    assert files == expected_files  # metrics.md and the three figures, byte for byte
    assert checksums(root / "cache") == checksums(cache_of(reference))  # temporaries included: none may be left
    assert not temporaries(root)


def test_evaluate_gan_reference_is_complete(eval_reference):
    metrics, cached = metrics_without_cache_use(eval_reference.out)
    assert not cached and metrics["protocol"]["n_real"] == EVAL_TRAIN_BENIGN and metrics["fd"] > 0
    assert set(output_files(eval_reference.out)) == {"metrics.json", "metrics.md", "samples_vs_real.png",
                                                "closest_pairs.png", "metric_bars.png"}
    assert cache_entries_complete(cache_of(eval_reference)) and not temporaries(cache_of(eval_reference))


@pytest.mark.parametrize("seed", [0, 1])
def test_evaluate_gan_killed_at_a_random_moment_then_rerun_is_identical(eval_reference, tmp_path, seed):
    """Seeded moments from the start of feature extraction on: extraction, cache writes, metrics, figures."""
    logs = tmp_path / "logs"
    delay = random.Random(seed).uniform(0.0, 0.5) * eval_reference.wall
    code = kill_when(relocated(eval_reference, tmp_path), logs, stderr_has(logs, "features ("), delay)
    landed = eval_phase(tmp_path, logs)
    print(f"evaluate-gan seed {seed}: killed {delay:.1f} s into feature extraction (a whole run: "
          f"{eval_reference.wall:.1f} s), {landed} (exit {code})")
    assert code in (-signal.SIGKILL, 0)
    if (tmp_path / "eval" / "metrics.json").exists():  # written last: the kill came after the evaluation
        assert output_files(tmp_path / "eval") == output_files(eval_reference.out)  # whole and complete
        again = run_skingan(*relocated(eval_reference, tmp_path), timeout=TIMEOUT)
        assert again.returncode == 2 and "already holds a run" in again.stderr and "Traceback" not in again.stderr
        shutil.rmtree(tmp_path / "eval")  # evaluate again into a fresh folder, with the cache it left
    rerun_evaluation(eval_reference, tmp_path)


# Runs skingan with os.fsync wrapped: when the feature-cache array's temporary is about to be synced, half of it is
# dropped and the process SIGKILLs itself, leaving exactly what a kill in the middle of that write leaves. (Waiting
# for the temporary to appear and killing from outside misses the few milliseconds the 2 MB write lasts.)
KILLED_MID_CACHE_WRITE = """
import os, signal, sys
from skingan.runs import TMP_PREFIX
real_fsync = os.fsync
def fsync(fd):
    name = os.readlink(f"/proc/self/fd/{fd}")
    if os.path.basename(name).startswith(TMP_PREFIX) and ".npy." in os.path.basename(name):
        os.ftruncate(fd, os.fstat(fd).st_size // 2)
        os.kill(os.getpid(), signal.SIGKILL)
    real_fsync(fd)
os.fsync = fsync
from skingan.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_evaluate_gan_killed_mid_cache_write(eval_reference, tmp_path):
    root = tmp_path
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    killed = subprocess.run([sys.executable, "-c", KILLED_MID_CACHE_WRITE, *relocated(eval_reference, root)],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    (root / "logs").mkdir()
    (root / "logs" / "stderr.txt").write_text(killed.stderr)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert eval_phase(root, root / "logs") == "mid-cache-write"
    cut_short = [p for p in (root / "cache").iterdir() if p.name.startswith(TMP_PREFIX)]
    expected = cache_of(eval_reference) / cut_short[0].name.removeprefix(TMP_PREFIX).rsplit(".", 1)[0]
    assert len(cut_short) == 1 and cut_short[0].stat().st_size == expected.stat().st_size // 2
    rerun_evaluation(eval_reference, root)


def test_evaluate_gan_never_loads_a_cut_short_or_altered_cache(eval_reference, tmp_path):
    """Cache files damaged some other way (a non-atomic copy, a full disk, an edit) are recomputed, not used;
    a temporary whose writer is dead is removed."""
    shutil.copytree(cache_of(eval_reference), tmp_path / "cache")
    train, val = sorted((tmp_path / "cache").glob("*.npy"), key=lambda p: p.stat().st_size, reverse=True)
    train.write_bytes(train.read_bytes()[: train.stat().st_size // 2])  # cut short
    features = np.load(val)
    np.save(val, features[::-1].copy())  # same shape and dtype, other content: only the checksum can tell
    ended = subprocess.Popen(["true"])
    ended.wait()  # its process id now names no process: the writer of this temporary is gone
    leftover = tmp_path / "cache" / f"{TMP_PREFIX}{train.name}.{ended.pid}"
    leftover.write_bytes(b"\x93NUMPY" + bytes(100))
    result = run_skingan(*relocated(eval_reference, tmp_path), timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("recomputing") == 2, result.stderr
    metrics, cached = metrics_without_cache_use(tmp_path / "eval")
    assert metrics == metrics_without_cache_use(eval_reference.out)[0] and not cached
    assert checksums(tmp_path / "cache") == checksums(cache_of(eval_reference))


def test_evaluate_gan_ctrl_c_during_feature_extraction(eval_reference, tmp_path):
    logs = tmp_path / "logs"
    code, seconds, stderr = interrupt_when(relocated(eval_reference, tmp_path), logs,
                                           stderr_has(logs, "features ("))
    assert_clean_interrupt(code, seconds, stderr, "evaluate-gan")
    assert not list((tmp_path / "cache").glob("*.npy")), "Ctrl-C came after the feature extraction"
    assert not (tmp_path / "eval" / "metrics.json").exists() and not temporaries(tmp_path)
    rerun_evaluation(eval_reference, tmp_path)


def test_evaluate_gan_refuses_a_finished_folder_in_one_line(eval_reference):
    result = run_skingan(*eval_reference.args, timeout=TIMEOUT)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "already holds a run" in errors[0] and "--resume" not in errors[0]


# ----------------------------------------------------------------------------------------------- experiment
CELLS = [("real-noaug", 0), ("real-aug", 0)]  # one seed: each cell costs seconds of training


@pytest.fixture(scope="module")
def experiment_reference(isic2017: Path, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    root = tmp_path_factory.mktemp("experiment")
    data = build_prepared(isic2017, root / "prepared", {"train": (10, 10), "val": (5, 5), "test": (5, 5)})
    labels = pd.read_csv(isic2017 / "labels.csv")
    rows = pd.concat([labels[(labels["split"] == "val") & (labels["target"] == t)].sort_values("isic_id").tail(6)
                      for t in (0, 1)])
    ood = make_prepared_set(root / "other-hospital", [Image.open(isic2017 / p) for p in rows["image"]],
                            rows["target"].tolist(), ["test"] * len(rows), sizes=(32,), source="other")
    args = ["experiment", "--config", "augmentation", "--data", str(data), "--ood", str(ood), "--device", "cpu",
            "--seed", "0", "--seeds", "1", "--set", "study.conditions=[real-noaug,real-aug]",
            "--set", "classifier.data.image_size=32", "--set", "classifier.train.epochs=2",
            "--set", "classifier.train.batch_size=8", "--set", "classifier.eval.bootstrap=50",
            "--out", str(root / "reference")]
    return make_reference(args)


def cell_folder(out: Path, cell: tuple[str, int]) -> Path:
    return out / "cells" / cell[0] / f"seed{cell[1]}"


def cell_metrics(out: Path) -> dict[str, dict]:
    """Every cell's metrics (test and OOD), without the training time."""
    found = {}
    for path in sorted((out / "cells").rglob("*metrics.json")):
        metrics = json.loads(path.read_text())
        metrics.pop("train_seconds", None)  # timing
        metrics.pop("checkpoint", None)  # where the scored best.pt lives (OOD metrics), not a result
        found[path.relative_to(out).as_posix()] = metrics
    return found


def assert_same_study(out: Path, reference: Path) -> None:
    assert cell_metrics(out) == cell_metrics(reference)
    assert len(cell_metrics(reference)) == 2 * len(CELLS)  # test + OOD per cell
    for name in ("summary.csv", "summary.md", "paired.csv", "conclusion.md"):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    results = [pd.read_csv(folder / "results.csv").drop(columns="train_seconds") for folder in (out, reference)]
    pd.testing.assert_frame_equal(*results)
    assert json.loads((out / "experiment.json").read_text())["finished"] is True
    assert not temporaries(out)


def finished_cells(out: Path) -> dict[tuple[str, int], int]:
    """Cells whose metrics.json (and OOD metrics) exist, with the metrics file's mtime."""
    return {cell: (cell_folder(out, cell) / "metrics.json").stat().st_mtime_ns for cell in CELLS
            if (cell_folder(out, cell) / "metrics.json").is_file()
            and (cell_folder(out, cell) / "ood-other-hospital-metrics.json").is_file()}


def rerun_experiment(reference: Reference, out: Path) -> None:
    before = finished_cells(out)
    result = run_skingan(*with_out(reference.args, out), timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert f"{len(CELLS)} cells ({len(before)} finished earlier, skipped)" in result.stdout
    record = json.loads((out / "experiment.json").read_text())
    statuses = {(c["condition"], c["seed"]): c["status"] for c in record["cells"]}
    for cell in CELLS:
        assert statuses[cell] == ("skipped (finished earlier)" if cell in before else "ran")
    assert {cell: finished_cells(out)[cell] for cell in before} == before  # finished cells untouched
    assert_same_study(out, reference.out)


def test_experiment_reference_is_complete(experiment_reference):
    assert set(finished_cells(experiment_reference.out)) == set(CELLS)
    assert len(pd.read_csv(experiment_reference.out / "summary.csv")) == 4  # 2 conditions × (test, OOD)


@pytest.mark.parametrize("seed", [0, 1])
def test_experiment_killed_mid_cell_then_rerun_is_identical(experiment_reference, tmp_path, seed):
    """The second cell, killed a seeded moment after its epoch-1 checkpoint (mid-cell: epoch 2 or scoring):
    the first cell is reused untouched, the cut cell resumes from its checkpoint; the study is identical."""
    out = tmp_path / "experiment"
    cell, delay = CELLS[-1], random.Random(seed).uniform(0.0, 0.5)
    last = cell_folder(out, cell) / "checkpoints" / "last.pt"
    code = kill_when(with_out(experiment_reference.args, out), tmp_path / "logs", lambda p: last.is_file(), delay)
    finished = finished_cells(out)
    print(f"experiment seed {seed}: killed {delay:.2f} s after {cell}'s first checkpoint; finished: "
          f"{sorted(finished)} (exit {code})")
    assert code == -signal.SIGKILL
    assert set(CELLS[:CELLS.index(cell)]) <= set(finished)
    if cell not in finished:  # mid-cell: what it left is a whole checkpoint, not a finished cell
        assert safe_torch_load(last)["epoch"] >= 1
    rerun_experiment(experiment_reference, out)


def test_experiment_cell_killed_between_its_two_checkpoints_is_trained_again(experiment_reference, tmp_path):
    """A kill between an epoch's two checkpoint writes leaves best.pt out of step with the best epoch last.pt
    names (here: missing, as the committed trainer's order, last.pt first, left it). The cell must not resume
    from that pair (it would score a stale or absent best.pt); it is trained again from the start."""
    out = tmp_path / "experiment"
    shutil.copytree(experiment_reference.out, out)
    folder = cell_folder(out, CELLS[-1])
    for name in ("metrics.json", "ood-other-hospital-metrics.json", "checkpoints/best.pt"):
        (folder / name).unlink()
    rerun_experiment(experiment_reference, out)


def test_experiment_ctrl_c_mid_cell_then_rerun_is_identical(experiment_reference, tmp_path):
    out = tmp_path / "experiment"
    last = cell_folder(out, CELLS[1]) / "checkpoints" / "last.pt"
    code, seconds, stderr = interrupt_when(with_out(experiment_reference.args, out), tmp_path / "logs",
                                           lambda p: last.is_file())
    assert_clean_interrupt(code, seconds, stderr, "experiment")
    assert not temporaries(out)
    rerun_experiment(experiment_reference, out)


# ----------------------------------------------------------------------------------------------- quickstart
def quickstart_state(out: Path) -> dict:
    path = out / "quickstart.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def test_quickstart_killed_then_interrupted_then_finishes_reusing_finished_stages(tmp_path):
    """One quickstart, three invocations: SIGKILL at a seeded moment of train-gan, Ctrl-C in the experiment,
    then a run to the end that reuses every stage finished before."""
    out = tmp_path / "qs"
    args = ["quickstart", "--out", str(out), "--minutes", QUICKSTART_MINUTES, "--device", "cpu"]
    env = {"SKINGAN_CACHE": str(tmp_path / "cache")}  # the evaluation's feature cache stays in tmp_path

    # 1. SIGKILL (the whole group, as the OOM killer or a closed session would) during train-gan
    delay = random.Random(0).uniform(0.0, 3.0)
    process = start_with_env(args, tmp_path / "logs1", env)
    try:
        assert wait_until(lambda: (out / "gan" / "config.yaml").is_file() or process.poll() is not None,
                          TIMEOUT, 0.01)
        time.sleep(delay)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        kill_leftovers(process)
    assert process.returncode == -signal.SIGKILL
    first = quickstart_state(out)["stages"]
    print(f"quickstart: killed {delay:.1f} s into train-gan; record {first}")
    assert first["prepare"]["status"] == "done" and first["train-gan"]["status"] == "running"
    prepare_stamp = (out / "prepared" / "prepare.json").stat().st_mtime_ns

    # 2. Ctrl-C while the experiment trains its first cell
    cell = out / "experiment" / "cells" / "real-aug" / "seed0" / "checkpoints" / "last.pt"
    code, seconds, stderr = interrupt_when(args, tmp_path / "logs2", lambda p: cell.is_file(), env)
    assert_clean_interrupt(code, seconds, stderr, "quickstart")
    assert "stopped before its first checkpoint" in stderr or "--resume" in stderr  # train-gan continued
    second = quickstart_state(out)["stages"]
    assert second["prepare"]["reused"] is True and second["experiment"]["status"] == "running"
    assert all(second[name]["status"] == "done" for name in ("train-gan", "sample", "evaluate-gan"))

    # 3. the same command again finishes, reusing every finished stage
    result = run_skingan(*args, env=env, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("already done") == 4
    state = quickstart_state(out)
    assert {name: s["status"] for name, s in state["stages"].items()} == {
        name: "done" for name in ("prepare", "train-gan", "sample", "evaluate-gan", "experiment", "report")}
    assert [name for name, s in state["stages"].items() if not s["reused"]] == ["experiment", "report"]
    assert (out / "prepared" / "prepare.json").stat().st_mtime_ns == prepare_stamp
    step = safe_torch_load(out / "gan" / "checkpoints" / "last.pt")["step"]
    assert step == state["budget"]["gan_steps"] or step == state["stages"]["train-gan"]["step"]  # or time cap
    assert json.loads((out / "experiment" / "experiment.json").read_text())["finished"] is True
    assert json.loads((out / "samples" / "sample.json").read_text())["total"] > 0
    assert (out / "report.html").is_file() and (out / "evaluation" / "metrics.json").is_file()
    assert not temporaries(out) and not temporaries(tmp_path / "cache")


def test_quickstart_judges_a_stage_done_by_its_result_not_by_a_file_an_interruption_also_writes(
        eval_checkpoint, tmp_path):
    """train-gan writes loss_curves.png even when interrupted, sample writes manifest.csv before sample.json,
    experiment writes conclusion.md before its figure and record: none of those alone means finished."""
    from skingan.quickstart import Budget, gan_reached, plan, resume_arguments

    out = tmp_path / "qs"
    stages = {s.name: s for s in plan(out, "phantom", None, Budget.scaled(0.02), 0, "cpu")}
    gan = out / "gan"
    (gan / "checkpoints").mkdir(parents=True)
    (gan / "loss_curves.png").write_bytes(b"png")
    (gan / "config.yaml").write_text("model: {}\n")
    assert not stages["train-gan"].done() and resume_arguments(stages["train-gan"]) == []
    assert not gan.exists()  # stopped before its first checkpoint: nothing to resume, started again
    (gan / "checkpoints").mkdir(parents=True)
    (gan / "loss_curves.png").write_bytes(b"png")
    shutil.copy(eval_checkpoint, gan / "checkpoints" / "last.pt")  # a 4-step checkpoint; the budget asks 30
    assert not stages["train-gan"].done() and resume_arguments(stages["train-gan"]) == ["--resume"]
    assert gan_reached(gan / "checkpoints" / "last.pt", 4)()  # done once the checkpoint reached every step
    (out / "samples").mkdir()
    (out / "samples" / "manifest.csv").write_text("file,class\n")
    assert not stages["sample"].done()
    (out / "samples" / "sample.json").write_text("{}")
    assert stages["sample"].done()
    (out / "experiment").mkdir()
    (out / "experiment" / "conclusion.md").write_text("text")
    (out / "experiment" / "experiment.json").write_text(json.dumps({"cells": []}))
    assert not stages["experiment"].done()
    (out / "experiment" / "experiment.json").write_text(json.dumps({"cells": [], "finished": True}))
    assert stages["experiment"].done()
