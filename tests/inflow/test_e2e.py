"""Inflow routes over real HTTP: virtual users open route pages the LIFF way (an ID token
from the emulator, verified by enishi with the emulator's /oauth2/v2.1/verify), follow and
block; enishi's webhook intake and worker attribute them (tests/e2e_support.py)."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from enishi.friends.models import Friend


def test_routes_attribute_follows_and_count_blocks(start_e2e):
    env = start_e2e(login_channel_id="1650000000")
    with env.api() as api:
        store = api.post("/api/v1/routes", json={"name": "店頭QR", "code": "store"}).json()
        insta = api.post("/api/v1/routes", json={"name": "Instagram"}).json()
        users = env.new_friends(6, follow=False)
        plan = {users[0]: store, users[1]: store, users[2]: store, users[3]: insta, users[4]: insta}
        for user, route in plan.items():
            token = env.control("POST", f"/friends/{user}/id-token", json={})["idToken"]
            page = httpx.get(route["url"])
            assert page.status_code == 200 and "友だち追加" in page.text
            visit = httpx.post(f"{route['url']}/visit", json={"id_token": token})
            assert visit.status_code == 200, visit.text
            assert visit.json()["add_friend_url"] == (
                f"https://line.me/R/ti/p/{env.channel.basic_id}"
            )
        # someone's forged token is refused and changes nothing
        forged = httpx.post(f"{store['url']}/visit", json={"id_token": "eyJhbGciOi.forged.x"})
        assert forged.status_code == 400 and "Invalid IdToken" in forged.text
        for user in users:  # users[5] follows without passing through a route
            env.act(user, "follow")
        for user in (users[1], users[3], users[4]):
            env.act(user, "block")
        env.act(users[4], "unblock")  # back again: still counted for its route
        env.settle()
        counts = {r["code"]: r["counts"] for r in api.get("/api/v1/routes").json()["items"]}

    truth = env.channel.friends  # the emulator's own record
    for route in (store, insta):
        members = [u for u, r in plan.items() if r is route]
        got = counts[route["code"]]
        assert got["added"] == len(members)
        assert got["following"] == sum(truth[u].is_friend for u in members)
        assert got["blocked"] == sum(truth[u].blocked for u in members)
        assert got["visits"] == got["visitors"] == len(members)
    assert (counts["store"]["following"], counts["store"]["blocked"]) == (2, 1)
    assert (counts[insta["code"]]["following"], counts[insta["code"]]["blocked"]) == (1, 1)
    with env.state.sessions() as db:
        routes = dict(db.execute(select(Friend.line_user_id, Friend.inflow_route_id)).all())
    assert routes[users[5]] is None
    assert {u: routes[u] for u in plan} == {u: r["id"] for u, r in plan.items()}
