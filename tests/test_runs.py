"""Run folders, atomic writes and safe checkpoint loading."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch

from skingan.errors import UserError
from skingan.runs import (
    atomic_path,
    atomic_torch_save,
    atomic_write_text,
    init_run_dir,
    remove_stale_temporaries,
    resolve_device,
    safe_torch_load,
)


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_stale_temporaries_are_removed(tmp_path):
    (tmp_path / ".tmp-last.pt.abc").write_bytes(b"partial")
    (tmp_path / "keep.txt").write_text("x")
    assert remove_stale_temporaries(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_run_dir_describes_itself_and_refuses_overwrite(tmp_path):
    out = init_run_dir(tmp_path / "run", config={"train": {"steps": 3}}, seed=7, device="cpu")
    env = json.loads((out / "environment.json").read_text())
    assert env["seed"] == 7 and env["device"] == "cpu" and env["versions"]["torch"]
    assert "steps: 3" in (out / "config.yaml").read_text()
    assert (out / "log.txt").exists()
    with pytest.raises(UserError, match="--resume"):
        init_run_dir(tmp_path / "run", config={"train": {"steps": 3}}, seed=7, device="cpu")
    init_run_dir(tmp_path / "run", config={"train": {"steps": 3}}, seed=7, device="cpu", resume=True)


def test_checkpoint_round_trip_and_refusals(tmp_path):
    path = tmp_path / "ckpt.pt"
    atomic_torch_save({"w": torch.arange(3.0), "step": 5}, path)
    loaded = safe_torch_load(path)
    assert loaded["step"] == 5 and torch.equal(loaded["w"], torch.arange(3.0))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(UserError, match="cannot be loaded safely"):
        safe_torch_load(truncated)
    with pytest.raises(UserError, match="does not exist"):
        safe_torch_load(tmp_path / "missing.pt")


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_pickled_code_in_a_checkpoint_does_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.pt"
    torch.save({"x": _Payload()}, evil, pickle_module=pickle)
    with pytest.raises(UserError):
        safe_torch_load(evil)
    assert not (tmp_path / "PWNED").exists()


def test_device_resolution():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA device"):
            resolve_device("cuda")
