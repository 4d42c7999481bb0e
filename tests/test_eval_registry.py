"""The metric registry: every number evaluate-gan writes has one definition, and one definition is all a new
metric needs to reach metrics.md, --compare and metric_bars.png."""

from __future__ import annotations

import numpy as np
import pytest

from skingan.data.prepared import open_prepared
from skingan.evaluation import figures, folder, iqa, registry
from skingan.evaluation.compare import compare_markdown, compare_row, reference_rows
from skingan.evaluation.evaluate import EvalSettings, FakeSet, evaluate
from skingan.evaluation.features import build_extractor
from skingan.evaluation.registry import DISTRIBUTION, HIGHER, Bar, Metric
from skingan.evaluation.tables import metrics_markdown

# The --compare columns as they have always been (the original study's five, then the distribution metrics).
COMPARE_HEADINGS = ["PSNR ↑", "SSIM ↑", "MS-GMSD ↓", "MDSI ↓", "HaarPSI ↑", "FD ↓", "KID ↓", "precision ↑",
                    "recall ↑", "density ↑", "coverage ↑", "C2ST AUC", "C2ST AUC as the classifier sees",
                    "memorised ↓"]
COMPARE_ROW_KEYS = ["model", "row", "n_fake", "n_real", "extractor", "class", "split", "psnr", "ssim", "ms_gmsd",
                    "mdsi", "haarpsi", "fd", "kid_mean", "kid_std", "precision", "recall", "density", "coverage",
                    "c2st_auc", "c2st_seen_auc", "memorized"]  # compare.csv's columns


def _is_null(record: dict, path: tuple[str, ...]) -> bool:
    try:
        return registry.lookup(record, path) is None
    except KeyError:
        return False


def leaves(record: dict, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Key paths of every value that is not itself a dict (lists count as one value)."""
    paths: set[tuple[str, ...]] = set()
    for key, value in record.items():
        path = (*prefix, key)
        paths |= leaves(value, path) if isinstance(value, dict) and value else {path}
    return paths


@pytest.fixture(scope="module")
def written(tiny_prepared, tmp_path_factory) -> dict:
    """A metrics.json as evaluate-gan writes it (40 training images, flipped, as fakes: more than the 32
    held-out reals, so the fakes are scored at the reference's N too; lite0 at 64 px, a quick C2ST at 32 px)."""
    prepared = open_prepared(tiny_prepared)
    images = prepared.images(64)
    train = np.asarray(images[prepared.indices("train", ["malignant"])])
    fakes = FakeSet(train[:40, :, ::-1].copy(), "malignant", {"kind": "samples", "path": "x"})
    out = tmp_path_factory.mktemp("registry") / "eval"
    evaluate(fakes, prepared, EvalSettings(n=40, kid_subsets=5, diversity_pairs=40, c2st_size=32, c2st_folds=2,
                                           c2st_epochs=1), out, extractor=build_extractor("lite0", resize=64))
    return folder.load_metrics(out)


def test_every_key_the_evaluator_writes_has_a_registry_entry_and_vice_versa(written):
    claimed = registry.all_written()
    unclaimed = sorted(".".join(leaf) for leaf in leaves({k: v for k, v in written.items() if k != "protocol"})
                       if not any(leaf[:len(path)] == path for path in claimed))
    assert unclaimed == [], f"metrics.json keys no registry definition claims: {unclaimed}"
    absent = []
    for path in sorted(claimed):
        try:
            registry.lookup(written, path)
        except KeyError:
            if not any(_is_null(written, path[:k]) for k in range(1, len(path))):  # inside a null record is fine
                absent.append(".".join(path))
    assert absent == [], f"registry paths metrics.json does not hold: {absent}"
    for metric in registry.all_metrics():
        assert set(metric.protocol) <= set(written["protocol"]), metric.name
        assert isinstance(metric.value(written), (int, float)), metric.name
        if metric.reference:  # the held-out real reference holds the same metric, and so do the fakes at its N
            assert isinstance(metric.value(written["reference"]), (int, float)), metric.name
    assert written["reference"]["n"] == 32 and written["reference"]["fakes_same_n"]["n"] == 32


def test_every_metric_reaches_its_table_and_the_comparison(written):
    table = metrics_markdown(written)
    extractor = written["protocol"]["extractor"]
    for metric in registry.all_metrics():
        assert metric.column(extractor=extractor) in table, metric.name
        assert metric.text(written) in table, metric.name
    for fragment in ("| fakes | 40 | 48 | lite0 |", "| fakes at the reference's N (mean of 5 subsets) | 32 | 48 |",
                     "| **held-out real (val+test): compare with this** | 32 | 48 |", "NOT what a perfect generator"):
        assert fragment in table, fragment
    row = compare_row(written, "x")
    assert list(row) == COMPARE_ROW_KEYS
    assert all(row[m.compare] == m.value(written) for m in registry.compare_metrics())
    assert row["kid_std"] == written["kid_std"]
    assert [m.title for m in registry.compare_metrics()] == COMPARE_HEADINGS
    assert "| " + " | ".join(["model", "class", "N fake", "N real", "extractor", *COMPARE_HEADINGS]) + " |" \
        in compare_markdown([row])
    same_n, real = reference_rows(written, "x")
    assert (same_n["row"], same_n["n_fake"], same_n["fd"]) == ("fakes at the reference's N", 32,
                                                                written["reference"]["fakes_same_n"]["fd"])
    assert (real["row"], real["model"], real["fd"]) == ("held-out real", "held-out real (val+test, N=32)",
                                                        written["reference"]["fd"])
    assert real["c2st_auc"] == written["reference"]["c2st"]["auc"] and real["memorized"] is None


def test_definitions_are_consistent_and_feed_the_piqa_code():
    names = [m.name for m in registry.all_metrics()]
    assert len(names) == len(set(names)) and len(names) == 5 * 2 + 6 + 2 + 2 + 1
    assert all(m.better in (registry.HIGHER, registry.LOWER, None) and m.table in registry.TABLES
               for m in registry.all_metrics())
    assert iqa.IQA_METRICS == ("psnr", "ssim", "ms_gmsd", "mdsi", "haarpsi")
    assert iqa.LABELS == {"psnr": "PSNR", "ssim": "SSIM", "ms_gmsd": "MS-GMSD", "mdsi": "MDSI", "haarpsi": "HaarPSI"}
    assert iqa.DIVERSITY_METRICS == ("ssim", "haarpsi")
    assert registry.direction(("kid_mean",)) == "lower" and registry.direction(("kid_std",)) is None
    assert registry.get("fd").column(extractor="lite0") == "FD_lite0 ↓"
    assert registry.get("diversity.ssim").column() == "SSIM" and registry.get("diversity.ssim").title == "SSIM"


@pytest.mark.parametrize("clash", ["name", "path", "compare", "table", "better"])
def test_a_definition_that_clashes_is_refused(monkeypatch, clash):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    fields = {"name": "toy", "label": "toy", "better": HIGHER, "path": ("toy",), "table": DISTRIBUTION}
    fields.update({"name": {"name": "fd"}, "path": {"path": ("fd",)}, "compare": {"compare": "fd"},
                   "table": {"table": "nowhere"}, "better": {"better": "up"}}[clash])
    with pytest.raises(ValueError):
        registry.register(Metric(**fields))


def test_a_new_metric_is_one_definition(monkeypatch, written, tmp_path):
    """Registered once, a metric shows up in metrics.md, in --compare and in metric_bars.png."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry.register(Metric("toy_score", "toy", HIGHER, ("toy_score",), table=DISTRIBUTION, compare="toy_score",
                             records=(("toy_n",),), bar=Bar("unit")))
    metrics = {**written, "toy_score": 0.25, "toy_n": 7}
    assert "toy ↑" in metrics_markdown(metrics) and "| 0.25 |" in metrics_markdown(metrics)
    row = compare_row(metrics, "x")
    assert row["toy_score"] == 0.25 and "toy ↑" in compare_markdown([row])
    labels, heights, _ = figures._bars(metrics, "unit")
    assert labels[-1] == "toy" and heights[-1] == 0.25
    figures.save_metric_bars(metrics, tmp_path / "bars.png")
    assert (tmp_path / "bars.png").stat().st_size > 5000
    # an older metrics.json without it still compares: the cell says the value is missing
    assert compare_row(written, "old")["toy_score"] is None and "| – |" in compare_markdown([compare_row(written, "old")])
