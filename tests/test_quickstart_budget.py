"""The quickstart's GAN stage: the bench winner, conditional on both classes, capped in wall time, and a stage
that ended on its time cap counts as finished (a re-run reuses it instead of training another cap)."""

from __future__ import annotations

from pathlib import Path

import torch

from skingan.quickstart import GAN_CONFIG, Budget, gan_reached, plan


def test_gan_stage_is_the_conditional_winner_with_a_time_cap(tmp_path: Path) -> None:
    budget = Budget.scaled(1.0)
    stage = next(s for s in plan(tmp_path, "phantom", None, budget, 0, "cpu") if s.name == "train-gan")
    argv = stage.command()
    assert argv[argv.index("--config") + 1] == GAN_CONFIG == "projected64"
    assert "data.classes=[benign,malignant]" in argv
    assert f"train.max_minutes={budget.gan_minutes}" in argv and budget.gan_minutes == 7.0
    assert Budget.scaled(0.1).gan_minutes == 0.7


def test_a_time_capped_gan_stage_counts_as_finished(tmp_path: Path) -> None:
    checkpoint = tmp_path / "last.pt"
    torch.save({"step": 120}, checkpoint)
    assert gan_reached(checkpoint, 120, {})()
    assert not gan_reached(checkpoint, 400, {})()  # interrupted: no record says the stage ended
    assert gan_reached(checkpoint, 400, {"train-gan": {"status": "done", "step": 120}})()  # ended on its time cap
    # the checkpoint moved on since (a later, killed run), or the stage never ended
    assert not gan_reached(checkpoint, 400, {"train-gan": {"status": "done", "step": 100}})()
    assert not gan_reached(checkpoint, 400, {"train-gan": {"status": "running"}})()

