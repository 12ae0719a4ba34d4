"""Tracking's domain events: tracking.conversion and tracking.custom_event once per stored
conversion or event (never for a repeat), with the friend when known, rolled back with it;
tracking.click once per click of a known friend, in the click batch's transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from enishi.accounts.models import Account
from enishi.events.poller import deliver_events
from enishi.events.registry import Subscriber, subscribe, unsubscribe
from enishi.tracking.clicks import store_clicks
from enishi.tracking.conversions import record_conversions
from enishi.tracking.events import record_events
from enishi.tracking.models import Click
from enishi.tracking.schemas import ConversionIn, EventIn
from enishi.tracking.tokens import tracked_url
from tests.events.support import published
from tests.tracking.conftest import USER_A, USER_B

T0 = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)
ITEM = {"sku": "SK-001", "name": "化粧水", "unit_price": 2800, "quantity": 2}


def _order(order_id: str, user: str | None = USER_A, amount: int = 5600) -> dict:
    return {
        "order_id": order_id,
        "line_user_id": user,
        "amount": amount,
        "currency": "JPY",
        "occurred_at": T0.isoformat(),
        "items": [ITEM],
    }


def test_a_conversion_is_published_once_with_its_properties(
    client, state, api_account, make_friend
):
    friend_id = make_friend(USER_A)
    post = lambda body: client.post(  # noqa: E731
        "/api/v1/conversions", headers=api_account.headers, json=body
    )
    assert post(_order("O-1")).status_code in (200, 201)
    assert post(_order("O-1")).status_code in (200, 201)  # the same order again: a repeat
    (event,) = published(state, "tracking.conversion")
    assert (event.friend_id, event.account_id, event.occurred_at) == (
        friend_id,
        api_account.id,
        T0,
    )
    assert event.payload["order_id"] == "O-1" and event.payload["amount"] == 5600
    assert event.payload["items"] == [ITEM]


def test_a_batch_publishes_one_event_per_new_order_unattributed_ones_without_friend(
    client, state, api_account, make_friend
):
    friend_id = make_friend(USER_A)
    batch = [_order("B-1"), _order("B-2", user=USER_B), _order("B-1"), _order("B-3", amount=-1)]
    response = client.post(
        "/api/v1/conversions/batch", headers=api_account.headers, json={"conversions": batch}
    )
    assert response.status_code == 200, response.text
    events = published(state, "tracking.conversion")
    assert [(e.payload["order_id"], e.friend_id) for e in events] == [
        ("B-1", friend_id),
        ("B-2", None),
    ]


def _event(event_id: str, user: str = USER_A, **properties) -> EventIn:
    return EventIn(event_id=event_id, name="cart_added", line_user_id=user, properties=properties)


def test_custom_events_are_published_once_each(client, state, api_account, make_friend):
    friend_id = make_friend(USER_A)
    with state.sessions.begin() as session:
        record_events(session, api_account.id, [_event("E-1", sku="SK-001"), _event("E-2", USER_B)])
    with state.sessions.begin() as session:
        record_events(session, api_account.id, [_event("E-1", sku="SK-001")])  # a repeat
    events = published(state, "tracking.custom_event")
    assert [(e.payload["event_id"], e.friend_id) for e in events] == [
        ("E-1", friend_id),
        ("E-2", None),
    ]
    assert events[0].payload["name"] == "cart_added"
    assert events[0].payload["properties"] == {"sku": "SK-001"}


def test_a_rolled_back_custom_event_publishes_nothing(client, state, api_account, make_friend):
    make_friend(USER_A)
    with pytest.raises(RuntimeError), state.sessions.begin() as session:
        record_events(session, api_account.id, [_event("E-9")])
        raise RuntimeError("the request failed after storing")
    assert published(state, "tracking.custom_event") == []


def test_each_click_of_a_friend_publishes_once_unknown_visitors_none(
    client, state, settings, make_friend, make_link
):
    friend_id = make_friend(USER_A)
    link_id = make_link(delivery_id=7)
    for target in (friend_id, friend_id, None):
        path = urlsplit(tracked_url(settings, link_id, target)).path
        assert client.get(path, follow_redirects=False).status_code == 302
    with state.sessions() as session:
        click_ids = list(session.scalars(select(Click.id).order_by(Click.id)))
        click_times = list(session.scalars(select(Click.clicked_at).order_by(Click.id)))
    events = published(state, "tracking.click")
    assert [(e.friend_id, e.account_id, e.occurred_at) for e in events] == [
        (friend_id, 1, click_times[0]),
        (friend_id, 1, click_times[1]),
    ]
    assert [e.payload for e in events] == [
        {"click_id": click_id, "link_id": link_id, "delivery_id": 7} for click_id in click_ids[:2]
    ]


def test_a_batch_of_clicks_publishes_with_it_or_not_at_all(state, make_friend, make_link):
    friend_id = make_friend(USER_A)
    link_id = make_link()
    rows = [
        {"l": link_id, "f": f, "a": 1, "t": datetime.now(UTC), "ua": None}
        for f in (friend_id, None, friend_id, 10_000)  # no friend; a friend that does not exist
    ]
    with pytest.raises(RuntimeError), state.engine.begin() as conn:
        store_clicks(conn, rows)
        raise RuntimeError("the group transaction failed")
    assert published(state, "tracking.click") == []
    with state.engine.begin() as conn:
        store_clicks(conn, rows)
    events = published(state, "tracking.click")
    assert [e.friend_id for e in events] == [friend_id, friend_id]
    assert all(e.status == "done" for e in events)  # nobody listens yet


def test_click_events_reach_queued_subscribers(state, make_friend, make_link):
    """Rows written by SQL are pending when someone listens, and the poller delivers them."""
    friend_id = make_friend(USER_A)
    link_id = make_link()
    seen: list[int] = []
    subscriber = Subscriber(
        "test.clicks", ("tracking.click",), lambda session, e: seen.append(e.friend_id)
    )
    subscribe(subscriber)
    try:
        with state.engine.begin() as conn:
            store_clicks(
                conn, [{"l": link_id, "f": friend_id, "a": 1, "t": datetime.now(UTC), "ua": None}]
            )
        assert deliver_events(state) == 1
    finally:
        unsubscribe(subscriber.name)
    assert seen == [friend_id]
    assert published(state, "tracking.click")[0].status == "done"


def test_a_rolled_back_conversion_publishes_nothing(client, state, api_account, make_friend):
    make_friend(USER_A)
    with pytest.raises(RuntimeError), state.sessions.begin() as session:
        account = session.get_one(Account, api_account.id)
        outcomes = record_conversions(session, account, [ConversionIn(**_order("R-1"))])
        assert outcomes[0].status == "created"
        raise RuntimeError("the request failed after storing")
    assert published(state, "tracking.conversion") == []
