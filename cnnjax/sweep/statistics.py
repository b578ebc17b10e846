"""The statistics of a sweep's report: a point's runs summarized, and two points compared.

Intervals are two-sided at `CONFIDENCE` with Student's t. A point's: mean ± t·s/√n over its n completed runs
(s the sample std, ddof=1; none for n < 2). A comparison of a and b (a − b): the paired t test on the
differences when both completed the same (seed, data_seed) set of runs (n ≥ 2), else Welch's t test with the
Welch–Satterthwaite degrees of freedom (n ≥ 2 on each side); fewer runs: no comparison. Where the test's
spread is zero (every paired difference the same, or every value of both points alike, as quantised
accuracies can be) the t statistic is undefined: the interval is the difference itself and there is no
p-value.
"""

import dataclasses
import math

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
PAIRED = "paired t"
WELCH = "Welch t"


@dataclasses.dataclass(frozen=True)
class Described:
    """A point's values summarized: n, mean, sample std (ddof=1), the t interval of the mean, min, max (std
    and interval None for n < 2)."""

    n: int
    mean: float
    std: float | None
    interval: tuple[float, float] | None
    min: float
    max: float


@dataclasses.dataclass(frozen=True)
class Compared:
    """a − b: the difference of the means, its interval, the test's p-value (None where the spread is zero)
    and which test (`PAIRED`, `WELCH`)."""

    test: str
    difference: float
    interval: tuple[float, float]
    p_value: float | None


def describe(values: list[float]) -> Described | None:
    """`values` summarized (module docstring); None when there are none."""
    if not values:
        return None
    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    if len(x) < 2:
        return Described(1, mean, None, None, mean, mean)
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, len(x) - 1)) * std / math.sqrt(len(x))
    return Described(len(x), mean, std, (mean - half, mean + half), float(x.min()), float(x.max()))


def compare(a: dict, b: dict) -> Compared | None:
    """a − b for two points' values keyed by run (the (seed, data_seed) pair): paired when the keys are the
    same, else Welch (module docstring); None when the runs are too few."""
    if a.keys() == b.keys() and len(a) >= 2:
        keys = sorted(a)
        differences = [a[k] - b[k] for k in keys]
        difference = float(np.mean(differences))
        if _no_spread(differences):
            return Compared(PAIRED, difference, (difference, difference), None)
        result = stats.ttest_rel([a[k] for k in keys], [b[k] for k in keys])
        return Compared(PAIRED, difference, _interval(result), float(result.pvalue))
    if len(a) >= 2 and len(b) >= 2:
        difference = float(np.mean(list(a.values())) - np.mean(list(b.values())))
        if _no_spread(list(a.values())) and _no_spread(list(b.values())):
            return Compared(WELCH, difference, (difference, difference), None)
        result = stats.ttest_ind(list(a.values()), list(b.values()), equal_var=False)
        return Compared(WELCH, difference, _interval(result), float(result.pvalue))
    return None


def _no_spread(values: list[float]) -> bool:
    """Whether `values` are all alike to within rounding (their spread below 1e-9 of their magnitude)."""
    x = np.asarray(values, dtype=np.float64)
    return float(np.ptp(x)) <= 1e-9 * max(float(np.abs(x).max()), 1e-12)


def _interval(result) -> tuple[float, float]:
    low, high = result.confidence_interval(CONFIDENCE)
    return float(low), float(high)
