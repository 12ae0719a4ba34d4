"""The overview's daily series against a hand-made history (both backends).

Account in Tokyo, period 2025-05-01..05-03 (JST). Friends:

| friend | history | status now |
|---|---|---|
| f1 | follow 04-20 | following |
| f2 | follow 05-01 10:00, block 05-02 12:00, unblock 05-03 09:00 | following |
| f3 | follow 05-03 00:30 JST (05-02 in UTC) | following |
| f4 | follow 04-01, block 05-05 (after the period) | blocked |
| f5 | imported (no history), block 05-01 08:00 | blocked |
| f6 | follow 04-10, follow again 05-02 (no change) | following |

Following at the end of each day: 4 (f1 f2 f4 f6), 3 (f1 f4 f6), 5 (all but f5); at the
start 4 (f1 f4 f5 f6).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from enishi.accounts.models import Account
from enishi.accounts.service import create_account, create_api_key
from enishi.analytics.overview import overview, period_days
from enishi.audit.actor import Actor
from enishi.delivery.models import Delivery
from enishi.friends.models import FollowHistory, Friend
from enishi.members.models import MemberLink
from enishi.sending.models import OutboundRequest
from enishi.tracking.models import Click, Conversion, Link

JST = ZoneInfo("Asia/Tokyo")


def jst(month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=JST).astimezone(UTC)


def build_history(session, box) -> int:
    account = create_account(
        session,
        box,
        name="概要店",
        channel_id="2000000401",
        channel_secret="s" * 32,
        access_token="t",
    )
    account.monthly_quota = 1000
    other = create_account(
        session,
        box,
        name="他店",
        channel_id="2000000402",
        channel_secret="s" * 32,
        access_token="t",
    )
    histories = {
        "f1": ("following", [("follow", jst(4, 20))]),
        "f2": (
            "following",
            [("follow", jst(5, 1, 10)), ("block", jst(5, 2, 12)), ("unblock", jst(5, 3, 9))],
        ),
        "f3": ("following", [("follow", jst(5, 3, 0, 30))]),
        "f4": ("blocked", [("follow", jst(4, 1)), ("block", jst(5, 5))]),
        "f5": ("blocked", [("block", jst(5, 1, 8))]),
        "f6": ("following", [("follow", jst(4, 10)), ("follow", jst(5, 2, 15))]),
    }
    ids = {}
    for n, (name, (status, events)) in enumerate(histories.items()):
        friend = Friend(account_id=account.id, line_user_id=f"U{n + 1:032x}", status=status)
        session.add(friend)
        session.flush()
        ids[name] = friend.id
        for kind, at in events:
            session.add(FollowHistory(friend_id=friend.id, kind=kind, at=at))
    stranger = Friend(account_id=other.id, line_user_id=f"U{99:032x}", status="following")
    session.add(stranger)
    session.flush()
    session.add(FollowHistory(friend_id=stranger.id, kind="follow", at=jst(5, 2)))
    for name, linked, unlinked in (
        ("f1", jst(4, 25), None),
        ("f2", jst(5, 1, 12), None),
        ("f6", jst(5, 2), jst(5, 3, 10)),
        ("f3", jst(5, 4), None),
    ):
        session.add(
            MemberLink(
                account_id=account.id,
                friend_id=ids[name],
                member_id=name,
                method="api",
                linked_at=linked,
                unlinked_at=unlinked,
            )
        )
    session.add(
        MemberLink(
            account_id=other.id,
            friend_id=stranger.id,
            member_id="x",
            method="api",
            linked_at=jst(5, 2),
        )
    )
    delivery = Delivery(account_id=account.id, name="d", audience={"type": "all"}, arms=[], seed=1)
    session.add(delivery)
    session.flush()
    for n, (count, status, sent_at) in enumerate(
        [
            (100, "sent", jst(5, 1, 20)),
            (20, "sent", datetime(2025, 4, 30, 23, 0, tzinfo=UTC)),  # 05-01 08:00 in Tokyo
            (50, "sent", jst(5, 3, 10)),
            (70, "failed", jst(5, 2, 10)),
            (30, "sent", jst(4, 30, 10)),  # April: before the period, another month
        ]
    ):
        session.add(
            OutboundRequest(
                source="delivery",
                source_id=delivery.id,
                account_id=account.id,
                kind="multicast",
                retry_key=f"k{n}",
                payload={},
                recipient_count=count,
                friend_lo=1,
                friend_hi=2,
                status=status,
                sent_at=sent_at,
            )
        )
    link = Link(account_id=account.id, url="https://shop.example/", delivery_id=delivery.id)
    session.add(link)
    session.flush()
    for at in (jst(5, 1, 9), jst(5, 1, 21), jst(5, 3, 0, 30), jst(4, 30, 23)):
        session.add(
            Click(
                account_id=account.id,
                link_id=link.id,
                friend_id=ids["f1"],
                delivery_id=delivery.id,
                clicked_at=at,
            )
        )
    for n, (amount, at, attributed) in enumerate(
        [
            (1000, jst(5, 1, 22), True),
            (500, jst(5, 3, 8), False),
            (2000, jst(5, 3, 23), True),
            (7000, jst(5, 4, 1), True),
        ]
    ):
        session.add(
            Conversion(
                account_id=account.id,
                order_id=f"o{n}",
                friend_id=ids["f1"],
                amount_jpy=amount,
                occurred_at=at,
                attributed_delivery_id=delivery.id if attributed else None,
            )
        )
    session.flush()
    return account.id


@pytest.fixture
def report(state):
    with state.sessions.begin() as session:
        account_id = build_history(session, state.box)
    with state.sessions() as session:
        account = session.get(Account, account_id)
        return overview(session, account, date(2025, 5, 1), date(2025, 5, 3))


def series(report, name):
    return [day[name] for day in report["daily"]]


def test_friends_and_blocks(report):
    assert [d["date"] for d in report["daily"]] == [date(2025, 5, d) for d in (1, 2, 3)]
    assert series(report, "following") == [4, 3, 5]
    assert series(report, "new_friends") == [1, 0, 1]  # f2; f3 (05-02 in UTC, 05-03 here)
    assert series(report, "refollows") == [0, 0, 1]
    assert series(report, "blocks") == [1, 1, 0]
    # blocks / (following at the day's start + that day's follows)
    assert series(report, "block_rate") == pytest.approx([1 / 5, 1 / 4, 0])
    totals = report["totals"]
    assert (totals["following_start"], totals["following_end"]) == (4, 5)
    assert totals["block_rate"] == pytest.approx(2 / 7)


def test_member_links(report):
    assert series(report, "member_links") == [1, 1, 0]
    assert series(report, "linked") == [2, 3, 2]
    assert series(report, "linked_share") == pytest.approx([2 / 4, 3 / 3, 2 / 5])
    assert report["totals"]["linked_share_end"] == pytest.approx(2 / 5)


def test_messages_clicks_purchases_and_roas(report):
    assert series(report, "messages_sent") == [120, 0, 50]
    assert series(report, "cost_jpy") == [360, 0, 150]  # 3 yen a message
    assert series(report, "clicks") == [2, 0, 1]
    assert series(report, "conversions") == [1, 0, 2]
    assert series(report, "revenue_jpy") == [1000, 0, 2500]
    assert series(report, "attributed_revenue_jpy") == [1000, 0, 2000]
    assert series(report, "roas") == pytest.approx([1000 / 360, None, 2000 / 150])
    assert report["totals"]["roas"] == pytest.approx(3000 / 510)
    assert report["months"] == [{"month": "2025-05", "sent": 170, "limit": 1000}]


def test_days_follow_daylight_saving_time(state):
    """New York springs forward on 2025-03-09: that day has 23 hours."""
    zone = ZoneInfo("America/New_York")
    with state.sessions.begin() as session:
        account = create_account(
            session,
            state.box,
            name="NY",
            channel_id="2000000403",
            channel_secret="s" * 32,
            access_token="t",
            timezone="America/New_York",
        )
        link = Link(account_id=account.id, url="https://shop.example/")
        session.add(link)
        session.flush()
        local = [
            datetime(2025, 3, 8, 23, 59, tzinfo=zone),
            datetime(2025, 3, 9, 0, 0, tzinfo=zone),
            datetime(2025, 3, 9, 1, 59, tzinfo=zone),
            datetime(2025, 3, 9, 3, 0, tzinfo=zone),  # right after the jump
            datetime(2025, 3, 9, 23, 59, 59, tzinfo=zone),
            datetime(2025, 3, 10, 0, 0, tzinfo=zone),
        ]
        for at in local:
            session.add(Click(account_id=account.id, link_id=link.id, clicked_at=at))
        account_id = account.id
    with state.sessions() as session:
        account = session.get(Account, account_id)
        report = overview(session, account, date(2025, 3, 8), date(2025, 3, 10))
    assert series(report, "clicks") == [1, 4, 1]


def test_default_period_is_the_30_days_to_today(state):
    with state.sessions.begin() as session:
        account = create_account(
            session,
            state.box,
            name="既定",
            channel_id="2000000404",
            channel_secret="s" * 32,
            access_token="t",
        )
        now = datetime(2025, 5, 31, 16, 0, tzinfo=UTC)  # 06-01 01:00 in Tokyo
        assert period_days(account, None, None, now=now) == (date(2025, 5, 3), date(2025, 6, 1))
        assert period_days(account, date(2025, 1, 1), date(2025, 1, 1), now=now) == (
            date(2025, 1, 1),
            date(2025, 1, 1),
        )


def test_overview_api(client, state):
    with state.sessions.begin() as session:
        account_id = build_history(session, state.box)
        _, key = create_api_key(
            session, session.get(Account, account_id), "tests", actor=Actor.cli()
        )
    headers = {"authorization": f"Bearer {key}"}
    response = client.get(
        "/api/v1/analytics/overview",
        params={"from": "2025-05-01", "to": "2025-05-03"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from"], body["to"], body["timezone"]) == (
        "2025-05-01",
        "2025-05-03",
        "Asia/Tokyo",
    )
    assert [d["following"] for d in body["daily"]] == [4, 3, 5]
    assert body["totals"]["messages_sent"] == 170
    assert body["quota"] is None  # a past period: no live quota figures
    today = client.get("/api/v1/analytics/overview", headers=headers).json()
    assert len(today["daily"]) == 30
    assert today["quota"]["limit"] == 1000  # LINE unreachable here: the account's own plan
    bad = client.get(
        "/api/v1/analytics/overview",
        params={"from": "2025-05-03", "to": "2025-05-01"},
        headers=headers,
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "from"
    too_long = client.get(
        "/api/v1/analytics/overview",
        params={"from": "2024-01-01", "to": "2025-05-01"},
        headers=headers,
    )
    assert too_long.status_code == 422
