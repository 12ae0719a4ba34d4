"""The report statistics against published values: Newcombe (1998) for Wilson and hybrid
score intervals, Student's t tables, and Welch's test on Wikipedia's worked example."""

from __future__ import annotations

import math

import pytest

from enishi.delivery.stats import (
    Z95,
    Interval,
    Sample,
    incomplete_beta,
    mean_difference,
    proportion_difference,
    t_cdf,
    t_critical,
    wilson,
)


@pytest.mark.parametrize(
    "x, n, low, high",
    [  # Newcombe RG, Statistics in Medicine 17:857-872 (1998), Table I, method 3
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombe(x, n, low, high):
    got = wilson(x, n)
    assert round(got[0], 4) == low and round(got[1], 4) == high


@pytest.mark.parametrize(
    "x1, n1, x2, n2, low, high",
    [  # Newcombe RG, Statistics in Medicine 17:873-890 (1998), Table II, method 10
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (6, 7, 2, 7, 0.0582, 0.8062),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
        (0, 10, 0, 10, -0.2775, 0.2775),
        (10, 10, 0, 20, 0.6791, 1.0),
        (10, 10, 0, 10, 0.6075, 1.0),
    ],
)
def test_newcombe_difference_matches_the_paper(x1, n1, x2, n2, low, high):
    got = proportion_difference(x1, n1, x2, n2)
    assert got.estimate == pytest.approx(x1 / n1 - x2 / n2)
    assert round(got.low, 4) == low and round(got.high, 4) == high


def test_newcombe_significance_and_empty_groups():
    assert proportion_difference(56, 70, 48, 80).significant
    assert not proportion_difference(5, 56, 0, 29).significant
    assert proportion_difference(1, 0, 1, 10) is None


@pytest.mark.parametrize(
    "df, value",
    [  # two-sided 95% critical values of Student's t (any statistics table)
        (1, 12.706205),
        (2, 4.302653),
        (3, 3.182446),
        (5, 2.570582),
        (10, 2.228139),
        (30, 2.042272),
        (120, 1.979930),
    ],
)
def test_t_critical_matches_tables(df, value):
    assert t_critical(df) == pytest.approx(value, abs=5e-7)


def test_t_distribution_closed_forms():
    # df = 1 is Cauchy: P(T <= t) = 1/2 + atan(t)/pi; df = 2: 1/2 + t / (2 sqrt(2 + t²))
    for t in (-3.0, -0.5, 0.0, 0.7, 4.0):
        assert t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
        assert t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)
    assert incomplete_beta(2, 3, 0.4) == pytest.approx(0.5248, abs=1e-12)  # 1-(0.6^4+4*0.4*0.6^3)
    assert t_critical(2.5) > t_critical(3) > t_critical(1e9) == Z95  # fractional df work too


def test_welch_on_wikipedias_example():
    # https://en.wikipedia.org/wiki/Welch%27s_t-test, example 1: t = -2.46, df = 24.99
    a1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
    a2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]
    got = mean_difference(sample(a1), sample(a2))
    se = (got.high - got.estimate) / t_critical(got.df)
    assert round(got.df, 2) == 24.99 and round(got.estimate / se, 2) == -2.46
    assert got.estimate == pytest.approx(sum(a1) / 15 - sum(a2) / 15)
    assert got.high < 0 and got.significant  # p = 0.021 < 0.05
    # the half-width by hand: t(24.99) × sqrt(s1²/n1 + s2²/n2)
    var = [sum((x - sum(v) / 15) ** 2 for x in v) / 14 for v in (a1, a2)]
    half = t_critical(got.df) * math.sqrt(var[0] / 15 + var[1] / 15)
    assert got.low == pytest.approx(got.estimate - half, rel=1e-12)


def test_welch_edge_cases():
    assert mean_difference(Sample(0, 0, 0), Sample(5, 10, 20)) is None
    one = mean_difference(Sample(1, 7, 49), Sample(5, 10, 30))
    assert one.estimate == 5 and one.low is None and not one.significant
    flat = mean_difference(Sample(4, 8, 16), Sample(3, 3, 3))  # no spread in either group
    assert (flat.low, flat.high) == (1, 1) and flat.significant


def test_sample_variance_and_scaling():
    s = sample([0, 0, 0, 1000, 3000])
    assert s.mean == 800 and s.variance == pytest.approx(1_700_000)
    scaled = Interval(0.5, -0.25, 1.0).scaled(4)
    assert (scaled.estimate, scaled.low, scaled.high) == (2.0, -1.0, 4.0)
    assert not scaled.significant and Interval(1, 0.1, 2).significant


def sample(values: list[float]) -> Sample:
    return Sample(len(values), sum(values), sum(v * v for v in values))
