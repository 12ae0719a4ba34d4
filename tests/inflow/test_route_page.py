"""The public route page and its visit endpoint, with ID tokens the emulator issues and
verifies; attribution of the follow that comes after; counts per route after blocks."""

from __future__ import annotations

from datetime import timedelta

import jwt
from sqlalchemy import func, select

from enishi.accounts.models import Account
from enishi.db.base import utcnow
from enishi.friends.models import BLOCKED, FOLLOWING, Friend, FriendActivity
from enishi.friends.service import get_or_create_friend
from enishi.inflow.models import InflowRoute, RouteVisit
from enishi.inflow.service import attribute_route
from tests.members.helpers import act, control, event_time, signed_events

ADD_FRIEND = "https://line.me/R/ti/p/@000001abc"  # the emulator's basic ID for 2000000001


def make_route(client, api_account, code: str = "store") -> dict:
    response = client.post(
        "/api/v1/routes", headers=api_account.headers, json={"name": code, "code": code}
    )
    assert response.status_code == 201
    return response.json()


def id_token(emulator, user_id: str, **body) -> str:
    return control(emulator, "POST", f"/friends/{user_id}/id-token", body)["idToken"]


def new_users(emulator, count: int) -> list[str]:
    """Virtual LINE users who have not added the account yet."""
    return control(emulator, "POST", "/friends", {"count": count, "follow": False})["userIds"]


def recorded(state) -> tuple[int, int]:
    with state.sessions() as session:
        visits = session.scalar(select(func.count()).select_from(RouteVisit))
        anonymous = session.scalar(select(func.sum(InflowRoute.anonymous_visits))) or 0
    return visits, anonymous


def test_page_in_a_normal_browser(client, api_account, state):
    make_route(client, api_account)
    page = client.get("/r/store")
    assert page.status_code == 200
    assert "友だち追加" in page.text and "Add friend" in page.text and "テスト店" in page.text
    assert ADD_FRIEND in page.text
    assert 'action="/r/store/visit"' in page.text
    assert "<script src" not in page.text  # nothing from a CDN without a LIFF app
    assert "script-src 'nonce-" in page.headers["content-security-policy"]
    with state.sessions() as session:  # the basic ID was fetched from LINE once and kept
        assert session.get(Account, api_account.id).basic_id == "@000001abc"

    client.patch(
        "/api/v1/account", headers=api_account.headers, json={"liff_id": "1650000001-AbCdEfGh"}
    )
    page = client.get("/r/store")
    assert 'data-liff-id="1650000001-AbCdEfGh"' in page.text
    assert "static.line-scdn.net/liff" in page.text

    for bad in ("/r/unknown", "/r/has%20space", "/r/" + "x" * 65):
        missing = client.get(bad)
        assert missing.status_code == 404 and "見つかりません" in missing.text


def test_plain_form_post_counts_an_anonymous_visit(client, api_account, state):
    make_route(client, api_account)
    response = client.post("/r/store/visit", data={}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == ADD_FRIEND
    assert recorded(state) == (0, 1)
    body = client.post("/r/store/visit", json={}).json()
    assert body == {"add_friend_url": ADD_FRIEND, "identified": False}
    assert recorded(state) == (0, 2)
    assert client.post("/r/nope/visit", data={}).status_code == 404
    assert client.post("/r/nope/visit", json={}).status_code == 404


def test_visit_with_a_verified_id_token(client, api_account, state, emulator):
    make_route(client, api_account)
    user = new_users(emulator, 1)[0]
    token = id_token(emulator, user)
    # whatever else the browser says about the user is ignored: only the verified sub
    response = client.post(
        "/r/store/visit", json={"id_token": token, "sub": "U" + "e" * 32, "name": "偽物"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"add_friend_url": ADD_FRIEND, "identified": True}
    form = client.post("/r/store/visit", data={"id_token": token}, follow_redirects=False)
    assert form.status_code == 303 and form.headers["location"] == ADD_FRIEND
    with state.sessions() as session:
        assert list(session.scalars(select(RouteVisit.line_user_id))) == [user, user]
    assert recorded(state) == (2, 0)


def test_forged_and_expired_tokens_are_refused(client, api_account, state, emulator):
    make_route(client, api_account)
    user = new_users(emulator, 1)[0]
    good = id_token(emulator, user)
    claims = jwt.decode(good, options={"verify_signature": False})
    forged = jwt.encode(claims, "f" * 32, algorithm="HS256")
    cases = [("garbage", "Invalid IdToken."), (forged, "Invalid IdToken.")]
    short = id_token(emulator, user, expiresIn=1)
    emulator.call(_advance(emulator.emulator.state.clock, 5))
    cases.append((short, "IdToken expired."))
    for token, reason in cases:
        response = client.post("/r/store/visit", json={"id_token": token})
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_id_token" and error["field"] == "id_token"
        assert reason in error["message"] and "LINE rejected the ID token" in error["message"]
    page = client.post("/r/store/visit", data={"id_token": forged}, follow_redirects=False)
    assert page.status_code == 400 and ADD_FRIEND in page.text
    # a token for another LINE Login channel: the audience is checked
    client.patch(
        "/api/v1/account", headers=api_account.headers, json={"login_channel_id": "1650009999"}
    )
    response = client.post("/r/store/visit", json={"id_token": good})
    assert response.status_code == 400 and "Audience" in response.json()["error"]["message"]
    assert (
        client.post(
            "/r/store/visit", content=b"[1]", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )
    assert recorded(state) == (0, 0)  # nothing at all was recorded


def test_line_unreachable(client, api_account, state):
    make_route(client, api_account)
    client.get("/r/store")  # the basic ID is known from here on
    state.settings.line_api_base = "http://127.0.0.1:9"
    response = client.post("/r/store/visit", json={"id_token": "x"})
    assert response.status_code == 502 and response.json()["error"]["code"] == "line_unreachable"
    with state.sessions.begin() as session:
        session.get(Account, api_account.id).basic_id = None
    assert client.get("/r/store").status_code == 503
    assert recorded(state) == (0, 0)


async def _advance(clock, seconds: float) -> None:
    clock.advance(seconds)


def test_attribution_window(client, api_account, state):
    store = make_route(client, api_account, "store")["id"]
    insta = make_route(client, api_account, "insta")["id"]
    now = utcnow()
    users = {
        name: "U" + str(i) * 32
        for i, name in enumerate(
            ["recent", "stale", "late", "too_late", "already", "latest", "nobody"], start=1
        )
    }
    with state.sessions.begin() as session:

        def visit(name: str, route_id: int, at) -> None:
            session.add(
                RouteVisit(
                    account_id=api_account.id,
                    route_id=route_id,
                    line_user_id=users[name],
                    visited_at=at,
                )
            )

        visit("recent", store, now - timedelta(hours=23))
        visit("stale", store, now - timedelta(hours=25))
        visit("late", store, now + timedelta(minutes=9))  # the server's clock runs ahead
        visit("too_late", store, now + timedelta(minutes=11))
        visit("already", store, now - timedelta(minutes=1))
        visit("latest", store, now - timedelta(hours=2))
        visit("latest", insta, now - timedelta(hours=1))
        session.flush()
        friends = {}
        for name, user in users.items():
            friends[name] = get_or_create_friend(session, api_account.id, user)
        friends["already"].inflow_route_id = insta
        for friend in friends.values():
            attribute_route(session, friend, now)
        got = {name: friend.inflow_route_id for name, friend in friends.items()}
    assert got == {
        "recent": store,
        "stale": None,
        "late": store,
        "too_late": None,
        "already": insta,
        "latest": insta,
        "nobody": None,
    }
    with state.sessions() as session:
        kinds = session.scalars(select(FriendActivity.kind)).all()
    assert kinds.count("route_attributed") == 3


def test_route_visit_then_follow_is_attributed(
    client, api_account, state, emulator, webhook_receiver
):
    """Users arrive through two routes the LIFF way, follow in the emulator, some block:
    the follow and unfollow webhooks are applied as the webhook processor does."""
    store, insta = (
        make_route(client, api_account, "store"),
        make_route(client, api_account, "insta"),
    )
    users = new_users(emulator, 5)
    plan = {users[0]: "store", users[1]: "store", users[2]: "store", users[3]: "insta"}
    for user, code in plan.items():
        token = id_token(emulator, user)
        assert client.post(f"/r/{code}/visit", json={"id_token": token}).status_code == 200
    for user in users:  # users[4] follows without visiting any route
        act(emulator, user, "follow")
    for user in (users[1], users[3]):
        act(emulator, user, "block")
    with state.sessions.begin() as session:
        for event in signed_events(webhook_receiver):
            friend = get_or_create_friend(session, api_account.id, event["source"]["userId"])
            if event["type"] == "follow":
                friend.status = FOLLOWING
                attribute_route(session, friend, event_time(event))
            elif event["type"] == "unfollow":
                friend.status = BLOCKED
    with state.sessions() as session:
        routes = dict(session.execute(select(Friend.line_user_id, Friend.inflow_route_id)).all())
    assert routes == {
        users[0]: store["id"],
        users[1]: store["id"],
        users[2]: store["id"],
        users[3]: insta["id"],
        users[4]: None,
    }
    counts = {
        r["code"]: r["counts"]
        for r in client.get("/api/v1/routes", headers=api_account.headers).json()["items"]
    }
    assert counts["store"] == {
        "added": 3,
        "following": 2,
        "blocked": 1,
        "visits": 3,
        "visitors": 3,
        "anonymous_visits": 0,
    }
    assert (counts["insta"]["added"], counts["insta"]["following"], counts["insta"]["blocked"]) == (
        1,
        0,
        1,
    )
    # ground truth: the emulator's own record of who follows and who blocked
    truth = emulator.channel.friends
    assert sum(truth[u].is_friend for u in plan if plan[u] == "store") == 2
    assert sum(truth[u].blocked for u in plan if plan[u] == "store") == 1
