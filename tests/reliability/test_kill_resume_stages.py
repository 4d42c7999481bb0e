"""`skingan train-gan`, `sample` and `train-classifier` killed with SIGKILL at seeded random moments, then run
again: the result equals an uninterrupted run (bitwise-identical GAN weights, identical sample files and checksums,
identical classifier metrics), a half-written checkpoint is never loaded and no temporary file is left behind."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import torch
from PIL import Image

from conftest import assert_clean_error, make_prepared_set, run_skingan
from reliability.test_kill_resume_prepare import kill_leftovers, start, wait_until
from skingan.runs import TMP_PREFIX, safe_torch_load

pytestmark = pytest.mark.slow

GAN_STEPS = 12
SAMPLE_N = 200
TIMEOUT = 300  # seconds for any one subprocess


@dataclass
class Reference:
    args: list[str]
    out: Path
    wall: float


# ----------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def prepared(isic2017: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 real ISIC 2017 images at 32 px: train 10+10, val 5+5, test 5+5 (benign+melanoma)."""
    labels = pd.read_csv(isic2017 / "labels.csv", dtype={"isic_id": str}).sort_values("isic_id")
    rows, splits = [], []
    for split, source, skip in (("train", "train", 0), ("val", "val", 0), ("test", "train", 10)):
        for target in (0, 1):
            chosen = labels[(labels["split"] == source) & (labels["target"] == target)].iloc[skip:skip + 10]
            chosen = chosen.head(10 if split == "train" else 5)
            rows += list(chosen.itertuples())
            splits += [split] * len(chosen)
    images = [Image.open(isic2017 / row.image).convert("RGB") for row in rows]
    return make_prepared_set(tmp_path_factory.mktemp("stages") / "prepared", images, [int(r.target) for r in rows],
                             splits, sizes=(32,), image_ids=[r.isic_id for r in rows])


def gan_args(data: Path, out: Path) -> list[str]:
    return ["train-gan", "--config", "gan-tiny32", "--data", str(data), "--device", "cpu", "--seed", "5",
            "--set", f"train.steps={GAN_STEPS}", "--set", "train.sample_every=1000", "--set", "train.log_every=4",
            "--out", str(out)]


def sample_args(checkpoint: Path, out: Path) -> list[str]:
    return ["sample", "--checkpoint", str(checkpoint), "--n", str(SAMPLE_N), "--batch-size", "16", "--seed", "3",
            "--device", "cpu", "--out", str(out)]


def classifier_args(data: Path, out: Path) -> list[str]:
    return ["train-classifier", "--data", str(data), "--device", "cpu", "--seed", "2", "--set", "train.epochs=2",
            "--set", "data.image_size=32", "--set", "train.batch_size=8", "--set", "eval.bootstrap=50",
            "--out", str(out)]


def make_reference(args: list[str]) -> Reference:
    started = time.monotonic()
    result = run_skingan(*args, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    return Reference(args, Path(args[-1]), time.monotonic() - started)


@pytest.fixture(scope="module")
def gan_reference(prepared: Path) -> Reference:
    return make_reference(gan_args(prepared, prepared.parent / "gan"))


@pytest.fixture(scope="module")
def sample_reference(gan_reference: Reference) -> Reference:
    return make_reference(sample_args(gan_reference.out / "checkpoints" / "last.pt",
                                      gan_reference.out.parent / "samples"))


@pytest.fixture(scope="module")
def classifier_reference(prepared: Path) -> Reference:
    return make_reference(classifier_args(prepared, prepared.parent / "classifier"))


# ----------------------------------------------------------------------------------------------- helpers
def with_out(args: list[str], out: Path) -> list[str]:
    return [*args[:-1], str(out)]


def kill_when(args: list[str], logs: Path, ready: Callable[[subprocess.Popen], bool], delay: float) -> int:
    """Start the command, wait until `ready`, sleep `delay`, SIGKILL it; returns its exit code."""
    process = start(args, logs)
    try:
        assert wait_until(lambda: ready(process) or process.poll() is not None, TIMEOUT, 0.005), "never got ready"
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        kill_leftovers(process)
    return process.returncode


def temporaries(out: Path) -> list[Path]:
    return sorted(out.rglob(f"{TMP_PREFIX}*"))


def checksums(out: Path) -> dict[str, str]:
    """sha256 of every file below out by relative path (temporaries included: they must not be there)."""
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


def assert_same_weights(a: Path, b: Path) -> None:
    first, second = safe_torch_load(a), safe_torch_load(b)
    assert first["step"] == second["step"] == GAN_STEPS
    for net in ("G", "D", "G_ema"):
        assert first[net].keys() == second[net].keys()
        for name, tensor in first[net].items():
            assert torch.equal(tensor, second[net][name]), f"{net}.{name} differs"


def metrics_without_timing(out: Path) -> dict:
    metrics = json.loads((out / "metrics.json").read_text())
    metrics.pop("train_seconds")
    return metrics


# ----------------------------------------------------------------------------------------------- train-gan
@pytest.mark.parametrize("seed", [0, 1])
def test_train_gan_killed_then_resumed_is_bitwise_identical(prepared, gan_reference, tmp_path, seed):
    out = tmp_path / "gan"
    args = with_out(gan_reference.args, out)
    last = out / "checkpoints" / "last.pt"
    delay = random.Random(seed).uniform(0.0, 0.15) * gan_reference.wall
    code = kill_when(args, tmp_path / "logs", lambda p: last.is_file(), delay)
    assert code in (-signal.SIGKILL, 0)
    left = safe_torch_load(last)["step"]  # whatever the kill left is a whole, loadable checkpoint
    print(f"train-gan seed {seed}: killed {delay:.2f} s after the first checkpoint at step {left} (exit {code})")
    assert 0 < left <= GAN_STEPS
    result = run_skingan(*args, "--resume", timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert_same_weights(last, gan_reference.out / "checkpoints" / "last.pt")
    assert not temporaries(out)


def test_train_gan_refuses_a_truncated_checkpoint(gan_reference, tmp_path):
    out = tmp_path / "gan"
    shutil.copytree(gan_reference.out, out)
    last = out / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # what a non-atomic write cut short leaves
    result = run_skingan(*with_out(gan_reference.args, out), "--set", f"train.steps={GAN_STEPS + 4}", "--resume",
                         timeout=TIMEOUT)
    assert_clean_error(result, "last.pt", "cannot be loaded")
    assert len([line for line in result.stderr.splitlines() if "error:" in line]) == 1
    sampled = run_skingan(*sample_args(last, tmp_path / "samples"), timeout=TIMEOUT)
    assert_clean_error(sampled, "last.pt", "cannot be loaded")
    assert not (tmp_path / "samples" / "manifest.csv").exists()


# ----------------------------------------------------------------------------------------------- sample
def png_count(out: Path) -> int:
    folder = out / "malignant"
    return sum(1 for _ in folder.glob("*.png")) if folder.is_dir() else 0


@pytest.mark.parametrize("seed", [0, 1])
def test_sample_killed_then_rerun_is_identical(sample_reference, tmp_path, seed):
    out = tmp_path / "samples"
    args = with_out(sample_reference.args, out)
    written = random.Random(seed).randint(1, SAMPLE_N // 2)
    code = kill_when(args, tmp_path / "logs", lambda p: png_count(out) >= written, 0.0)
    print(f"sample seed {seed}: killed after {png_count(out)} of {SAMPLE_N} images (exit {code})")
    assert code in (-signal.SIGKILL, 0)
    if code == -signal.SIGKILL:
        assert not (out / "manifest.csv").exists()  # a killed folder is not read as a finished one
    result = run_skingan(*args, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    expected = checksums(sample_reference.out)
    found = {k: v for k, v in checksums(out).items() if not Path(k).name.startswith(TMP_PREFIX)}
    assert found == expected  # same file set, same bytes (stale temporaries: the test below)
    assert len(expected) == SAMPLE_N + 2


def test_sample_refuses_a_finished_folder(sample_reference):
    result = run_skingan(*sample_reference.args, timeout=TIMEOUT)
    assert_clean_error(result, "already holds samples", "choose another --out")


def test_sample_rerun_removes_the_temporary_of_a_png_cut_short(sample_reference, tmp_path):
    out = tmp_path / "samples"
    (out / "malignant").mkdir(parents=True)
    source = sample_reference.out / "malignant" / "malignant_000007.png"
    half = source.read_bytes()[: source.stat().st_size // 2]
    (out / "malignant" / f"{TMP_PREFIX}malignant_000007.png.k1ll3d").write_bytes(half)  # SIGKILL inside save_png
    result = run_skingan(*with_out(sample_reference.args, out), timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert checksums(out) == checksums(sample_reference.out)


def test_sample_killed_between_manifest_and_record_is_completed(sample_reference, tmp_path):
    out = tmp_path / "samples"
    shutil.copytree(sample_reference.out, out)
    (out / "sample.json").unlink()  # the state SIGKILL leaves right after the manifest's atomic rename
    result = run_skingan(*with_out(sample_reference.args, out), timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert checksums(out) == checksums(sample_reference.out)


# ----------------------------------------------------------------------------------------------- classifier
def test_train_classifier_killed_then_resumed_gives_the_same_metrics(classifier_reference, tmp_path):
    out = tmp_path / "classifier"
    args = with_out(classifier_reference.args, out)
    last = out / "checkpoints" / "last.pt"
    delay = random.Random(7).uniform(0.0, 0.05) * classifier_reference.wall  # lands in epoch 2
    code = kill_when(args, tmp_path / "logs", lambda p: last.is_file(), delay)
    print(f"train-classifier: killed {delay:.2f} s after the epoch-1 checkpoint (exit {code})")
    assert code == -signal.SIGKILL, "the run finished before the kill"
    assert not (out / "metrics.json").exists()
    assert safe_torch_load(last)["epoch"] == 1  # the checkpoint left behind is whole
    resume_and_compare_classifier(args, out, classifier_reference.out)


def resume_and_compare_classifier(args: list[str], out: Path, reference: Path) -> None:
    """--resume the stopped run: the same metrics, predictions and per-epoch history as the reference."""
    result = run_skingan(*args, "--resume", timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert metrics_without_timing(out) == metrics_without_timing(reference)
    assert (out / "predictions.csv").read_bytes() == (reference / "predictions.csv").read_bytes()
    timing = ["seconds", "s_per_iteration", "images_per_s"]
    assert pd.read_csv(out / "epochs.csv").drop(columns=timing).equals(
        pd.read_csv(reference / "epochs.csv").drop(columns=timing))
    assert not temporaries(out)


# ----------------------------------------------------------------------------------------------- Ctrl-C
def ctrl_c_when(args: list[str], logs: Path, ready: Callable[[], bool], sig: int = signal.SIGINT) -> tuple[int, str]:
    """Start the command, wait until `ready`, press Ctrl-C (SIGINT to the process group, as a terminal does; or
    SIGTERM to the group, as a batch scheduler does before its SIGKILL)."""
    process = start(args, logs)
    try:
        assert wait_until(lambda: ready() or process.poll() is not None, TIMEOUT, 0.005), "never got ready"
        os.killpg(process.pid, sig)
        process.wait(timeout=60)
    finally:
        kill_leftovers(process)
    return process.returncode, (logs / "stderr.txt").read_text()


def assert_interrupted(code: int, stderr: str, hint: str) -> None:
    assert code == 130, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if "interrupted" in line]
    assert len(lines) == 1 and hint in lines[0], stderr


def logged_steps(out: Path) -> int:
    try:
        return len((out / "metrics.csv").read_text().splitlines()) - 1
    except OSError:
        return 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_train_gan_ctrl_c_saves_the_current_step_and_resumes_bitwise(gan_reference, tmp_path, sig):
    out = tmp_path / "gan"
    # no periodic checkpoint before the end: whatever --resume finds was written on the signal itself
    args = [*with_out(gan_reference.args, out), "--set", "train.checkpoint_every=1000", "--set", "train.log_every=1"]
    code, stderr = ctrl_c_when(args, tmp_path / "logs", lambda: logged_steps(out) >= 3, sig)
    assert_interrupted(code, stderr, "Add --resume to the same command")
    saved = safe_torch_load(out / "checkpoints" / "last.pt")["step"]
    print(f"train-gan {sig.name}: after {logged_steps(out)} logged steps; checkpoint saved at step {saved}")
    assert 3 <= saved < GAN_STEPS and "saved" in stderr and f"step {saved}" in stderr
    refused = run_skingan(*args, timeout=TIMEOUT)  # without --resume the run folder is protected
    assert_clean_error(refused, "--resume")
    result = run_skingan(*args, "--resume", timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert_same_weights(out / "checkpoints" / "last.pt", gan_reference.out / "checkpoints" / "last.pt")
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics["step"].tolist() == list(range(1, GAN_STEPS + 1))  # no row lost or repeated across the stop
    assert not temporaries(out)


def test_sample_ctrl_c_then_rerun_is_identical(sample_reference, tmp_path):
    out = tmp_path / "samples"
    args = with_out(sample_reference.args, out)
    code, stderr = ctrl_c_when(args, tmp_path / "logs", lambda: png_count(out) >= 20)
    assert_interrupted(code, stderr, "Run the same command again")
    assert not (out / "manifest.csv").exists() and not temporaries(out)
    result = run_skingan(*args, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert checksums(out) == checksums(sample_reference.out)


def test_train_classifier_ctrl_c_then_resume_gives_the_same_metrics(classifier_reference, tmp_path):
    out = tmp_path / "classifier"
    args = with_out(classifier_reference.args, out)
    last = out / "checkpoints" / "last.pt"
    code, stderr = ctrl_c_when(args, tmp_path / "logs", last.is_file)
    assert_interrupted(code, stderr, "Add --resume to the same command")
    assert not (out / "metrics.json").exists() and safe_torch_load(last)["epoch"] == 1
    resume_and_compare_classifier(args, out, classifier_reference.out)


# ----------------------------------------------------------------------------------------------- evaluate-classifier
def evaluate_classifier_args(classifier: Path, data: Path, out: Path) -> list[str]:
    return ["evaluate-classifier", "--checkpoint", str(classifier / "checkpoints" / "best.pt"), "--data", str(data),
            "--split", "test", "--bootstrap", "200", "--device", "cpu", "--out", str(out)]


def test_evaluate_classifier_killed_then_rerun_is_identical(classifier_reference, prepared, tmp_path):
    reference = make_reference(evaluate_classifier_args(classifier_reference.out, prepared, tmp_path / "reference"))
    outputs = ("metrics.json", "predictions.csv")
    out = tmp_path / "evaluation"
    args = with_out(reference.args, out)
    for seed in (0, 1):
        delay = random.Random(seed).uniform(0.3, 1.0) * reference.wall
        code = kill_when(args, tmp_path / f"logs{seed}", lambda p: True, delay)
        print(f"evaluate-classifier seed {seed}: killed after {delay:.2f} s of {reference.wall:.2f} s (exit {code})")
        if (out / "metrics.json").exists():  # written last: the rest is there and whole
            assert (out / "predictions.csv").read_bytes() == (reference.out / "predictions.csv").read_bytes()
        result = run_skingan(*args, timeout=TIMEOUT)
        assert result.returncode == 0, result.stderr
        for name in outputs:
            assert (out / name).read_bytes() == (reference.out / name).read_bytes(), name
        assert not temporaries(out)
        shutil.rmtree(out)


# ----------------------------------------------------------------------------------------------- sample: disk full
def test_sample_disk_full_stops_cleanly_and_the_rerun_is_identical(sample_reference, tmp_path, capsys, monkeypatch):
    """The disk fills up after 30 PNGs (the 31st is cut short): one line, exit 1, only whole PNGs and no
    manifest left; with space again the same command writes the reference's files."""
    import errno

    from skingan.cli import main

    real_save = Image.Image.save
    written = []

    def save(image, fp, *args, **kwargs):
        if len(written) == 30:
            Path(fp).write_bytes(b"\x89PNG\r\n\x1a\n")  # the first bytes got out, then the disk was full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(fp))
        written.append(fp)
        return real_save(image, fp, *args, **kwargs)

    out = tmp_path / "samples"
    args = with_out(sample_reference.args, out)
    monkeypatch.setattr(Image.Image, "save", save)
    code = main(args)
    monkeypatch.undo()
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert code == 1 and len(lines) == 1 and "Traceback" not in err, err
    assert "No space left on device" in lines[0] and "run the same command again" in lines[0]
    assert png_count(out) == 30 and not temporaries(out) and not (out / "manifest.csv").exists()
    reference = checksums(sample_reference.out)
    for name, digest in checksums(out).items():  # what is there is whole
        assert reference[name] == digest, name
    assert main(args) == 0
    assert checksums(out) == reference
