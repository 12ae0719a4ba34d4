"""The analysis equals a plain-Python computation from the raw rows (friends, clicks,
conversions) over the segment tests' random world, whose clicks sit on day boundaries
often — for several as-of moments, outcome windows and filters (both backends)."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import select

from enishi.accounts.models import Account
from enishi.analytics.click_segments import ClickFilter
from enishi.analytics.clicks import ClickAnalysisParams, analyse_clicks
from enishi.analytics.falloff import Tally
from enishi.friends.models import Friend
from enishi.tracking.models import Click, Conversion
from tests.segments.dataset import NOW, build_world

DAY = timedelta(days=1)


@pytest.fixture
def world(state):
    with state.sessions.begin() as session:
        return build_world(session, state.box)


def reference(session, account_id: int, params: ClickAnalysisParams):
    as_of, since, cap = params.as_of, params.since, params.cap
    flt = params.click_filter
    friends = session.execute(
        select(Friend.id, Friend.status, Friend.first_followed_at, Friend.created_at).where(
            Friend.account_id == account_id
        )
    ).all()
    population = [
        f.id
        for f in friends
        if f.status == "following" and (f.first_followed_at or f.created_at) <= as_of
    ]
    clicks = defaultdict(list)
    for c in session.execute(select(Click).where(Click.account_id == account_id)).scalars():
        if c.friend_id is None or c.clicked_at > as_of:
            continue
        if flt.delivery_id is not None and c.delivery_id != flt.delivery_id:
            continue
        if flt.link_id is not None and c.link_id != flt.link_id:
            continue
        clicks[c.friend_id].append(c.clicked_at)
    start, end = params.outcome_window()
    bought = defaultdict(list)
    for c in session.execute(
        select(Conversion).where(Conversion.account_id == account_id)
    ).scalars():
        inside = start < c.occurred_at if params.outcome == "after" else start <= c.occurred_at
        if c.friend_id is not None and inside and c.occurred_at <= end:
            bought[c.friend_id].append(c.amount_jpy)
    per_day = defaultdict(lambda: Tally(0, 0, 0))
    per_count = defaultdict(lambda: Tally(0, 0, 0))
    for fid in population:
        tally = Tally(1, 1 if bought[fid] else 0, sum(bought[fid]))
        times = clicks[fid]
        if not times:
            key = "never"
        else:
            elapsed = (as_of - max(times)).total_seconds()
            days = math.ceil(elapsed / 86400)
            key = days if days <= params.lookback_days else "older"
        per_day[key] = per_day[key] + tally
        count = min(cap, sum(1 for t in times if t >= since))
        per_count[count] = per_count[count] + tally
    return per_day, per_count


CASES = [
    {"as_of": NOW, "outcome": "period"},
    {"as_of": NOW - 60 * DAY, "outcome": "after", "outcome_days": 30},
    {"as_of": NOW - 100 * DAY + timedelta(hours=5), "lookback_days": 30},
    {"as_of": NOW, "outcome": "period", "frequency_edges": (1, 2, 4)},
    {"as_of": NOW - 7 * DAY, "lookback_days": 200, "frequency_edges": (2, 3, 5, 8)},
]


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("filtered", ["none", "delivery", "link"])
def test_matches_the_reference(state, world, case, filtered):
    flt = ClickFilter()
    if filtered == "delivery":
        flt = ClickFilter(delivery_id=world.deliveries[0])
    elif filtered == "link":
        flt = ClickFilter(link_id=next(iter(world.links)))
    params = ClickAnalysisParams(click_filter=flt, **CASES[case])
    with state.sessions() as session:
        account = session.get(Account, world.account_id)
        analysis = analyse_clicks(session, account, params)
        per_day, per_count = reference(session, world.account_id, params)
    got_days = {d: t for d, t in enumerate(analysis.per_day) if t.friends}
    got_days.update(
        {k: v for k, v in (("older", analysis.older), ("never", analysis.never)) if v.friends}
    )
    assert got_days == dict(per_day)
    assert {k: t for k, t in enumerate(analysis.per_count) if t.friends} == dict(per_count)
    assert sum(t.friends for t in per_day.values()) > 50  # the world is not empty
