"""The statistics behind delivery reports: 95% confidence intervals for a difference of two
proportions (Newcombe's hybrid score interval) and of two means (Welch), with Student's t
quantile computed here (regularized incomplete beta) rather than by adding scipy.

Pure functions over counts and sums, so the database only has to aggregate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

Z95 = 1.959963984540054  # the standard normal's 0.975 quantile: two-sided 95%
_T_AS_NORMAL_DF = 1e7  # beyond this many degrees of freedom t and z agree to 1e-7


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95% confidence interval (bounds None when not computable)."""

    estimate: float
    low: float | None
    high: float | None

    @property
    def significant(self) -> bool:
        """The interval excludes 0 (a two-sided test at the 5% level)."""
        if self.low is None or self.high is None:
            return False
        return self.low > 0 or self.high < 0

    def scaled(self, factor: float) -> Interval:
        """The same interval for `factor` × the quantity (factor > 0)."""
        return replace(
            self,
            estimate=self.estimate * factor,
            low=None if self.low is None else self.low * factor,
            high=None if self.high is None else self.high * factor,
        )


@dataclass(frozen=True)
class Sample:
    """A per-person quantity summarised by n, Σx and Σx² (what SQL aggregates give)."""

    n: int
    total: float
    total_sq: float

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    @property
    def variance(self) -> float | None:
        """The unbiased sample variance; None below two people."""
        if self.n < 2:
            return None
        return max(0.0, (self.total_sq - self.total * self.total / self.n) / (self.n - 1))


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a proportion (good also near 0 and 1, unlike Wald)."""
    if n <= 0:
        raise ValueError("n must be positive")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion_difference(x1: int, n1: int, x2: int, n2: int) -> Interval | None:
    """p1 − p2 with Newcombe's hybrid score interval (1998, method 10): Wilson intervals of
    each proportion combined; keeps its coverage with few successes, where Wald fails.
    None when a group is empty."""
    if n1 <= 0 or n2 <= 0:
        return None
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1)
    l2, u2 = wilson(x2, n2)
    below = math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    above = math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    d = p1 - p2
    return Interval(d, d - below, d + above)


@dataclass(frozen=True)
class WelchInterval(Interval):
    df: float | None = None  # Welch–Satterthwaite degrees of freedom


def mean_difference(a: Sample, b: Sample) -> WelchInterval | None:
    """mean(a) − mean(b) with Welch's interval (unequal variances), t on the
    Welch–Satterthwaite degrees of freedom. Bounds are None below two people per group;
    None when a group is empty."""
    if a.n == 0 or b.n == 0:
        return None
    d = a.total / a.n - b.total / b.n
    va, vb = a.variance, b.variance
    if va is None or vb is None:
        return WelchInterval(d, None, None)
    sa, sb = va / a.n, vb / b.n
    se2 = sa + sb
    if se2 == 0:  # nobody differs from their group's mean: nothing is uncertain
        return WelchInterval(d, d, d)
    df = se2 * se2 / (sa * sa / (a.n - 1) + sb * sb / (b.n - 1))
    half = t_critical(df) * math.sqrt(se2)
    return WelchInterval(d, d - half, d + half, df)


# --- Student's t -----------------------------------------------------------------------------
def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((a + m2 - 1) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T ≤ t) for Student's t with `df` (> 0, not necessarily whole) degrees of freedom."""
    tail = 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t >= 0 else tail


def t_critical(df: float) -> float:
    """The two-sided 95% critical value of Student's t (its 0.975 quantile), by bisection
    on `t_cdf`; the normal's for practically infinite `df`."""
    if df <= 0:
        raise ValueError("df must be positive")
    if df > _T_AS_NORMAL_DF:
        return Z95
    low, high = Z95, 2 * Z95
    while t_cdf(high, df) < 0.975:
        low, high = high, high * 2
    for _ in range(100):
        middle = (low + high) / 2
        if t_cdf(middle, df) < 0.975:
            low = middle
        else:
            high = middle
        if high - low < 1e-12 * high:
            break
    return (low + high) / 2
