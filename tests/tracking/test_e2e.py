"""End to end over real HTTP: a virtual friend of the LINE emulator opens a tracked link in
LINE's in-app browser (a real GET against a running enishi), then buys in the shop, whose
callback reports the order to enishi's conversions API, which attributes it to that click.
enishi's records are checked against the emulator's ground truth."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from enishi.friends.models import Friend
from enishi.tracking.models import Click, Conversion


def test_click_then_purchase_is_attributed(e2e):
    e2e.control(
        "PATCH",
        "",
        json={
            "shop_callback_url": f"{e2e.base_url}/api/v1/conversions",
            "shop_callback_headers": e2e.headers,
        },
    )
    clicker, bystander = e2e.new_friends(2)
    (stranger,) = e2e.new_friends(1, follow=False)  # shops without ever adding the account
    e2e.settle()
    with e2e.api() as api:
        link = api.post(
            "/api/v1/links",
            json={
                "url": "https://shop.example/spring?ref=line",
                "delivery_id": 77,
                "utm": {"utm_source": "line", "utm_campaign": "spring"},
            },
        ).json()
        url = api.get(
            f"/api/v1/links/{link['id']}/tracked-url", params={"line_user_id": clicker}
        ).json()["url"]
    assert url.startswith(f"{e2e.base_url}/c/")

    # a link preview and a HEAD do not count
    httpx.get(url, headers={"user-agent": "facebookexternalhit/1.1;line-poker/1.0"})
    httpx.head(url)

    opened = e2e.act(clicker, "open_link", url=url)
    assert opened["error"] is None
    assert opened["chain"][0]["status"] == 302
    assert opened["landing_url"] == (
        "https://shop.example/spring?ref=line&utm_source=line&utm_campaign=spring"
    )
    e2e.emulator.call(_advance(e2e, 1800))  # half an hour later, they buy
    bought = e2e.act(clicker, "purchase", amount=5400)
    assert bought["callback"] == "ok"
    e2e.act(bystander, "purchase", amount=1200)
    e2e.act(stranger, "purchase", amount=3300)
    e2e.act(clicker, "purchase", amount=5400)  # another order; repeats are retried safely

    with e2e.state.sessions() as session:
        clicks = session.scalars(select(Click)).all()
        conversions = {c.order_id: c for c in session.scalars(select(Conversion))}
        friends = {f.line_user_id: f for f in session.scalars(select(Friend))}
    (click,) = clicks  # the preview and the HEAD were not counted
    assert click.friend_id == friends[clicker].id and click.delivery_id == 77
    # the click time is the emulator's simulated time (trusted in the demo and tests)
    assert abs(click.clicked_at.timestamp() - opened["at"]) < 0.002
    assert friends[clicker].click_count == 1
    assert friends[clicker].last_click_at == click.clicked_at

    orders = e2e.control("GET", "/orders")["orders"]
    assert [o["callback"] for o in orders] == ["ok"] * 4
    assert set(conversions) == {o["order_id"] for o in orders}  # nothing lost, nothing extra
    for order in orders:
        stored = conversions[order["order_id"]]
        assert stored.amount_jpy == order["amount"]
        assert stored.occurred_at == datetime.fromisoformat(order["occurred_at"]).astimezone(UTC)
        assert stored.line_user_id == order["line_user_id"]
    mine = conversions[bought["order_id"]]
    assert mine.friend_id == friends[clicker].id
    assert mine.attributed_click_id == click.id
    assert mine.attributed_link_id == link["id"] and mine.attributed_delivery_id == 77
    others = [conversions[o["order_id"]] for o in orders if o["line_user_id"] != clicker]
    by_user = {c.line_user_id: c for c in others}
    assert by_user[bystander].friend_id == friends[bystander].id
    assert by_user[bystander].attributed_click_id is None
    assert by_user[stranger].friend_id is None and stranger not in friends
    assert friends[clicker].purchase_count == 2 and friends[clicker].revenue_jpy == 10800


def test_the_shop_retrying_an_order_is_stored_once(e2e):
    """The emulator's shop retries after errors with the same body: enishi answers the
    repeat 200 and counts the order once."""
    (user,) = e2e.new_friends(1)
    e2e.settle()
    order = e2e.act(user, "purchase", amount=999)  # no callback configured yet
    assert order["callback"] == "not_configured"
    body = {
        k: order[k]
        for k in (
            "order_id",
            "line_user_id",
            "member_id",
            "amount",
            "currency",
            "occurred_at",
            "items",
        )
    }
    with e2e.api() as api:
        first = api.post("/api/v1/conversions", json=body)
        again = api.post("/api/v1/conversions", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    with e2e.state.sessions() as session:
        friend = session.scalar(select(Friend).where(Friend.line_user_id == user))
    assert friend.purchase_count == 1 and friend.revenue_jpy == 999


async def _advance(e2e, seconds: float) -> None:
    """Move the emulator's clock without living through the time (no organic behaviour)."""
    e2e.emulator.emulator.state.clock.advance(seconds)
