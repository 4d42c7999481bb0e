"""Power of the study's paired t-test across seeds: the smallest detectable difference and the seeds needed.

Both use the observed standard deviation of the paired (condition − reference) differences, which with a
handful of seeds is itself uncertain: read them as the order of magnitude the design can resolve. Alpha is
the per-comparison two-sided level (1 − study.ci), before the Holm adjustment, so under multiplicity the
true minimum detectable difference is, if anything, larger.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
from statsmodels.stats.power import TTestPower

POWER = 0.8
TARGET_EFFECT = 0.02  # the AUC difference `seeds_for_0.02` is sized for


@functools.lru_cache(maxsize=256)
def detectable_effect_size(pairs: int, alpha: float, power: float = POWER) -> float:
    """Cohen's d (mean / SD of the differences) a two-sided paired t-test on `pairs` pairs detects with `power`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = TTestPower().solve_power(effect_size=None, nobs=pairs, alpha=alpha, power=power,
                                     alternative="two-sided")
    # statsmodels' root finder sometimes returns a 1-element array, and for a two-sided test may land on the
    # negative root (seen at 73 pairs: -0.332); the detectable effect is its magnitude
    values = np.abs(np.asarray(d, dtype=float).reshape(-1))
    return float(values[0]) if values.size else float("nan")


def minimum_detectable_difference(sd: float, pairs: int, alpha: float, power: float = POWER) -> float:
    """The mean paired difference a two-sided paired t-test at `alpha` detects with `power`, given the SD of the
    differences and the number of pairs; NaN when sd is 0 or not finite or pairs < 2."""
    if pairs < 2 or not np.isfinite(sd) or sd <= 0:
        return float("nan")
    d = detectable_effect_size(int(pairs), float(alpha), float(power))
    return d * sd if np.isfinite(d) else float("nan")


def seeds_needed(sd: float, pairs: int, alpha: float, effect: float = TARGET_EFFECT, power: float = POWER) -> float:
    """How many seed pairs a two-sided paired t-test at `alpha` needs to detect ±`effect` with `power`, given the
    observed SD of the differences (at least 2); NaN when sd is 0 or not finite or pairs < 2.

    The smallest n whose detectable effect size is at most |effect| / sd (it falls as n grows), found by
    bisection over `detectable_effect_size`, which solves near the target power where the noncentral t is
    well behaved (statsmodels' power itself turns NaN for very large effect sizes)."""
    if pairs < 2 or not np.isfinite(sd) or sd <= 0 or effect == 0:
        return float("nan")
    size = abs(effect) / sd

    def enough(n: int) -> bool:
        d = detectable_effect_size(n, float(alpha), float(power))
        return bool(np.isfinite(d) and d <= size)

    if enough(2):
        return 2.0
    low, high = 2, 4
    while not enough(high):
        if high > 10**7:
            return float("nan")
        low, high = high, high * 2
    while high - low > 1:  # enough(high) and not enough(low)
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return float(high)
