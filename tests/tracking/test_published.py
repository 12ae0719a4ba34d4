"""Tracking's domain events: tracking.conversion and tracking.custom_event once per stored
conversion or event (never for a repeat), with the friend when known, rolled back with it;
tracking.click once per click of a known friend, in the click batch's transaction."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from enishi.tracking.events import record_events
from enishi.tracking.schemas import EventIn
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
