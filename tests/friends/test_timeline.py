"""GET /friends/{id}/timeline: one newest-first stream over seven sources, paged exactly."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select

from enishi.friends.models import FollowHistory, Friend, FriendActivity
from enishi.kit.pagination import encode_cursor
from enishi.members.models import MemberLink
from enishi.tracking.models import Click, Conversion, CustomEvent, Link
from tests.friends.conftest import T0, make_friend, uid

API = "/api/v1"


def _build(state, account_id, seed=7):
    """A friend with ~120 entries whose times collide often, within and across tables; and
    a second friend whose entries must never show. The expected stream as (kind, data key)."""
    rng = random.Random(seed)

    def moment():
        return T0 + timedelta(minutes=rng.randrange(12))  # few instants: many ties

    expected = []
    with state.sessions.begin() as session:
        friend = make_friend(session, account_id, 1)
        other = make_friend(session, account_id, 2)
        link = Link(account_id=account_id, url="https://shop.example/sale", delivery_id=77)
        session.add(link)
        session.flush()
        for who in (friend, other):
            for i in range(17):
                at = moment()
                session.add(
                    FollowHistory(
                        friend_id=who.id, kind=("follow", "block", "unblock")[i % 3], at=at
                    )
                )
                session.add(
                    FriendActivity(
                        account_id=account_id,
                        friend_id=who.id,
                        kind="message",
                        at=moment(),
                        data={"text": f"m{i}"},
                    )
                )
                session.add(
                    FriendActivity(
                        account_id=account_id,
                        friend_id=who.id,
                        kind="member_linked",
                        at=moment(),
                        data={},
                    )
                )
                session.add(
                    Click(
                        account_id=account_id,
                        link_id=link.id,
                        friend_id=who.id,
                        delivery_id=77,
                        clicked_at=moment(),
                    )
                )
                session.add(
                    Conversion(
                        account_id=account_id,
                        order_id=f"o-{who.id}-{i}",
                        friend_id=who.id,
                        amount_jpy=1000 + i,
                        occurred_at=moment(),
                    )
                )
                session.add(
                    CustomEvent(
                        account_id=account_id,
                        event_id=f"e-{who.id}-{i}",
                        name="cart_added",
                        friend_id=who.id,
                        properties={"sku": f"s{i}"},
                        occurred_at=moment(),
                    )
                )
                session.add(
                    MemberLink(
                        account_id=account_id,
                        friend_id=who.id,
                        member_id=f"M{i}",
                        method="api",
                        linked_at=moment(),
                        unlinked_at=moment() if i % 2 else None,
                        unlinked_by="api" if i % 2 else None,
                    )
                )
        session.flush()
        fid = friend.id
    with state.sessions() as session:
        rank = {
            "follow_history": 1,
            "friend_activity": 2,
            "clicks": 3,
            "conversions": 4,
            "custom_events": 5,
            "member_links": 6,
        }
        for row in session.query(FollowHistory).filter_by(friend_id=fid):
            expected.append(((row.at, rank["follow_history"], row.id), row.kind))
        for row in session.query(FriendActivity).filter_by(friend_id=fid, kind="message"):
            expected.append(((row.at, 2, row.id), "message"))
        for row in session.query(Click).filter_by(friend_id=fid):
            expected.append(((row.clicked_at, 3, row.id), "click"))
        for row in session.query(Conversion).filter_by(friend_id=fid):
            expected.append(((row.occurred_at, 4, row.id), "conversion"))
        for row in session.query(CustomEvent).filter_by(friend_id=fid):
            expected.append(((row.occurred_at, 5, row.id), "event"))
        for row in session.query(MemberLink).filter_by(friend_id=fid):
            expected.append(((row.linked_at, 7, row.id), "member_linked"))
            if row.unlinked_at:
                expected.append(((row.unlinked_at, 6, row.id), "member_unlinked"))
    expected.sort(reverse=True)
    return [(key[0], kind, key[2]) for key, kind in expected]


def _page_through(client, headers, limit):
    items, cursor, pages = [], None, 0
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get(f"{API}/friends/{uid(1)}/timeline", headers=headers, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        items += body["items"]
        cursor = body["next_cursor"]
        pages += 1
        if cursor is None:
            return items, pages


def test_paging_is_exact_with_ties_across_sources(client, state, api_account):
    expected = _build(state, api_account.id)
    assert len(expected) == 17 * 6 + 8
    whole, _ = _page_through(client, api_account.headers, 500)
    assert [(i["kind"], i["id"]) for i in whole] == [(k, i) for _, k, i in expected]
    times = [i["at"] for i in whole]
    assert times == sorted(times, reverse=True)
    for limit in (1, 2, 3, 7, 16, 109, 110, 111):
        items, pages = _page_through(client, api_account.headers, limit)
        assert [(i["source"], i["kind"], i["id"]) for i in items] == [
            (i["source"], i["kind"], i["id"]) for i in whole
        ], limit
        assert pages == -(-len(expected) // limit), limit


def test_entries_carry_their_data(client, state, api_account):
    _build(state, api_account.id)
    items, _ = _page_through(client, api_account.headers, 500)
    by_kind = {}
    for item in items:
        by_kind.setdefault(item["kind"], item)
    assert by_kind["click"]["data"] == {
        "link_id": by_kind["click"]["data"]["link_id"],
        "url": "https://shop.example/sale",
        "delivery_id": 77,
    }
    assert by_kind["conversion"]["data"]["order_id"].startswith("o-")
    assert 1000 <= by_kind["conversion"]["data"]["amount_jpy"] < 1017
    assert by_kind["event"]["data"]["name"] == "cart_added"
    assert by_kind["event"]["data"]["properties"]["sku"].startswith("s")
    assert by_kind["message"]["data"]["text"].startswith("m")
    assert by_kind["member_unlinked"]["data"]["reason"] == "api"
    assert by_kind["member_linked"]["source"] == "member_links"  # not the activity copy
    assert {i["kind"] for i in items} == {
        "follow",
        "block",
        "unblock",
        "message",
        "click",
        "conversion",
        "event",
        "member_linked",
        "member_unlinked",
    }


def test_new_entries_do_not_disturb_a_walk_in_progress(client, state, api_account):
    """Entries newer than the cursor (added mid-walk) appear on no later page; the older
    ones are all still delivered once."""
    expected = _build(state, api_account.id)
    h = api_account.headers
    first = client.get(f"{API}/friends/{uid(1)}/timeline", headers=h, params={"limit": 10}).json()
    with state.sessions.begin() as session:
        fid = session.scalar(select(Friend.id).where(Friend.line_user_id == uid(1)))
        session.add(
            FriendActivity(
                account_id=api_account.id,
                friend_id=fid,
                kind="message",
                at=T0 + timedelta(days=9),
                data={},
            )
        )
    rest, cursor = [], first["next_cursor"]
    while cursor:
        body = client.get(
            f"{API}/friends/{uid(1)}/timeline", headers=h, params={"limit": 10, "cursor": cursor}
        ).json()
        rest += body["items"]
        cursor = body["next_cursor"]
    assert [i["id"] for i in first["items"] + rest] == [i for _, _, i in expected]


def test_bad_cursor_and_limits(client, state, api_account):
    _build(state, api_account.id)
    h = api_account.headers
    for cursor in (
        "nope",
        encode_cursor([1, 2]),
        encode_cursor(["2026-01-01T00:00:00", 1, 1]),
        encode_cursor(["yesterday", 1, 1]),
        encode_cursor(["2026-01-01T00:00:00+00:00", "a", 1]),
    ):
        response = client.get(
            f"{API}/friends/{uid(1)}/timeline", headers=h, params={"cursor": cursor}
        )
        assert response.status_code == 400, cursor
        assert response.json()["error"]["field"] == "cursor"
    assert (
        client.get(f"{API}/friends/{uid(1)}/timeline", headers=h, params={"limit": 501}).json()[
            "error"
        ]["field"]
        == "limit"
    )
    empty = client.get(f"{API}/friends/{uid(5)}/timeline", headers=h)
    assert empty.status_code == 404
