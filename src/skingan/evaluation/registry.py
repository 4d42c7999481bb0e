"""Every metric evaluate-gan reports, each defined once: its name, direction, place in metrics.json, the
fields recorded with it, its label and how it is shown.

metrics.md (`tables.py`), `evaluate-gan --compare` (`compare.py`), metric_bars.png (`figures.py`), the PIQA
code (`iqa.py`) and `skingan report` all read these definitions; none keeps its own list of names or arrows.
Adding a metric is one `register(Metric(...))` here, the code that computes its value, and a test; the test
in tests/test_eval_registry.py fails while metrics.json holds a key no definition claims, or the reverse.

    register(Metric("fd_inf", "FD∞", LOWER, ("fd_inf",), table=DISTRIBUTION, compare="fd_inf",
                    records=(("fd_inf_n",),), help="FD extrapolated to infinitely many fakes"))

This module imports nothing from skingan, so anything may import it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

HIGHER, LOWER = "higher", "lower"
Better = Literal["higher", "lower"] | None  # None: no single direction (the label or help says what is good)
ARROWS = {HIGHER: "↑", LOWER: "↓", None: ""}
KeyPath = tuple[str, ...]  # keys from the top of metrics.json down to a value: ("iqa_seed", "psnr", "mean")

# The metrics.md tables, in the order the file shows them (their layout is in tables.py).
DISTRIBUTION, C2ST, PIQA, DIVERSITY, MEMORISATION = "distribution", "c2st", "piqa", "diversity", "memorisation"
TABLES = (DISTRIBUTION, C2ST, PIQA, DIVERSITY, MEMORISATION)
# The two pairings the five full-reference PIQA metrics are computed under (top-level keys of metrics.json).
PIQA_PROTOCOLS = ("iqa_seed", "iqa_nn")
# The matched real reference: held-out real images of the class scored exactly like the fakes. A metric with
# `reference=True` has its value for those reals at ("reference", *its path) (reference.py computes them).
REFERENCE = "reference"
# When fewer held-out reals than fakes exist, the fakes are also scored at the reals' N (same keys, mean over
# random subsets) at ("reference", FAKES_SAME_N, ...); null when the reals were subsampled to the fakes' N.
FAKES_SAME_N = "fakes_same_n"
# metrics.json entries that describe a record rather than hold a metric's value (claimed here, not by a Metric).
DESCRIPTIONS: dict[KeyPath, str] = {
    (REFERENCE, "n"): "images in the matched real reference (N of the row)",
    (REFERENCE, "n_available"): "held-out real images of the class available",
    (REFERENCE, "splits"): "the prepared splits the held-out reals come from (never train)",
    (REFERENCE, "how"): "how N was matched: subsampled without replacement, or the fakes scored at the reals' N",
    (REFERENCE, "reason"): "why the reference is missing (null when it was measured)",
    (REFERENCE, FAKES_SAME_N): "the fakes at the reference's N (null unless the reals were fewer than the fakes)",
    (REFERENCE, FAKES_SAME_N, "n"): "the reference's N, at which the fakes were scored again",
    (REFERENCE, FAKES_SAME_N, "draws"): "random subsets of the fakes averaged",
    ("fd_real_halves",): "FD between two random disjoint halves of the real reference set: FD's small-sample bias "
                         "at N/2 vs N/2, NOT what a perfect generator scores (the reference row is that)",
    ("fd_real_halves_n",): "images per half",
}


def fmt(value: object, digits: int = 4) -> str:
    """A table cell: 4 significant digits, one decimal from 10,000 up, '–' for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:.1f}"
    return str(value)


def lookup(record: Mapping, path: KeyPath) -> Any:
    """The value at `path` in a metrics.json dict; KeyError naming the dotted path when it is absent."""
    value: Any = record
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            raise KeyError(".".join(path))
        value = value[key]
    return value


@dataclass(frozen=True)
class Bar:
    """Where a metric is drawn in metric_bars.png."""

    panel: str  # "fd" | "unit" | "piqa": figures.py lays the panels out
    label: str | None = None  # tick label (default: the metric's label)
    divide: float = 1.0  # drawn as value / divide, said in the tick label (PSNR / 40 beside [0, 1] scores)
    color: str | None = None  # default: the panel's colour


@dataclass(frozen=True)
class Metric:
    """One number of metrics.json and everything the tables, figures and report need to show it."""

    name: str  # unique registry key
    label: str  # short name: the --compare column is "label arrow"
    better: Better
    path: KeyPath  # where its value lives in metrics.json
    table: str  # which metrics.md table shows it (TABLES)
    records: tuple[KeyPath, ...] = ()  # other metrics.json entries written with it (spread, counts, k, pairs…)
    protocol: tuple[str, ...] = ()  # metrics.json["protocol"] fields its value depends on
    heading: str = "{label} {arrow}"  # its metrics.md column; may use {extractor}
    cell: Callable[[Mapping], str] | None = None  # its metrics.md cell from the whole record (default: format)
    compare: str | None = None  # its key in --compare rows (compare.csv/.json) and a column of compare.md
    compare_extra: tuple[KeyPath, ...] = ()  # more values for the compare rows (keyed by the last key), no column
    bar: Bar | None = None  # drawn in metric_bars.png when set
    reference: bool = False  # the matched real reference has its own value at ("reference", *path)
    format: Callable[[Any], str] = fmt
    help: str = ""

    @property
    def arrow(self) -> str:
        return ARROWS[self.better]

    @property
    def title(self) -> str:
        """'FD ↓': the label and its arrow (the --compare column heading)."""
        return f"{self.label} {self.arrow}".rstrip()

    @property
    def group(self) -> str:
        """The top-level key holding a nested value ('iqa_seed' for iqa_seed.psnr.mean), '' for a top-level one."""
        return self.path[0] if len(self.path) > 1 else ""

    def column(self, **context: object) -> str:
        """Its metrics.md column heading (the heading template filled in)."""
        return self.heading.format(label=self.label, arrow=self.arrow, **context).rstrip()

    def value(self, metrics: Mapping) -> Any:
        """Its value in a metrics.json dict; None when absent (a file written before the metric existed)."""
        try:
            return lookup(metrics, self.path)
        except KeyError:
            return None

    def text(self, metrics: Mapping) -> str:
        """Its metrics.md cell ('–' when the record lacks the value: an older file, or a row without it)."""
        if self.value(metrics) is None:
            return fmt(None)
        return self.cell(metrics) if self.cell is not None else self.format(self.value(metrics))

    @property
    def own(self) -> tuple[KeyPath, ...]:
        """Its value and the entries written with it, relative to the record that holds them."""
        return (self.path, *self.records, *self.compare_extra)

    @property
    def written(self) -> tuple[KeyPath, ...]:
        """Every metrics.json entry this definition accounts for (its reference twins included)."""
        twins = tuple((REFERENCE, *p) for p in self.own) if self.reference else ()
        twins += tuple((REFERENCE, FAKES_SAME_N, *p) for p in self.own if self.table == DISTRIBUTION) \
            if self.reference else ()
        return (*self.own, *twins)


_REGISTRY: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    """Add a definition; a name, value path or compare key used twice is a programming error."""
    if metric.name in _REGISTRY:
        raise ValueError(f"metric '{metric.name}' is registered twice")
    if metric.better not in ARROWS:
        raise ValueError(f"metric '{metric.name}': better={metric.better!r}; accepted: higher, lower, None")
    if metric.table not in TABLES:
        raise ValueError(f"metric '{metric.name}': table {metric.table!r}; accepted: {', '.join(TABLES)}")
    for other in _REGISTRY.values():
        if other.path == metric.path:
            raise ValueError(f"metrics '{other.name}' and '{metric.name}' both live at {'.'.join(metric.path)}")
        if metric.compare is not None and other.compare == metric.compare:
            raise ValueError(f"metrics '{other.name}' and '{metric.name}' share the compare key {metric.compare}")
    _REGISTRY[metric.name] = metric
    return metric


def get(name: str) -> Metric:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no metric '{name}'; registered: {', '.join(_REGISTRY)}") from None


def all_metrics(table: str | None = None) -> list[Metric]:
    """The definitions in registration order, optionally those of one metrics.md table."""
    return [m for m in _REGISTRY.values() if table is None or m.table == table]


def all_written() -> set[KeyPath]:
    """Every metrics.json entry (below the protocol) that a definition or a description claims."""
    return {path for metric in _REGISTRY.values() for path in metric.written} | set(DESCRIPTIONS)


def compare_metrics() -> list[Metric]:
    """The columns of `evaluate-gan --compare`, in registration order."""
    return [m for m in _REGISTRY.values() if m.compare is not None]


def piqa_measures() -> list[str]:
    """The PIQA measures ('psnr', 'ssim', …) in column order, as iqa.py computes them."""
    return list(dict.fromkeys(m.path[1] for m in all_metrics(PIQA)))


def direction(path: KeyPath) -> Better:
    """The direction of the metric stored at `path`, None when no metric lives there."""
    return next((m.better for m in _REGISTRY.values() if m.path == path), None)


# ---------------------------------------------------------------- the definitions
# Registration order is the column order of --compare: the original study's five PIQA columns come first.

def _piqa(key: str, label: str, better: Better, *, divide: float = 1.0) -> None:
    """One full-reference PIQA measure (piqa, images in [0, 1]), recorded under both pairings; the seed
    pairing's mean is the --compare column, as in the original study's table."""
    for protocol in PIQA_PROTOCOLS:
        register(Metric(
            f"{protocol}.{key}", label, better, (protocol, key, "mean"), table=PIQA,
            records=((protocol, key, "std"), (protocol, key, "n"), (protocol, key, "better"), (protocol, "pairing")),
            compare=key if protocol == "iqa_seed" else None, bar=Bar("piqa", divide=divide),
        ))


_piqa("psnr", "PSNR", HIGHER, divide=40)
_piqa("ssim", "SSIM", HIGHER)
_piqa("ms_gmsd", "MS-GMSD", LOWER)  # a distance (the original write-up read it the wrong way)
_piqa("mdsi", "MDSI", LOWER)
_piqa("haarpsi", "HaarPSI", HIGHER)

register(Metric(
    "fd", "FD", LOWER, ("fd",), table=DISTRIBUTION, heading="FD_{extractor} {arrow}", compare="fd",
    protocol=("extractor", "fd_sqrt"), bar=Bar("fd", "FD"), reference=True,
    help="Fréchet distance between Gaussian fits of real and fake features (FD_lite0 unless inception)",
))
register(Metric(
    "kid", "KID", LOWER, ("kid_mean",), table=DISTRIBUTION, heading="{label} {arrow} (mean ± std)",
    records=(("kid_subsets",), ("kid_subset_size",)), compare="kid_mean", compare_extra=(("kid_std",),),
    cell=lambda m: f"{fmt(m['kid_mean'])} ± {fmt(m['kid_std'])}", reference=True,
    help="unbiased polynomial-kernel MMD², mean ± std over random subsets",
))
register(Metric("precision", "precision", HIGHER, ("precision",), table=DISTRIBUTION, compare="precision",
                protocol=("k_precision_recall",), bar=Bar("unit"), reference=True,
                help="share of fakes inside the real k-NN manifold (Kynkäänniemi 2019)"))
register(Metric("recall", "recall", HIGHER, ("recall",), table=DISTRIBUTION, compare="recall",
                protocol=("k_precision_recall",), bar=Bar("unit"), reference=True,
                help="share of reals inside the fake k-NN manifold"))
register(Metric("density", "density", HIGHER, ("density",), table=DISTRIBUTION, compare="density",
                protocol=("k_density_coverage",), bar=Bar("unit"), reference=True,
                help="real-neighbourhood hits per fake, can exceed 1 (Naeem 2020)"))
register(Metric("coverage", "coverage", HIGHER, ("coverage",), table=DISTRIBUTION, compare="coverage",
                protocol=("k_density_coverage",), bar=Bar("unit"), reference=True,
                help="share of reals with a fake inside their neighbourhood"))

# Classifier two-sample tests (c2st.py; two_sample.py runs them). AUC 0.5 = indistinguishable, 1 = told apart
# every time: no arrow, the heading says which way is good.
_C2ST_RECORDS = ("ci", "level", "n", "folds", "size", "epochs", "network", "how", "reason")


def _auc_cell(record: Mapping) -> str:
    return f"{fmt(record['auc'])} [{fmt(record['ci'][0])}, {fmt(record['ci'][1])}]"


# When the as-classifier-sees AUC's lower 95 % bound exceeds this, a from-scratch CNN tells almost every
# synthetic image from a real one as the classifier receives them (AUC 0.9: "excellent" discrimination), and
# the tables say so loudly. The lower bound, not the AUC, so that a few dozen images do not raise it by chance.
SHORTCUT_AUC = 0.9


register(Metric(
    "c2st", "C2ST AUC", None, ("c2st", "auc"), table=C2ST, heading="{label} (0.5 = like real) [95 % CI]",
    records=tuple(("c2st", key) for key in _C2ST_RECORDS), compare="c2st_auc", reference=True,
    cell=lambda m: _auc_cell(m["c2st"]),
    help="a small CNN trained from scratch tells the fakes from held-out reals of the class, out of fold, both "
         "at the fakes' resolution resized to the classifier's input size",
))
register(Metric(
    "c2st_as_classifier_sees", "C2ST AUC as the classifier sees", None, ("c2st_as_classifier_sees", "auc"),
    table=C2ST, heading="{label} [95 % CI]", compare="c2st_seen_auc",
    records=tuple(("c2st_as_classifier_sees", key) for key in (*_C2ST_RECORDS, "shortcut", "rule", "verdict")),
    cell=lambda m: _auc_cell(m["c2st_as_classifier_sees"]),
    help="the same test on the images as the classifier receives them: synthetic PNGs through its synthetic "
         "loading path, held-out reals from the prepared cache at its size, its normalisation; high = a "
         "format/resolution shortcut",
))

for _key, _label in (("ssim", "SSIM"), ("haarpsi", "HaarPSI")):
    register(Metric(
        f"diversity.{_key}", _label, None, ("diversity", _key, "fake"), table=DIVERSITY,
        records=(("diversity", _key, "real"), ("diversity", _key, "ratio"), ("diversity", "pairs"),
                 ("diversity", "better")),
        help="mean pairwise similarity among fakes; close to the reals' value is good, far above it is mode collapse",
    ))

register(Metric(
    "memorized", "memorised", LOWER, ("memorization", "fraction_below_threshold"), table=MEMORISATION,
    heading="fakes below {arrow}", compare="memorized",
    records=tuple(("memorization", key) for key in (
        "n_fake", "n_train", "n_heldout", "heldout_split", "reason", "threshold_percentile", "threshold",
        "expected_fraction_if_like_real", "fake_nn_distance", "heldout_nn_distance", "closest_pairs")),
    help="share of fakes nearer a training image than the 1st percentile of real held-out→train distances "
         "(val, else test; null with a reason when neither has 2 images of the class)",
))
