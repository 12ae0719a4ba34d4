"""GET/PATCH /api/v1/friends: search, filters, pages, counts, the full record, edits."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from enishi.friends.models import BLOCKED, UNKNOWN, FriendActivity
from enishi.friends.service import add_tag, set_attribute
from enishi.inflow.models import InflowRoute
from enishi.kit.pagination import encode_cursor
from tests.friends.conftest import T0, make_friend, uid

API = "/api/v1"


def _seed(state, account_id):
    """30 friends: every 3rd blocked, every 5th tagged vip, even ones from route r1, every
    4th with a member ID, #7 named "Sato_100%"."""
    with state.sessions.begin() as session:
        route = InflowRoute(account_id=account_id, code="store", name="店頭QR")
        session.add(route)
        session.flush()
        for n in range(1, 31):
            friend = make_friend(
                session,
                account_id,
                n,
                status=BLOCKED if n % 3 == 0 else "following",
                inflow_route_id=route.id if n % 2 == 0 else None,
                member_id=f"M{n:04d}" if n % 4 == 0 else None,
                display_name="Sato_100%" if n == 7 else f"佐藤{n}",
            )
            if n % 5 == 0:
                add_tag(session, friend, "vip")
        return route.id


def _all(client, headers, **params):
    items, cursor = [], None
    while True:
        body = client.get(
            f"{API}/friends",
            headers=headers,
            params={**params, **({"cursor": cursor} if cursor else {})},
        ).json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def test_list_pages_filters_and_counts(client, state, api_account):
    route_id = _seed(state, api_account.id)
    h = api_account.headers
    first = client.get(f"{API}/friends", headers=h, params={"limit": 7}).json()
    assert [f["line_user_id"] for f in first["items"]] == [uid(n) for n in range(1, 8)]
    assert first["next_cursor"]
    everyone = _all(client, h, limit=7)
    assert [f["line_user_id"] for f in everyone] == [uid(n) for n in range(1, 31)]
    cases = {
        (("status", "blocked"),): [n for n in range(1, 31) if n % 3 == 0],
        (("tag", "vip"),): [5, 10, 15, 20, 25, 30],
        (("route_id", route_id),): list(range(2, 31, 2)),
        (("has_member", "true"),): list(range(4, 31, 4)),
        (("has_member", "false"), ("status", "following")): [
            n for n in range(1, 31) if n % 4 and n % 3
        ],
        (("q", "佐藤2"),): [2, *range(20, 30)],
        (("q", uid(9)),): [9],
        (("q", "M0012"),): [12],
        (("q", "100%"),): [7],  # % is a literal, not a wildcard
        (("q", "sato_"),): [7],  # case-insensitive, _ literal
        (("q", "_"),): [7],
        (("tag", "nobody-has-this"),): [],
        (("tag", "vip"), ("status", "blocked")): [15, 30],
    }
    for params, expected in cases.items():
        got = _all(client, h, limit=4, **dict(params))
        assert [f["line_user_id"] for f in got] == [uid(n) for n in expected], params
        count = client.get(f"{API}/friends/count", headers=h, params=dict(params)).json()
        assert count == {"count": len(expected)}, params


def test_list_rejects_bad_input(client, state, api_account):
    h = api_account.headers
    for params, status, field in [
        ({"limit": 0}, 400, "limit"),
        ({"limit": 501}, 400, "limit"),
        ({"status": "gone"}, 422, "status"),
        ({"cursor": "!!!"}, 400, "cursor"),
        ({"cursor": encode_cursor("x")}, 400, "cursor"),
        ({"cursor": encode_cursor(-1)}, 400, "cursor"),
        ({"route_id": "abc"}, 422, "route_id"),
        ({"has_member": "perhaps"}, 422, "has_member"),
    ]:
        response = client.get(f"{API}/friends", headers=h, params=params)
        assert response.status_code == status, (params, response.text)
        assert response.json()["error"]["field"] == field, params
    assert client.get(f"{API}/friends").status_code == 401
    assert client.get(f"{API}/friends", headers=h, params={"limit": 500}).status_code == 200


def test_other_accounts_friends_are_invisible(client, state, api_account):
    from enishi.accounts.service import create_account

    with state.sessions.begin() as session:
        other = create_account(
            session,
            state.box,
            name="他店",
            channel_id="2000000002",
            channel_secret="s" * 32,
            access_token="t",
        )
        make_friend(session, other.id, 99)
        make_friend(session, api_account.id, 1)
    h = api_account.headers
    assert [f["line_user_id"] for f in _all(client, h)] == [uid(1)]
    assert client.get(f"{API}/friends/{uid(99)}", headers=h).status_code == 404
    assert (
        client.patch(f"{API}/friends/{uid(99)}", headers=h, json={"notes": "x"}).status_code == 404
    )
    assert client.get(f"{API}/friends/{uid(99)}/timeline", headers=h).status_code == 404


def test_friend_detail(client, state, api_account, attributes):
    with state.sessions.begin() as session:
        route = InflowRoute(account_id=api_account.id, code="ig", name="Instagram")
        session.add(route)
        session.flush()
        friend = make_friend(
            session,
            api_account.id,
            1,
            inflow_route_id=route.id,
            member_id="M1",
            notes="常連",
            click_count=3,
            last_click_at=T0 + timedelta(days=1),
            revenue_jpy=12000,
            purchase_count=2,
            blocked_at=None,
            language="ja",
        )
        add_tag(session, friend, "vip")
        add_tag(session, friend, "新規")
        set_attribute(session, friend, "age", "34")
        set_attribute(session, friend, "birthday", "1992-04-01")
        set_attribute(session, friend, "plan", "gold")
        set_attribute(session, friend, "memo", "  hi ")
    body = client.get(f"{API}/friends/{uid(1)}", headers=api_account.headers).json()
    assert body["inflow_route"] == {"id": route.id, "code": "ig", "name": "Instagram"}
    assert body["member_id"] == "M1" and body["notes"] == "常連"
    assert body["tags"] == sorted(["vip", "新規"])
    assert body["attributes"] == {"age": 34, "birthday": "1992-04-01", "plan": "gold", "memo": "hi"}
    assert body["rollups"]["click_count"] == 3 and body["rollups"]["revenue_jpy"] == 12000
    assert body["rollups"]["last_click_at"].startswith("2026-01-02T09:00:00")
    assert body["status"] == "following" and body["language"] == "ja"
    missing = client.get(f"{API}/friends/{uid(2)}", headers=api_account.headers)
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "line_user_id"


def test_patch_applies_everything_and_records_activity(client, state, api_account, attributes):
    with state.sessions.begin() as session:
        friend = make_friend(session, api_account.id, 1)
        add_tag(session, friend, "old")
        set_attribute(session, friend, "age", 20)
    h = api_account.headers
    response = client.patch(
        f"{API}/friends/{uid(1)}",
        headers=h,
        json={
            "attributes": {"age": 21.5, "plan": "free", "birthday": "2000-02-29", "memo": None},
            "tags_add": ["vip", " vip ", "新規"],
            "tags_remove": ["old", "never-had"],
            "notes": "電話NG",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["attributes"] == {"age": 21.5, "plan": "free", "birthday": "2000-02-29"}
    assert body["tags"] == sorted(["vip", "新規"]) and body["notes"] == "電話NG"
    with state.sessions() as session:
        activity = session.execute(
            select(FriendActivity.kind, FriendActivity.data).order_by(FriendActivity.id)
        ).all()
    kinds = [(kind, data.get("key") or data.get("tag")) for kind, data in activity]
    assert kinds == [
        ("attribute_set", "age"),
        ("attribute_set", "plan"),
        ("attribute_set", "birthday"),
        ("tag_added", "vip"),
        ("tag_added", "新規"),
        ("tag_removed", "old"),
        ("notes_set", None),
    ]
    assert activity[0][1] == {"key": "age", "old": 20, "new": 21.5, "source": "api"}
    # the same patch again changes nothing and records nothing
    again = client.patch(
        f"{API}/friends/{uid(1)}",
        headers=h,
        json={"attributes": {"age": 21.5, "memo": None}, "tags_add": ["vip"], "notes": "電話NG"},
    )
    assert again.status_code == 200
    with state.sessions() as session:
        assert len(session.scalars(select(FriendActivity.id)).all()) == 7
    # notes: omitted leaves them, null clears them
    client.patch(f"{API}/friends/{uid(1)}", headers=h, json={"tags_add": ["x"]})
    assert client.get(f"{API}/friends/{uid(1)}", headers=h).json()["notes"] == "電話NG"
    cleared = client.patch(f"{API}/friends/{uid(1)}", headers=h, json={"notes": None})
    assert cleared.json()["notes"] is None


def test_patch_is_all_or_nothing_and_names_the_field(client, state, api_account, attributes):
    with state.sessions.begin() as session:
        friend = make_friend(session, api_account.id, 1, notes="before")
        add_tag(session, friend, "keep")
    h = api_account.headers
    bad = [
        ({"attributes": {"nope": 1}}, "attributes.nope", "unknown_attribute"),
        ({"attributes": {"age": "twelve"}}, "attributes.age", "invalid"),
        ({"attributes": {"age": "nan"}}, "attributes.age", "invalid"),
        ({"attributes": {"age": True}}, "attributes.age", "invalid"),
        ({"attributes": {"birthday": "2025-02-30"}}, "attributes.birthday", "invalid"),
        ({"attributes": {"plan": "platinum"}}, "attributes.plan", "invalid"),
        ({"attributes": {"memo": ["a"]}}, "attributes.memo", "invalid"),
        ({"tags_add": ["ok", ""]}, "tags_add.1", "invalid"),
        ({"tags_add": ["a;b"]}, "tags_add.0", "invalid"),
        ({"tags_add": ["x" * 101]}, "tags_add.0", "invalid"),
        ({"tags_add": ["same"], "tags_remove": ["same"]}, "tags_remove.0", "invalid"),
        ({"notes": "n" * 10_001}, "notes", "invalid"),
        ({"unknown_field": 1}, "unknown_field", "invalid"),
    ]
    for body, field, code in bad:
        full = {
            "attributes": {"age": 50, "plan": "gold"},
            "tags_add": ["new"],
            "tags_remove": ["keep"],
            "notes": "after",
            **body,
        }
        if "tags_remove" in body and "tags_add" in body:
            full = {**body, "attributes": {"age": 50}}
        response = client.patch(f"{API}/friends/{uid(1)}", headers=h, json=full)
        assert response.status_code == 422, (body, response.text)
        error = response.json()["error"]
        assert (error["field"], error["code"]) == (field, code), body
    after = client.get(f"{API}/friends/{uid(1)}", headers=h).json()
    assert after["attributes"] == {} and after["tags"] == ["keep"] and after["notes"] == "before"
    with state.sessions() as session:
        assert session.scalars(select(FriendActivity.id)).all() == []


def test_unknown_status_friend_is_listed(client, state, api_account):
    with state.sessions.begin() as session:
        make_friend(session, api_account.id, 1, status=UNKNOWN, display_name=None)
    got = client.get(
        f"{API}/friends", headers=api_account.headers, params={"status": "unknown"}
    ).json()
    assert [f["display_name"] for f in got["items"]] == [None]
