"""The augmentation study: a tiny real run gives the full table; re-runs skip finished cells; the statistics."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import assert_clean_error, make_prepared_set, run_skingan
from skingan import tracking
from skingan.classifier.study_claims import HOST
from skingan.classifier.study_stats import mean_ci, paired_differences, summarise
from skingan.classifier.study_text import conclusion_text
from test_classifier_train import micro_prepared
from test_experiment_shards import dead_pid
from test_synthetic_mixing import write_sample_folder

TINY = ["--seeds", "2", "--set", "classifier.data.image_size=32", "--set", "classifier.train.epochs=1",
        "--set", "classifier.train.batch_size=8", "--set", "classifier.eval.bootstrap=50",
        "--set", "study.ratios=[0.5]", "--set", "study.conditions=[real-aug,synthetic,synthetic-only]"]


@pytest.fixture(scope="module")
def study(tiny_prepared, isic2017, tmp_path_factory):
    """2 seeds × 3 conditions on 48 real images at 32 px, one synthetic source, one OOD set."""
    from PIL import Image

    root = tmp_path_factory.mktemp("study")
    data = micro_prepared(tiny_prepared, root / "micro")
    samples = write_sample_folder(root / "samples", data, per_class=8)
    labels = pd.read_csv(isic2017 / "labels.csv")
    rows = pd.concat([labels[(labels["split"] == "val") & (labels["target"] == t)].sort_values("isic_id").tail(6)
                      for t in (0, 1)])
    ood = make_prepared_set(root / "other-hospital", [Image.open(isic2017 / p) for p in rows["image"]],
                            rows["target"].tolist(), ["test"] * len(rows), sizes=(32,), source="other")
    out = root / "experiment"
    args = ["experiment", "--config", "augmentation", "--data", data, "--out", out, "--synthetic", samples, "--ood", ood, *TINY]
    first = run_skingan(*args)
    assert first.returncode == 0, first.stderr
    return {"out": out, "args": args, "first": first}


@pytest.mark.slow
def test_experiment_writes_the_full_table(study):
    out = study["out"]
    for name in ("config.yaml", "environment.json", "results.csv", "summary.csv", "summary.md", "paired.csv",
                 "experiment.png", "conclusion.md", "experiment.json"):
        assert (out / name).is_file(), name
    conditions = ["real-aug", "synthetic-0.5", "synthetic-only"]
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 3 * 2 * 2  # conditions × seeds × (test, ood)
    assert set(results["test_set"]) == {"test", "ood:other-hospital"}
    assert set(results["condition"]) == set(conditions)
    assert results["auc"].between(0, 1).all() and (results.loc[results["test_set"] == "test", "n"] == 8).all()
    assert (results.loc[results["test_set"] != "test", "n"] == 12).all()
    synthetic = results[results["condition"] == "synthetic-0.5"]
    assert (synthetic["synthetic_images"] == 16).all() and (synthetic["train_images"] == 48).all()
    only = results[results["condition"] == "synthetic-only"]
    assert (only["synthetic_images"] == 16).all() and (only["train_images"] == 16).all()
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 6 and (summary["seeds"] == 2).all()
    reference = results[(results["condition"] == "real-aug") & (results["test_set"] == "test")]
    row = summary[(summary["condition"] == "real-aug") & (summary["test_set"] == "test")].iloc[0]
    assert row["auc"] == pytest.approx(reference["auc"].mean())
    paired = pd.read_csv(out / "paired.csv")
    assert len(paired) == 2 * 2 * 4  # conditions vs reference × test sets × metrics
    assert "real-aug" not in set(paired["condition"])
    assert (results["predictions"].str.len() > 0).all()  # every cell names its test and OOD predictions
    auc = paired[paired["metric"] == "auc"]
    assert (auc["delong_p"].between(0, 1) | auc["delong_note"].notna()).all()  # read back, "" is NaN
    assert (paired["p_adjusted"] >= paired["p_value"] - 1e-12).where(paired["p_value"].notna(), True).all()
    assert {"mde", "seeds_for_0.02", "delong_z", "delong_p_adjusted"} <= set(paired.columns)
    assert "Holm" in (out / "conclusion.md").read_text() and "p (Holm)" in (out / "summary.md").read_text()
    text = (out / "conclusion.md").read_text()
    assert "real-aug" in text and "pilot" in text
    for condition in conditions:
        assert condition in (out / "summary.md").read_text()
        for seed in (0, 1):
            assert (out / "cells" / condition / f"seed{seed}" / "checkpoints" / "best.pt").is_file()


@pytest.mark.slow
def test_rerun_skips_finished_cells_and_resumes_a_missing_one(study):
    out = study["out"]
    before = (out / "cells" / "real-aug" / "seed0" / "metrics.json").stat().st_mtime_ns
    again = run_skingan(*study["args"])
    assert again.returncode == 0, again.stderr
    assert "6 cells (6 finished earlier, skipped)" in again.stdout
    assert (out / "cells" / "real-aug" / "seed0" / "metrics.json").stat().st_mtime_ns == before
    shutil.rmtree(out / "cells" / "synthetic-only" / "seed1")
    (out / "cells" / "synthetic-0.5" / "seed1" / "ood-other-hospital-metrics.json").unlink()
    third = run_skingan(*study["args"])
    assert third.returncode == 0, third.stderr
    assert "6 cells (4 finished earlier, skipped)" in third.stdout
    assert len(pd.read_csv(out / "results.csv")) == 12
    record = json.loads((out / "experiment.json").read_text())
    assert sum(c["status"] == "ran" for c in record["cells"]) == 2


@pytest.mark.slow
def test_changed_settings_do_not_reuse_cells(study):
    args = [a if a != "classifier.train.epochs=1" else "classifier.train.epochs=2" for a in study["args"]]
    assert_clean_error(run_skingan(*args), "other settings")


def test_mean_ci_is_the_t_interval():
    values = np.array([0.81, 0.78, 0.84, 0.80])
    mean, low, high = mean_ci(values, 0.95)
    expected = stats.t.interval(0.95, 3, loc=values.mean(), scale=stats.sem(values))
    assert mean == pytest.approx(values.mean()) and (low, high) == pytest.approx(expected)
    assert np.isnan(mean_ci(np.array([0.8]))[1])


def fake_results(effect: float, noise: float = 0.01, seeds: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(seeds):
        base = 0.8 + rng.normal(0, 0.03)
        for condition, shift in (("real-aug", 0.0), ("synthetic-0.1", effect)):
            row = {"condition": condition, "seed": seed, "test_set": "test"}
            row.update({m: base + shift + rng.normal(0, noise) for m in
                        ("auc", "balanced_accuracy", "sensitivity", "specificity")})
            rows.append(row)
    return pd.DataFrame(rows)


def test_paired_differences_match_scipy_and_the_conclusion_reads_them():
    results = fake_results(effect=0.05)
    paired = paired_differences(results, "real-aug")
    auc = paired[paired["metric"] == "auc"].iloc[0]
    a = results[results["condition"] == "synthetic-0.1"]["auc"].to_numpy()
    b = results[results["condition"] == "real-aug"]["auc"].to_numpy()
    assert auc["difference"] == pytest.approx((a - b).mean())
    assert auc["p_value"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    clear = conclusion_text(paired, summarise(results), "real-aug", 5, 0.95)
    assert "'synthetic-0.1' raised AUC by 0.05" in clear and "insufficient" not in clear
    null = fake_results(effect=0.0, noise=0.03)
    unclear = conclusion_text(paired_differences(null, "real-aug"), summarise(null), "real-aug", 5, 0.95)
    assert "no detectable difference" in unclear and "insufficient" in unclear
    single = fake_results(effect=0.05, seeds=1)
    one = conclusion_text(paired_differences(single, "real-aug"), summarise(single), "real-aug", 1, 0.95)
    assert "insufficient" in one and "single seed" in one


def test_the_study_modules_names_stay_importable_from_experiment():
    """experiment.py was split by job; everything the study modules define is still importable from it."""
    import inspect

    from skingan.classifier import experiment, study_plan, study_plots, study_stats, study_text

    for module in (study_plan, study_stats, study_text, study_plots):
        defined = [name for name, value in vars(module).items() if not name.startswith("_") and (
            (name.isupper() and not inspect.ismodule(value))
            or ((inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ == module.__name__))]
        assert defined
        for name in defined:
            assert getattr(experiment, name) is getattr(module, name), f"{module.__name__}.{name}"
            assert name in experiment.__all__, name


# ------------------------------------------------------------------------ several processes, one folder
def _sharded(study, out):
    return [out if a == study["out"] else a for a in study["args"]]


def _same_tables(a, b):
    """The tables two runs of the same study wrote are the same (train_seconds aside: it is a timing)."""
    left, right = pd.read_csv(a / "results.csv"), pd.read_csv(b / "results.csv")
    pd.testing.assert_frame_equal(left.drop(columns="train_seconds"), right.drop(columns="train_seconds"))
    for name in ("summary.csv", "paired.csv", "summary.md", "conclusion.md"):
        assert (a / name).read_text() == (b / name).read_text(), name


def _trainings(out):
    """How many times each cell's training started, from its log (fit logs 'train N images' once per start)."""
    return {str(log.parent.relative_to(out)): len(re.findall(r"INFO train \d+ images", log.read_text()))
            for log in sorted((out / "cells").glob("*/seed*/log.txt"))}


def _plant_claim(out, key, **fields):
    """A claim on `key` above any existing one, as another process would leave it."""
    folder = out / "claims" / key.split("/")[0]
    folder.mkdir(parents=True, exist_ok=True)
    numbers = [int(p.name.split(".")[-2]) for p in folder.glob(f"{key.split('/')[1]}.*.claim")]
    path = folder / f"{key.split('/')[1]}.{max(numbers, default=-1) + 1}.claim"
    path.write_text(json.dumps({"key": key, "shard": "2/2", "time": "then", "token": "t", **fields}))
    return path


@pytest.mark.slow
def test_two_shards_share_one_folder_train_each_cell_once_and_give_the_same_tables(study, tmp_path):
    out = tmp_path / "sharded"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    shards = [subprocess.Popen([sys.executable, "-m", "skingan", *map(str, _sharded(study, out)), "--shard", f"{k}/2"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for k in (1, 2)]
    finished = [shard.communicate(timeout=900) for shard in shards]
    assert [shard.returncode for shard in shards] == [0, 0], [f[1][-2000:] for f in finished]
    assert sum("table in" in stdout for stdout, _ in finished) >= 1
    _same_tables(study["out"], out)
    assert set(_trainings(out).values()) == {1} and len(_trainings(out)) == 6
    record = json.loads((out / "experiment.json").read_text())
    ran = {k: [c["folder"] for c in part["cells"] if c["status"] == "ran"] for k, part in record["shards"].items()}
    assert set(ran) == {"1/2", "2/2"} and all(ran.values())  # both shards worked
    assert sorted(ran["1/2"] + ran["2/2"]) == sorted(_trainings(out))  # each cell by exactly one
    assert record["finished"] and [c["status"] for c in record["cells"]] == ["ran"] * 6
    claims = sorted((out / "claims").glob("*/seed*.claim"))  # one per cell (the experiment.json lock aside)
    assert len(claims) == 6 and all(json.loads(p.read_text())["outcome"] == "finished" for p in claims)
    if tracking.available():  # one TensorBoard HParams entry per cell, and each cell's own curves
        assert len([p for p in (out / "tensorboard" / "study").iterdir() if p.is_dir()]) == 6
        assert len(list((out / "cells").glob("*/seed*/tensorboard/events.out.tfevents.*"))) == 6
    study["sharded"] = out


@pytest.mark.slow
def test_a_dead_shards_cell_is_retried_a_live_ones_is_left_and_merge_writes_what_is_done(study, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(study.get("sharded", study["out"]), out)
    shutil.rmtree(out / "claims", ignore_errors=True)
    for cell in ("real-aug/seed1", "synthetic-only/seed0"):
        shutil.rmtree(out / "cells" / cell)
    _plant_claim(out, "real-aug/seed1", pid=dead_pid(), host=HOST)  # a killed shard's cell
    live = _plant_claim(out, "synthetic-only/seed0", pid=os.getpid(), host=HOST)  # a shard still training
    args = _sharded(study, out)
    first = run_skingan(*args, "--shard", "1/2")
    assert first.returncode == 0, first.stderr
    assert "took it over" in first.stderr and "ran 1 cells; 1 of 6 are still being trained" in first.stdout
    assert _trainings(out)["cells/real-aug/seed1"] == 1 and "synthetic-only/seed0" not in str(_trainings(out))
    merged = run_skingan(*args, "--merge")
    assert merged.returncode == 0, merged.stderr
    assert "1 of 6 cells are not finished (synthetic-only seed 0)" in merged.stderr
    assert "1 unfinished and left out" in merged.stdout and len(pd.read_csv(out / "results.csv")) == 10
    assert json.loads((out / "experiment.json").read_text())["cells_pending"] == ["cells/synthetic-only/seed0"]
    live.write_text(json.dumps({**json.loads(live.read_text()), "released": True}))  # that shard stopped
    last = run_skingan(*args)
    assert last.returncode == 0, last.stderr
    assert "6 cells (5 finished earlier, skipped)" in last.stdout
    _same_tables(study["out"], out)
    assert set(_trainings(out).values()) == {1}


def test_bad_shard_and_merge_without_a_study_are_one_line_errors(tiny_prepared, tmp_path):
    base = ["experiment", "--data", tiny_prepared, "--out", tmp_path / "none"]
    assert_clean_error(run_skingan(*base, "--shard", "3/2"), "--shard", "between 1 and N")
    assert_clean_error(run_skingan(*base, "--shard", "two"), "is not K/N")
    assert_clean_error(run_skingan(*base, "--merge", "--set", "study.conditions=[real-aug]"), "holds no experiment")
    assert not (tmp_path / "none").exists()
