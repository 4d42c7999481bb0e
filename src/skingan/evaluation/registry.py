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
DISTRIBUTION, PIQA, DIVERSITY, MEMORISATION = "distribution", "piqa", "diversity", "memorisation"
TABLES = (DISTRIBUTION, PIQA, DIVERSITY, MEMORISATION)
# The two pairings the five full-reference PIQA metrics are computed under (top-level keys of metrics.json).
PIQA_PROTOCOLS = ("iqa_seed", "iqa_nn")


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
        """Its metrics.md cell."""
        return self.cell(metrics) if self.cell is not None else self.format(self.value(metrics))

    @property
    def written(self) -> tuple[KeyPath, ...]:
        """Every metrics.json entry this definition accounts for."""
        return (self.path, *self.records, *self.compare_extra)


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
    protocol=("extractor", "fd_sqrt"), bar=Bar("fd", "FD"),
    help="Fréchet distance between Gaussian fits of real and fake features (FD_lite0 unless inception)",
))
register(Metric(
    "fd_noise_floor", "FD floor", LOWER, ("fd_noise_floor",), table=DISTRIBUTION,
    heading="FD noise floor {arrow}", records=(("fd_noise_floor_n",),), compare="fd_noise_floor",
    cell=lambda m: f"{fmt(m['fd_noise_floor'])} (2×{m['fd_noise_floor_n']})",
    bar=Bar("fd", "noise floor", color="C7"),
    help="FD between two random disjoint halves of the real reference: what 'as good as real' looks like at this N",
))
register(Metric(
    "kid", "KID", LOWER, ("kid_mean",), table=DISTRIBUTION, heading="{label} {arrow} (mean ± std)",
    records=(("kid_subsets",), ("kid_subset_size",)), compare="kid_mean", compare_extra=(("kid_std",),),
    cell=lambda m: f"{fmt(m['kid_mean'])} ± {fmt(m['kid_std'])}",
    help="unbiased polynomial-kernel MMD², mean ± std over random subsets",
))
register(Metric("precision", "precision", HIGHER, ("precision",), table=DISTRIBUTION, compare="precision",
                protocol=("k_precision_recall",), bar=Bar("unit"),
                help="share of fakes inside the real k-NN manifold (Kynkäänniemi 2019)"))
register(Metric("recall", "recall", HIGHER, ("recall",), table=DISTRIBUTION, compare="recall",
                protocol=("k_precision_recall",), bar=Bar("unit"),
                help="share of reals inside the fake k-NN manifold"))
register(Metric("density", "density", HIGHER, ("density",), table=DISTRIBUTION, compare="density",
                protocol=("k_density_coverage",), bar=Bar("unit"),
                help="real-neighbourhood hits per fake, can exceed 1 (Naeem 2020)"))
register(Metric("coverage", "coverage", HIGHER, ("coverage",), table=DISTRIBUTION, compare="coverage",
                protocol=("k_density_coverage",), bar=Bar("unit"),
                help="share of reals with a fake inside their neighbourhood"))

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
        "n_fake", "n_train", "n_heldout", "threshold_percentile", "threshold", "expected_fraction_if_like_real",
        "fake_nn_distance", "heldout_nn_distance", "closest_pairs")),
    help="share of fakes nearer a training image than the 1st percentile of real val→train distances",
))
