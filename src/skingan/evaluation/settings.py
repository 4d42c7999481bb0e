"""evaluate-gan's options as a typed config (skingan.config, as train-gan's). The command resolves them from
its flags through `from_dict` (strict keys, checked types and limits, then `check()`; see
commands/_options.py), prints them with `--dry-run` and saves them in the evaluation's environment.json under
"evaluate_settings" (folder.RECORD_KEY); `from_dict(EvalSettings, record, origin=...)` reads a record back."""

from __future__ import annotations

from dataclasses import dataclass

from skingan.config import setting, to_dict
from skingan.data.prepared import SPLITS
from skingan.evaluation.features import check_feature_spec

DEVICES = ("auto", "cpu", "cuda", "mps")
CLASSIFIER_SIZE = 128  # skingan.classifier.config.DataConfig.image_size's default (a test keeps them equal)


@dataclass
class EvalSettings:
    split: str = setting("train", choices=SPLITS, help="real reference split for the distribution metrics")
    n: int = setting(2000, help="number of fakes (keep it fixed across models: FD is biased by N)")
    features: str = setting("lite0", help="lite0, inception or classifier:CKPT")
    inception_weights: str | None = setting(None, help="pytorch-fid's Inception weights file (inception only)")
    resize: int | None = setting(None, help="extractor input size in px (null: the extractor's own)")
    batch_size: int = setting(64, help="images per forward pass")
    seed: int = setting(0, min=0, max=2**32 - 1)
    kid_subsets: int = setting(100, min=1, help="KID: random subsets averaged")
    kid_subset_size: int = setting(1000, min=2, help="KID: images per subset (at most N)")
    diversity_pairs: int = setting(500, min=1, help="random pairs for the diversity similarities")
    feature_cache: str | None = setting(None, help="folder of cached real-set features (null: no cache)")
    device: str = setting("cpu", choices=DEVICES, help="auto is resolved before the options are saved")
    c2st: bool = setting(True, help="classifier two-sample tests (a small CNN from scratch, k-fold)")
    c2st_size: int = setting(CLASSIFIER_SIZE, min=16, max=1024,
                             help="C2ST input size: the classifier's (its config default, data.image_size)")
    c2st_folds: int = setting(5, min=2, max=20, help="C2ST: stratified folds")
    c2st_epochs: int = setting(10, min=1, max=200, help="C2ST: epochs per fold")
    c2st_max_n: int = setting(500, min=2, help="C2ST: images per set at most (a seeded subsample)")

    def check(self) -> None:
        """Rules whose messages name the flag that sets the value, as the command has always reported them."""
        if self.n < 2:
            raise ValueError(f"--n {self.n}: at least 2 fakes are needed (2000 recommended)")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size {self.batch_size}: must be at least 1")
        if self.resize is not None and self.resize < 32:
            raise ValueError(f"--resize {self.resize}: must be at least 32 px")
        check_feature_spec(self.features)  # a UserError naming --features and what is accepted
        if self.c2st_max_n < self.c2st_folds:
            raise ValueError(f"--c2st-max-n {self.c2st_max_n}: must be at least --c2st-folds ({self.c2st_folds})")


def settings_dict(settings: EvalSettings) -> dict:
    """The record saved in environment.json (and printed, as YAML, by --dry-run)."""
    return to_dict(settings)
