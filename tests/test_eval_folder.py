"""The evaluation folder contract (skingan.evaluation.folder): what it names, writes (metrics.json last) and
accepts when reading back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skingan.errors import UserError
from skingan.evaluation import folder
from skingan.runs import TMP_PREFIX

RECORD = {"fd": 1.0, "protocol": {"model": "m"}}


def figure_writers(fail: str | None = None) -> dict:
    def writer(name: str):
        def draw(path: Path) -> None:
            if name == fail:
                raise RuntimeError("drawing failed")
            path.write_bytes(b"\x89PNG " + name.encode())
        return draw
    return {name: writer(name) for name in folder.FIGURES}


def test_write_evaluation_writes_every_file_and_metrics_json_last(tmp_path, monkeypatch):
    written: list[str] = []
    real_replace = __import__("os").replace

    def spy(src, dst):
        written.append(Path(dst).name)
        return real_replace(src, dst)

    monkeypatch.setattr("os.replace", spy)
    folder.write_evaluation(tmp_path / "e", RECORD, "# tables\n", figure_writers())
    assert written == [folder.TABLES, *folder.FIGURES, folder.METRICS]
    assert folder.load_metrics(tmp_path / "e") == RECORD
    assert not [p for p in (tmp_path / "e").iterdir() if p.name.startswith(TMP_PREFIX)]


def test_an_evaluation_cut_short_never_looks_finished(tmp_path):
    out = tmp_path / "e"
    with pytest.raises(RuntimeError):
        folder.write_evaluation(out, RECORD, "# tables\n", figure_writers(fail=folder.METRIC_BARS))
    assert (out / folder.TABLES).is_file() and not folder.metrics_path(out).exists()
    assert not (out / folder.METRIC_BARS).exists() and not [p for p in out.iterdir() if p.name.startswith(TMP_PREFIX)]
    folder.check_out(out)  # no metrics.json: the same command may write here again
    with pytest.raises(ValueError):
        folder.write_evaluation(out, RECORD, "", {folder.METRIC_BARS: figure_writers()[folder.METRIC_BARS]})


def test_load_metrics_finds_the_file_in_a_folder_or_its_evaluation_subfolder(tmp_path):
    (tmp_path / "qs" / folder.NESTED).mkdir(parents=True)
    folder.metrics_path(tmp_path / "qs" / folder.NESTED).write_text(json.dumps(RECORD))
    assert folder.load_metrics(tmp_path / "qs") == RECORD
    assert folder.load_metrics(folder.metrics_path(tmp_path / "qs" / folder.NESTED)) == RECORD
    cases = {"{": "is not valid JSON", json.dumps({"auc": 0.8}): "is not an evaluate-gan metrics.json",
             json.dumps([1]): "no fd/protocol"}
    for text, fragment in cases.items():
        (tmp_path / "bad").mkdir(exist_ok=True)
        folder.metrics_path(tmp_path / "bad").write_text(text)
        with pytest.raises(UserError, match=fragment):
            folder.load_metrics(tmp_path / "bad")
    with pytest.raises(UserError, match="no metrics.json there"):
        folder.load_metrics(tmp_path / "nothing")


def test_check_out_refuses_runs_samples_and_finished_evaluations(tmp_path):
    (tmp_path / "gan" / "checkpoints").mkdir(parents=True)
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "manifest.csv").write_text("file,class\n")
    (tmp_path / "done").mkdir()
    folder.metrics_path(tmp_path / "done").write_text(json.dumps(RECORD))
    for name, fragment in (("gan", "is a training run or samples folder"), ("samples", "samples folder"),
                           ("done", "already holds a run")):
        with pytest.raises(UserError, match=fragment):
            folder.check_out(tmp_path / name)
    folder.check_out(tmp_path / "new")


def test_feature_cache_and_record_recognition(tmp_path, monkeypatch):
    monkeypatch.setenv("SKINGAN_CACHE", str(tmp_path / "c"))
    assert folder.feature_cache_dir(None) == tmp_path / "c" / "features"
    assert folder.feature_cache_dir(tmp_path / "x") == tmp_path / "x"
    assert folder.feature_cache_dir(tmp_path / "x", enabled=False) is None
    assert folder.is_evaluation_record(RECORD) and not folder.is_evaluation_record({"auc": 1})
    assert not folder.is_evaluation_record(None) and not folder.is_evaluation_record(["fd"])
