"""Linking from the brand's backend (PUT/DELETE /friends/{id}/member), member IDs moving
between friends, lookup by member ID, and daily link counts in the account's timezone."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from enishi.accounts.service import create_account, create_api_key
from enishi.audit.actor import Actor
from enishi.friends.models import BLOCKED, Friend
from enishi.friends.service import get_friend
from enishi.members.models import MemberLink
from enishi.members.service import link_member, unlink_member
from tests.members.helpers import following_friend

A = "U" + "a" * 32
B = "U" + "b" * 32
C = "U" + "c" * 32


def put(client, api_account, user: str, member: str):
    return client.put(
        f"/api/v1/friends/{user}/member", headers=api_account.headers, json={"member_id": member}
    )


def links(state, user: str) -> list[MemberLink]:
    with state.sessions() as session:
        return list(
            session.scalars(
                select(MemberLink)
                .join(Friend, Friend.id == MemberLink.friend_id)
                .where(Friend.line_user_id == user)
                .order_by(MemberLink.id)
            )
        )


def test_link_and_unlink_by_api(client, api_account, state):
    response = put(client, api_account, A, "  M-100  ")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["member_id"] == "M-100" and body["history"][0]["method"] == "api"
    assert put(client, api_account, A, "M-100").status_code == 200  # idempotent
    assert len(links(state, A)) == 1

    found = client.get("/api/v1/members/M-100", headers=api_account.headers).json()
    assert found["line_user_id"] == A and found["link_method"] == "api"

    assert (
        client.delete(f"/api/v1/friends/{A}/member", headers=api_account.headers).status_code == 204
    )
    assert (
        client.delete(f"/api/v1/friends/{A}/member", headers=api_account.headers).status_code == 204
    )
    [link] = links(state, A)
    assert link.unlinked_at is not None and link.unlinked_by == "api"
    assert client.get("/api/v1/members/M-100", headers=api_account.headers).status_code == 404
    history = client.get(f"/api/v1/friends/{A}/member", headers=api_account.headers).json()
    assert history["member_id"] is None and history["history"][0]["unlinked_by"] == "api"

    # linking again after an unlink is a new link in the history
    put(client, api_account, A, "M-100")
    assert [link.unlinked_at is None for link in links(state, A)] == [False, True]


def test_member_id_moves_between_friends(client, api_account, state):
    put(client, api_account, A, "M-200")
    response = put(client, api_account, B, "M-200")
    assert response.status_code == 200
    with state.sessions() as session:
        assert get_friend(session, api_account.id, A).member_id is None
        assert get_friend(session, api_account.id, B).member_id == "M-200"
    [old] = links(state, A)
    assert old.unlinked_by == "moved" and old.unlinked_at is not None
    found = client.get("/api/v1/members/M-200", headers=api_account.headers).json()
    assert found["line_user_id"] == B

    # a friend's own member ID replaced by another one
    put(client, api_account, B, "M-201")
    assert [(x.member_id, x.unlinked_by) for x in links(state, B)] == [
        ("M-200", "replaced"),
        ("M-201", None),
    ]


def test_bad_input(client, api_account):
    for user, body, status, field in (
        ("not-a-user", {"member_id": "M"}, 422, "line_user_id"),
        (A, {"member_id": ""}, 422, "member_id"),
        (A, {"member_id": "M\u0000X"}, 422, "member_id"),
        (A, {"member_id": "   "}, 422, "member_id"),
        (A, {"member_id": "x" * 201}, 422, "member_id"),
        (A, {}, 422, "member_id"),
        (A, {"member_id": "M", "line_user_id": B}, 422, "line_user_id"),
    ):
        response = client.put(
            f"/api/v1/friends/{user}/member", headers=api_account.headers, json=body
        )
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]["field"] == field
    assert (
        client.delete(f"/api/v1/friends/{C}/member", headers=api_account.headers).status_code == 404
    )
    assert client.get("/api/v1/members/nobody", headers=api_account.headers).status_code == 404
    assert client.put(f"/api/v1/friends/{A}/member", json={"member_id": "M"}).status_code == 401


def test_member_ids_are_per_account(client, api_account, state):
    with state.sessions.begin() as session:
        other = create_account(
            session,
            state.box,
            name="別店",
            channel_id="2000000002",
            channel_secret="s" * 32,
            access_token="t",
        )
        _, key = create_api_key(session, other, "other", actor=Actor.cli())
    other_headers = {"authorization": f"Bearer {key}"}
    put(client, api_account, A, "M-SAME")
    response = client.put(
        f"/api/v1/friends/{B}/member", headers=other_headers, json={"member_id": "M-SAME"}
    )
    assert response.status_code == 200  # the same member ID in another account is no clash
    assert (
        client.get("/api/v1/members/M-SAME", headers=api_account.headers).json()["line_user_id"]
        == A
    )
    assert client.get("/api/v1/members/M-SAME", headers=other_headers).json()["line_user_id"] == B


def test_member_id_with_a_slash(client, api_account):
    assert put(client, api_account, A, "shop/0042").status_code == 200
    found = client.get("/api/v1/members/shop/0042", headers=api_account.headers)
    assert found.status_code == 200 and found.json()["member_id"] == "shop/0042"


def test_daily_counts_across_jst_midnight(client, api_account, state):
    def at(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)

    with state.sessions.begin() as session:
        a, b, c = (following_friend(session, api_account.id, u) for u in (A, B, C))
        link_member(session, a, "M1", method="api", at=at("2025-03-01T14:59:59"))  # 23:59:59 JST
        link_member(session, b, "M2", method="account_link", at=at("2025-03-01T15:00:00"))
        link_member(session, c, "M3", method="api", at=at("2025-03-02T03:00:00"))
        unlink_member(session, c, at=at("2025-03-02T04:00:00"))
        link_member(session, c, "M3", method="api", at=at("2025-03-02T05:00:00"))  # re-link
        link_member(session, a, "M2", method="api", at=at("2025-03-02T16:00:00"))  # moved
        session.add(
            Friend(account_id=api_account.id, line_user_id="U" + "d" * 32, status="following")
        )
        session.add(
            Friend(
                account_id=api_account.id,
                line_user_id="U" + "e" * 32,
                status=BLOCKED,
                member_id="M9",
            )
        )

    def daily(start: str, end: str) -> dict:
        response = client.get(
            "/api/v1/members/links/daily",
            headers=api_account.headers,
            params={"from": start, "to": end},
        )
        assert response.status_code == 200, response.text
        return response.json()

    body = daily("2025-03-01", "2025-03-03")
    assert body["timezone"] == "Asia/Tokyo"
    assert [(d["date"], d["links"], d["new_members"], d["unlinks"]) for d in body["days"]] == [
        ("2025-03-01", 1, 1, 0),
        ("2025-03-02", 3, 2, 1),  # M2 at 00:00 JST, M3, M3 again (not new); M3's unlink
        ("2025-03-03", 1, 0, 2),  # M2 moved to a: a new link, two ended (M1 replaced, b's M2)
    ]
    assert body["total_links"] == 5 and body["total_new_members"] == 3
    # following: a (M2), b (none), c (M3), d (none); e is blocked
    assert body["following_friends"] == 4 and body["linked_following_friends"] == 2
    assert body["linked_share"] == 0.5

    # in UTC the first two links fall on the same day
    assert (
        client.patch(
            "/api/v1/account", headers=api_account.headers, json={"timezone": "UTC"}
        ).status_code
        == 200
    )
    body = daily("2025-03-01", "2025-03-01")
    assert body["timezone"] == "UTC" and body["days"][0]["links"] == 2


def test_daily_counts_bad_ranges(client, api_account):
    url = "/api/v1/members/links/daily"
    for params, status in (
        ({"from": "2025-03-02", "to": "2025-03-01"}, 400),
        ({"from": "2024-01-01", "to": "2025-03-01"}, 400),
        ({"from": "2025-03-01"}, 422),
        ({"from": "yesterday", "to": "2025-03-01"}, 422),
    ):
        response = client.get(url, headers=api_account.headers, params=params)
        assert response.status_code == status, (params, response.text)
        assert response.json()["error"]["message"]
    empty = client.get(
        url, headers=api_account.headers, params={"from": "2025-03-01", "to": "2025-03-01"}
    ).json()
    assert empty["days"] == [{"date": "2025-03-01", "links": 0, "new_members": 0, "unlinks": 0}]
    assert empty["linked_share"] == 0.0
