"""Statistics of many seeds: each port's spread, and whether two ports differ or are
equivalent within a margin.

Two questions, two tests, at ``ALPHA``; Welch's (unequal variances) for independent
runs, and on the per-seed differences for paired ones:

- **Do the distributions differ?** Welch's two-sided t-test of equal means.
- **Are they equivalent?** TOST, two one-sided Welch tests: the difference of means lies
  within ``±margin``. The margin is :data:`MARGIN_SDS` of the seed-to-seed sd (the two
  ports' sds pooled): a port difference smaller than that moves a result less than
  changing the seed does, so no user could tell which port trained a model.

Paired runs (same seeds sharing weights or orders across ports) add the per-seed
differences and the correlation across seeds: how much of a result the shared part fixes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
#: The equivalence margin in seed-to-seed sds.
MARGIN_SDS = 0.5

EQUIVALENT, DIFFER, CANNOT_TELL, IDENTICAL = (
    "equivalent",
    "differ",
    "cannot be told apart",
    "identical",
)


@dataclass(frozen=True)
class Summary:
    """One port's results over seeds: mean, sd and the 95% t-interval of the mean."""

    n: int
    mean: float
    sd: float
    low: float
    high: float

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(values: Sequence[float]) -> Summary:
    x = np.asarray(values, np.float64)
    n, mean = len(x), float(np.mean(x))
    sd = float(np.std(x, ddof=1)) if n > 1 else 0.0
    half = float(stats.t.ppf(1 - ALPHA / 2, n - 1)) * sd / math.sqrt(n) if n > 1 else math.nan
    return Summary(n, mean, sd, mean - half, mean + half)


@dataclass(frozen=True)
class PortTest:
    """Port b against port a for one metric: the difference of means (b - a) with its
    95% interval, Welch's p of "the means differ", the margin and TOST's p of "the means
    are within it", and what the two say together."""

    difference: float
    low: float
    high: float
    p_differ: float
    margin: float
    p_equivalent: float
    verdict: str
    # paired runs only: the per-seed differences' sd and the correlation across seeds
    paired_sd: float | None = None
    correlation: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def pooled_sd(a: Sequence[float], b: Sequence[float]) -> float:
    sa, sb = np.std(a, ddof=1), np.std(b, ddof=1)
    na, nb = len(a), len(b)
    return float(math.sqrt(((na - 1) * sa**2 + (nb - 1) * sb**2) / (na + nb - 2)))


def welch(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """(mean b - mean a, its standard error, Welch-Satterthwaite degrees of freedom)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    se = math.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se > 0 else math.inf
    return float(np.mean(b) - np.mean(a)), se, float(dof)


def paired_t(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """(mean of b - a, its standard error, n - 1): the t statistic's parts when a[i] and
    b[i] come from one seed."""
    d = np.asarray(b, np.float64) - np.asarray(a, np.float64)
    return float(np.mean(d)), float(np.std(d, ddof=1) / math.sqrt(len(d))), float(len(d) - 1)


def tost(a: Sequence[float], b: Sequence[float], margin: float) -> float:
    """TOST's p-value for ``|mean b - mean a| < margin``: the larger of the two one-sided
    Welch tests' (H0: difference <= -margin; H0: difference >= margin)."""
    return _tost(*welch(a, b), margin)


def _tost(diff: float, se: float, dof: float, margin: float) -> float:
    if se == 0:
        return 0.0 if abs(diff) < margin else 1.0
    p_low = stats.t.sf((diff + margin) / se, dof)
    p_high = stats.t.cdf((diff - margin) / se, dof)
    return float(max(p_low, p_high))


def verdict(p_differ: float, p_equivalent: float) -> str:
    """Equivalent when TOST rejects "outside the margin" (even if a difference smaller
    than the margin is significant); differ when only Welch rejects; else cannot tell."""
    if p_equivalent < ALPHA:
        return EQUIVALENT
    if p_differ < ALPHA:
        return DIFFER
    return CANNOT_TELL


def compare_ports(
    a: Sequence[float], b: Sequence[float], margin: float, paired: bool = False
) -> PortTest:
    """Port b's results against port a's over seeds, with ``margin`` (absolute units).
    ``paired``: a[i] and b[i] come from the same seed: the tests are on the differences
    b[i] - a[i], and the result adds their sd and the correlation across seeds."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if np.array_equal(a, b):
        return PortTest(0.0, 0.0, 0.0, 1.0, margin, 0.0, IDENTICAL, *((0.0, 1.0) if paired else ()))
    diff, se, dof = paired_t(a, b) if paired else welch(a, b)
    half = float(stats.t.ppf(1 - ALPHA / 2, dof)) * se if se > 0 else 0.0
    p_differ = float(2 * stats.t.sf(abs(diff) / se, dof)) if se > 0 else float(diff == 0)
    p_equivalent = _tost(diff, se, dof, margin)
    extra = {}
    if paired:
        corr = float(np.corrcoef(a, b)[0, 1]) if np.std(a) > 0 and np.std(b) > 0 else math.nan
        extra = {"paired_sd": float(np.std(b - a, ddof=1)), "correlation": corr}
    return PortTest(
        diff, diff - half, diff + half, p_differ, margin, p_equivalent,
        verdict(p_differ, p_equivalent), **extra,
    )  # fmt: skip


def smallest_margin(n: int) -> float:
    """The smallest margin, in sds, that TOST with ``n`` seeds per port can establish
    when the true difference is 0 and the estimate lands on it."""
    return float(stats.t.ppf(1 - ALPHA, 2 * n - 2) * math.sqrt(2 / n))
