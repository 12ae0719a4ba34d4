"""The recency / frequency analysis against hand-computed numbers (both backends).

The small world, as of the end of 2025-05-31 in Tokyo (look-back 180 days, purchases in the
30 days after):

| friend | clicks (days before as-of) | purchases | in the population |
|---|---|---|---|
| A | 3 (the delivery), 10 | ¥3,000 after 5 days | yes |
| B | exactly 7 | — | yes |
| C | 7 days + 1 s (the delivery) | ¥1,000 after 1 day, ¥500 after 40 | yes |
| D | 200 | ¥2,000 after 2 days | yes |
| E | never | ¥800 the day before | yes |
| F | 1 | ¥9,999 | no: blocked |
| G | 1 | — | no: followed after as-of |
| H | only after as-of | — | yes (never, as of then) |
| I | 23 h, and 2 days after as-of (the delivery) | — | yes |
"""

from __future__ import annotations

from datetime import date

import pytest

from enishi.accounts.models import Account
from enishi.analytics.click_reports import frequency_report, recency_report
from enishi.analytics.click_segments import ClickFilter
from enishi.analytics.clicks import ClickAnalysisParams, analyse_clicks, as_of_moment
from tests.analytics.dataset import AS_OF, build_small_world


@pytest.fixture
def world(client, api_account):
    return build_small_world(client, api_account.headers, api_account.id)


def run(state, account_id, **kwargs):
    with state.sessions() as session:
        account = session.get(Account, account_id)
        options = {"lookback_days": 180, "frequency_edges": (1, 2, 3, 5, 10, 20), **kwargs}
        params = ClickAnalysisParams(as_of=AS_OF, min_group=1, **options)
        analysis = analyse_clicks(session, account, params)
        return recency_report(analysis), frequency_report(analysis)


def by_key(report):
    return {b["key"]: (b["friends"], b["purchasers"], b["revenue_jpy"]) for b in report["buckets"]}


def test_as_of_a_date_is_the_end_of_that_day_in_the_account_zone(state, api_account):
    with state.sessions() as session:
        account = session.get(Account, api_account.id)
        assert as_of_moment(account, date(2025, 5, 31), "after", 30) == AS_OF


def test_recency_buckets_by_hand(state, world):
    recency, _ = run(state, world.account_id)
    buckets = by_key(recency)
    assert buckets["0-7"] == (3, 1, 3000)  # A (3 days), B (exactly 7), I (23 h)
    assert buckets["8-14"] == (1, 1, 1000)  # C (7 days + 1 s); ¥500 after 40 days left out
    assert buckets["older"] == (1, 1, 2000)  # D
    assert buckets["never"] == (2, 0, 0)  # E (bought before as-of only), H
    assert sum(f for f, _, _ in buckets.values()) == 7
    assert recency["population"]["friends"] == 7
    assert recency["population"]["purchase_rate"] == pytest.approx(3 / 7)
    zero_seven = next(b for b in recency["buckets"] if b["key"] == "0-7")
    assert zero_seven["purchase_rate"] == pytest.approx(1 / 3)
    assert zero_seven["revenue_per_friend"] == pytest.approx(1000)
    assert zero_seven["segment_definition"] == {
        "version": 1,
        "where": {"clicked": {"within_days": 7}},
    }
    assert {d["days"]: d["friends"] for d in recency["daily"]} == {1: 1, 3: 1, 7: 1, 8: 1}


def test_frequency_buckets_by_hand(state, world):
    _, frequency = run(state, world.account_id)
    buckets = by_key(frequency)
    assert buckets["0"] == (3, 1, 2000)  # D, E, H
    assert buckets["1"] == (3, 1, 1000)  # B, C, I (I's second click is after as-of)
    assert buckets["2"] == (1, 1, 3000)  # A
    assert buckets["3-4"] == buckets["20-"] == (0, 0, 0)
    two = next(b for b in frequency["buckets"] if b["key"] == "2")
    assert two["segment_definition"]["where"] == {"click_count": {"eq": 2, "within_days": 180}}


def test_delivery_filter_counts_only_its_links(state, world):
    recency, frequency = run(
        state, world.account_id, click_filter=ClickFilter(delivery_id=world.delivery_id)
    )
    buckets = by_key(recency)
    assert buckets["0-7"] == (1, 1, 3000)  # A's delivery click, 3 days
    assert buckets["8-14"] == (1, 1, 1000)  # C
    assert buckets["never"] == (5, 1, 2000)  # B, D, E, H, I (I's is after as-of)
    assert by_key(frequency)["1"] == (2, 2, 4000)
    assert recency["filter"] == {"delivery_id": world.delivery_id}
    assert recency["buckets"][0]["segment_definition"]["where"] == {
        "clicked": {"within_days": 7, "delivery_id": world.delivery_id}
    }


def test_link_filter(state, world):
    recency, _ = run(state, world.account_id, click_filter=ClickFilter(link_id=world.other_link))
    buckets = by_key(recency)
    assert buckets["0-7"] == (2, 0, 0)  # B (7), I (23 h)
    assert buckets["8-14"] == (1, 1, 3000)  # A's other-link click, 10 days
    assert buckets["older"] == (1, 1, 2000)  # D


def test_outcome_in_the_period(state, world):
    recency, _ = run(state, world.account_id, outcome="period")
    buckets = by_key(recency)
    assert buckets["never"] == (2, 1, 800)  # E's purchase the day before as-of
    assert buckets["0-7"] == (3, 0, 0)
    assert recency["outcome"]["from_inclusive"] is True


def test_bucket_width_and_lookback(state, world):
    recency, frequency = run(
        state, world.account_id, bucket_days=3, lookback_days=9, frequency_edges=(1, 3)
    )
    buckets = by_key(recency)
    assert list(buckets) == ["0-3", "4-6", "7-9", "older", "never"]
    assert buckets["0-3"] == (2, 1, 3000)  # I, A
    assert buckets["7-9"] == (2, 1, 1000)  # B (7), C (8)
    assert buckets["older"] == (1, 1, 2000)  # D
    counts = by_key(frequency)
    assert list(counts) == ["0", "1-2", "3-"]
    assert counts["0"] == (3, 1, 2000)  # D, E, H
    assert counts["1-2"] == (4, 2, 4000)  # A (its 10-day click is outside), B, C, I
