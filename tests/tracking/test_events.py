"""/api/v1/events: custom events stored once per event_id, with the friend when known."""

from __future__ import annotations

from sqlalchemy import func, select

from enishi.tracking.models import CustomEvent
from tests.tracking.conftest import USER_A, USER_B

AT = "2026-01-05T20:00:00+09:00"


def post(client, api_account, body):
    return client.post("/api/v1/events", headers=api_account.headers, json=body)


def count(state) -> int:
    with state.sessions() as session:
        return session.scalar(select(func.count(CustomEvent.id)))


def test_event_is_stored_with_its_friend(client, state, api_account, make_friend):
    friend_id = make_friend(USER_A)
    body = {
        "event_id": "cart-1",
        "name": "cart_added",
        "line_user_id": USER_A,
        "properties": {"sku": "SK-001", "price": 2800, "tags": ["新作"]},
        "occurred_at": AT,
    }
    response = post(client, api_account, body)
    assert response.status_code == 201
    result = response.json()
    assert result["friend_found"] is True and result["duplicate"] is False
    event = result["event"]
    assert event["friend_id"] == friend_id and event["name"] == "cart_added"
    assert event["properties"] == body["properties"]
    assert event["occurred_at"] == "2026-01-05T11:00:00Z"


def test_event_id_makes_it_idempotent(client, state, api_account):
    body = {
        "event_id": "pv-1",
        "name": "page_view",
        "properties": {"path": "/sale"},
        "occurred_at": AT,
        "line_user_id": USER_B,
    }
    first = post(client, api_account, body)
    again = post(client, api_account, body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["duplicate"] is True
    assert again.json()["event"]["id"] == first.json()["event"]["id"]
    # a resend that leaves the time out is still the same event
    assert (
        post(client, api_account, {k: v for k, v in body.items() if k != "occurred_at"}).status_code
        == 200
    )
    changed = post(client, api_account, {**body, "properties": {"path": "/other"}})
    assert changed.status_code == 409 and "properties" in changed.json()["error"]["message"]
    assert count(state) == 1


def test_unknown_people_and_no_one_are_kept(client, state, api_account):
    unknown = post(client, api_account, {"name": "restocked", "member_id": "M999"})
    assert unknown.status_code == 201
    assert unknown.json()["friend_found"] is False
    assert unknown.json()["event"]["member_id"] == "M999"
    nobody = post(client, api_account, {"name": "price_dropped", "properties": {"sku": "A"}})
    assert nobody.status_code == 201
    generated = {unknown.json()["event"]["event_id"], nobody.json()["event"]["event_id"]}
    assert len(generated) == 2 and all(len(e) >= 32 for e in generated)
    assert count(state) == 2


def test_member_id_finds_the_friend(client, api_account, make_friend):
    friend_id = make_friend(USER_A, member_id="M123")
    response = post(client, api_account, {"name": "reservation_made", "member_id": "M123"})
    assert response.json()["event"]["friend_id"] == friend_id


def test_bad_events_are_refused(client, state, api_account):
    cases = [
        ({"name": "Cart Added"}, "name"),
        ({"name": "1cart"}, "name"),
        ({"name": "a" * 65}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x", "properties": ["not", "an", "object"]}, "properties"),
        ({"name": "x", "properties": {"blob": "あ" * 6000}}, "properties"),
        ({"name": "x", "occurred_at": "2026-01-05T20:00:00"}, "occurred_at"),
        ({"name": "x", "line_user_id": "nope"}, "line_user_id"),
    ]
    for body, field in cases:
        response = post(client, api_account, body)
        assert response.status_code == 422, body
        assert response.json()["error"]["field"] == field, body
    assert count(state) == 0


def test_batch_partial_failure(client, state, api_account, make_friend):
    make_friend(USER_A)
    events = [
        {"event_id": "e1", "name": "cart_added", "line_user_id": USER_A, "occurred_at": AT},
        {"event_id": "e2", "name": "BAD"},
        {"event_id": "e1", "name": "cart_added", "line_user_id": USER_A, "occurred_at": AT},
        {"event_id": "e1", "name": "cart_abandoned", "line_user_id": USER_A, "occurred_at": AT},
        {"name": "page_view"},
        42,
    ]
    response = client.post(
        "/api/v1/events/batch", headers=api_account.headers, json={"events": events}
    )
    assert response.status_code == 200
    body = response.json()
    assert [r["status"] for r in body["results"]] == [
        "created",
        "error",
        "duplicate",
        "error",
        "created",
        "error",
    ]
    assert body["results"][1]["error"]["field"] == "name"
    assert body["results"][3]["error"]["code"] == "conflict"
    assert body["results"][4]["event_id"]
    assert (body["created"], body["duplicates"], body["errors"]) == (2, 1, 3)
    assert count(state) == 2
    too_many = client.post(
        "/api/v1/events/batch",
        headers=api_account.headers,
        json={"events": [{"name": "x"}] * 5001},
    )
    assert too_many.status_code == 422


def test_list_by_name_with_cursor(client, api_account):
    for i in range(3):
        post(client, api_account, {"event_id": f"c{i}", "name": "cart_added"})
        post(client, api_account, {"event_id": f"p{i}", "name": "page_view"})
    headers = api_account.headers
    page = client.get(
        "/api/v1/events", headers=headers, params={"name": "cart_added", "limit": 2}
    ).json()
    rest = client.get(
        "/api/v1/events",
        headers=headers,
        params={"name": "cart_added", "cursor": page["next_cursor"]},
    ).json()
    assert [e["event_id"] for e in page["items"] + rest["items"]] == ["c2", "c1", "c0"]
    assert rest["next_cursor"] is None
    assert len(client.get("/api/v1/events", headers=headers).json()["items"]) == 6
