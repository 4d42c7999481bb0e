"""evaluate-gan's options as a typed config: resolved from the flags with strict keys and limits, checked once
with the messages the command has always given, printed by --dry-run."""

from __future__ import annotations

import pytest
import yaml

from conftest import assert_clean_error, run_skingan
from skingan.commands._options import options_from_flags
from skingan.config import from_dict
from skingan.errors import UserError
from skingan.evaluation.settings import EvalSettings, settings_dict


def test_the_record_reads_back_into_the_same_options():
    settings = EvalSettings(n=32, resize=64, feature_cache="/tmp/cache", device="cpu")
    record = settings_dict(settings)
    assert list(record) == ["split", "n", "features", "inception_weights", "resize", "batch_size", "seed",
                            "kid_subsets", "kid_subset_size", "diversity_pairs", "feature_cache", "device",
                            "c2st", "c2st_size", "c2st_folds", "c2st_epochs", "c2st_max_n"]
    assert from_dict(EvalSettings, record, origin="environment.json") == settings


@pytest.mark.parametrize(("values", "message"), [
    ({"n": 1}, "--n 1: at least 2 fakes are needed (2000 recommended)"),
    ({"batch_size": 0}, "--batch-size 0: must be at least 1"),
    ({"resize": 8}, "--resize 8: must be at least 32 px"),
    ({"features": "vgg"}, "--features 'vgg' is not known; accepted: lite0, "),
    ({"c2st_max_n": 3}, "--c2st-max-n 3: must be at least --c2st-folds (5)"),
])
def test_flag_rules_keep_their_messages(values, message):
    """As the command wrote them, with no origin in front (the features message lists every extractor)."""
    with pytest.raises(UserError) as error:
        options_from_flags(EvalSettings, values)
    assert str(error.value).startswith(message) and (message.endswith(", ") or str(error.value) == message)


@pytest.mark.parametrize(("values", "fragment"), [
    ({"sample_count": 3}, "unknown key 'sample_count'"),
    ({"kid_subsets": 0}, "kid_subsets=0 is not accepted"),
    ({"split": "holdout"}, "split='holdout' is not accepted: expected one of train, val, test"),
    ({"n": "many"}, "expected an integer"),
    ({"device": "tpu"}, "device='tpu' is not accepted"),
])
def test_keys_types_and_limits_are_checked(values, fragment):
    with pytest.raises(UserError, match=fragment):
        from_dict(EvalSettings, values, origin="record")


def test_dry_run_prints_the_resolved_options_and_writes_nothing(tmp_path):
    out = tmp_path / "eval"
    result = run_skingan("evaluate-gan", "--samples", tmp_path / "s", "--data", tmp_path / "p", "--n", "50",
                         "--no-feature-cache", "--device", "cpu", "--out", out, "--dry-run")
    assert result.returncode == 0, result.stderr
    printed = yaml.safe_load(result.stdout)
    assert printed == settings_dict(EvalSettings(n=50, device="cpu"))
    assert not out.exists()
    bad = run_skingan("evaluate-gan", "--samples", tmp_path / "s", "--data", tmp_path / "p", "--n", "1",
                      "--out", out, "--dry-run")
    assert_clean_error(bad, "--n 1: at least 2 fakes")
    (tmp_path / "e1").mkdir()
    (tmp_path / "e1" / "metrics.json").write_text('{"fd": 1, "protocol": {}}')
    compare = run_skingan("evaluate-gan", "--compare", tmp_path / "e1", "--out", tmp_path / "cmp", "--dry-run")
    assert compare.returncode == 0, compare.stderr
    assert yaml.safe_load(compare.stdout) == {"compare": [str(tmp_path / "e1" / "metrics.json")],
                                              "out": str(tmp_path / "cmp")}
    assert not (tmp_path / "cmp").exists()


def test_the_c2st_size_is_the_classifiers_input_size():
    from skingan.classifier.config import DataConfig
    from skingan.evaluation.settings import CLASSIFIER_SIZE, EvalSettings

    assert EvalSettings().c2st_size == CLASSIFIER_SIZE == DataConfig().image_size
