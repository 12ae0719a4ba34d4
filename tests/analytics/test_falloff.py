"""The fall-off detector: the step fit on plain tallies, Newcombe's published example, and a
planted fall-off at 50 days found in the database (both backends)."""

from __future__ import annotations

import pytest

from enishi.accounts.models import Account
from enishi.analytics.click_reports import falloff_dict
from enishi.analytics.clicks import ClickAnalysisParams, analyse_clicks
from enishi.analytics.falloff import Tally, best_cut, newcombe, wilson
from enishi.segments.service import count_segment
from tests.analytics.dataset import AS_OF, build_planted_falloff


def step(cut: int, length: int, high: int, low: int, n: int = 20) -> list[Tally]:
    return [Tally(n, high if d <= cut else low, 0) for d in range(length)]


def test_newcombe_matches_the_published_example():
    # Newcombe (1998), Stat Med 17:873, table II example (a): 56/70 − 48/80 → 0.0524, 0.3339
    lower, upper = newcombe(Tally(70, 56, 0), Tally(80, 48, 0))
    assert lower == pytest.approx(0.0524, abs=5e-5)
    assert upper == pytest.approx(0.3339, abs=5e-5)


def test_wilson_interval_holds_the_rate_and_stays_in_bounds():
    assert wilson(0, 10)[0] == 0.0
    low, high = wilson(5, 10)
    assert low == pytest.approx(1 - high)  # symmetric at one half
    assert low < 0.5 < high


def test_an_exact_step_is_found_where_it_is():
    cut = best_cut(step(30, 100, high=8, low=2), min_group=1)
    assert cut is not None and cut.cut == 30
    assert cut.inside == Tally(31 * 20, 31 * 8, 0)
    assert cut.difference == pytest.approx(0.3)
    assert cut.ci95[0] < 0.3 < cut.ci95[1]


def test_a_rising_rate_is_no_falloff():
    assert best_cut(step(30, 100, high=2, low=8), min_group=1) is None
    flat = [Tally(20, 4, 0)] * 50
    assert best_cut(flat, min_group=1) is None


def test_min_group_keeps_tiny_sides_out():
    # five friends at day 0 who all bought, then a flat 20%: unrestricted, the cut is day 0;
    # with at least 40 friends a side, the smallest admissible inside (days 0..2) wins
    tallies = [Tally(5, 5, 0)] + [Tally(20, 4, 0)] * 99
    assert best_cut(tallies, min_group=1).cut == 0
    cut = best_cut(tallies, min_group=40)
    assert cut is not None and cut.cut == 2
    assert cut.inside == Tally(45, 13, 0)


def test_frequency_threshold_counts_from_the_top():
    # 0..9 clicks; friends with 4+ buy at 40%, fewer at 10%
    tallies = [Tally(50, 20 if k >= 4 else 5, 0) for k in range(10)]
    cut = best_cut(tallies, min_group=1, inside_low=False)
    assert cut is not None and cut.cut == 4
    assert cut.inside == Tally(300, 120, 0)


@pytest.fixture
def planted(state):
    with state.sessions.begin() as session:
        return build_planted_falloff(session, state.box)


def test_planted_falloff_at_50_days_is_found(state, planted):
    with state.sessions() as session:
        account = session.get(Account, planted)
        analysis = analyse_clicks(session, account, ClickAnalysisParams(as_of=AS_OF))
        found = falloff_dict(analysis)
        assert found is not None
        assert found["days"] == 50
        assert found["label"] == "50日以内にクリック"
        inside, outside = found["inside"], found["outside"]
        # default look-back is 90 days: outside = clicked 51..90 days ago
        assert (inside["friends"], inside["purchasers"]) == (1000, 300)
        assert (outside["friends"], outside["purchasers"]) == (800, 40)
        assert inside["purchase_rate"] == pytest.approx(0.30)
        assert outside["purchase_rate"] == pytest.approx(0.05)
        low, high = found["difference_ci95"]
        assert 0 < low < 0.25 < high
        # the complement is everyone else: 51..120 days (1,400) and never (300)
        assert found["complement"]["friends"] == 1700
        assert found["complement"]["purchasers"] == 70 * 1 + 15
        # the segments say the same as of the analysis moment
        inside_def = found["inside"]["segment_definition"]
        assert inside_def == {"version": 1, "where": {"clicked": {"within_days": 50}}}
        assert count_segment(session, planted, inside_def, now=AS_OF) == 1000
        complement = found["complement"]["segment_definition"]
        assert complement == {"version": 1, "where": {"clicked": {"not_within_days": 50}}}
        assert count_segment(session, planted, complement, now=AS_OF) == 1700
        outside_def = found["outside"]["segment_definition"]
        assert count_segment(session, planted, outside_def, now=AS_OF) == 800


def test_every_bucket_definition_counts_its_bucket(state, planted):
    with state.sessions() as session:
        account = session.get(Account, planted)
        params = ClickAnalysisParams(as_of=AS_OF, lookback_days=100, bucket_days=10)
        analysis = analyse_clicks(session, account, params)
        for bucket in analysis.recency_buckets() + analysis.frequency_buckets():
            counted = count_segment(session, planted, bucket.definition, now=AS_OF)
            assert counted == bucket.tally.friends, bucket.key
