"""Where the purchase rate falls off: a two-segment step fit over an ordered axis (days since
the last click, or clicks in the period), with the rates on both sides and a confidence
interval of their difference. Pure Python over the per-day (per-count) totals the SQL
returns, so it is cheap whatever the number of friends.

The cut is the maximum-likelihood single changepoint of a Bernoulli step: for every
admissible cut, friends on one side share one purchase probability and on the other side
another; the cut whose two-rate model has the highest binomial log-likelihood wins (the
same as the largest G statistic of the 2×2 table "inside/outside × bought/not"). A cut is
admissible when both sides hold at least `min_group` friends and the rate inside is the
higher one (a fall-off, not a rise). Ties go to the smallest cut. The interval is Newcombe's
hybrid score interval (method 10, from two Wilson intervals), which behaves at small rates
where the textbook ±1.96·SE interval does not. It is computed on the data that chose the
cut, so it is optimistic: read it as "how large the step is", not as a test of whether one
exists.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Tally:
    friends: int
    purchasers: int
    revenue_jpy: int

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.friends + other.friends,
            self.purchasers + other.purchasers,
            self.revenue_jpy + other.revenue_jpy,
        )

    @property
    def rate(self) -> float | None:
        return self.purchasers / self.friends if self.friends else None

    @property
    def revenue_per_friend(self) -> float | None:
        return self.revenue_jpy / self.friends if self.friends else None


EMPTY = Tally(0, 0, 0)


def total(tallies: Sequence[Tally]) -> Tally:
    result = EMPTY
    for tally in tallies:
        result = result + tally
    return result


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(a: Tally, b: Tally, z: float = Z95) -> tuple[float, float]:
    """Newcombe's hybrid score interval of rate(a) − rate(b)."""
    p1, p2 = a.purchasers / a.friends, b.purchasers / b.friends
    l1, u1 = wilson(a.purchasers, a.friends, z)
    l2, u2 = wilson(b.purchasers, b.friends, z)
    difference = p1 - p2
    lower = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return lower, upper


def _loglik(tally: Tally) -> float:
    n, k = tally.friends, tally.purchasers
    result = 0.0
    if k:
        result += k * math.log(k / n)
    if n - k:
        result += (n - k) * math.log((n - k) / n)
    return result


@dataclass(frozen=True)
class Cut:
    """Positions 0..cut form the inside, cut+1..end the outside."""

    cut: int
    inside: Tally
    outside: Tally
    g_statistic: float
    difference: float
    ci95: tuple[float, float]


def best_cut(tallies: Sequence[Tally], min_group: int, *, inside_low: bool = True) -> Cut | None:
    """The step that best explains purchases along `tallies` (ordered positions).

    inside_low: the inside is the low positions (recency: 0..cut days); otherwise it is the
    high positions (frequency: cut..end clicks), reported with `cut` = its first position."""
    order = list(tallies) if inside_low else list(reversed(tallies))
    everyone = total(order)
    if everyone.friends == 0:
        return None
    null = _loglik(everyone)
    best: Cut | None = None
    best_g = -1.0
    running = EMPTY
    for position in range(len(order) - 1):
        running = running + order[position]
        rest = Tally(
            everyone.friends - running.friends,
            everyone.purchasers - running.purchasers,
            everyone.revenue_jpy - running.revenue_jpy,
        )
        if running.friends < min_group or rest.friends < min_group:
            continue
        if running.purchasers * rest.friends <= rest.purchasers * running.friends:
            continue  # inside not higher: no fall-off at this cut
        g = 2 * (_loglik(running) + _loglik(rest) - null)
        if g > best_g * (1 + 1e-12) + 1e-12:
            cut = position if inside_low else len(order) - 1 - position
            best_g = g
            best = Cut(
                cut=cut,
                inside=running,
                outside=rest,
                g_statistic=g,
                difference=running.rate - rest.rate,  # type: ignore[operator]
                ci95=newcombe(running, rest),
            )
    return best
