"""/api/v1/conversions: the shop's orders, stored once, attributed to the friend's latest click
inside the attribution window, never dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from enishi.accounts.models import Account
from enishi.emulator.population import make_order
from enishi.emulator.state import Channel
from enishi.emulator.state import Friend as VirtualFriend
from enishi.friends.models import Friend
from enishi.tracking.models import Click, Conversion, ConversionItem
from tests.tracking.conftest import USER_A, USER_B

T0 = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)  # 20:00 JST
ITEMS = [
    {"sku": "SK-001", "name": "化粧水", "unit_price": 2800, "quantity": 1},
    {"sku": "SK-014", "name": "美容液", "unit_price": 4600, "quantity": 2},
]


def order(order_id="EC20260105-0001", user=USER_A, at=T0, **extra) -> dict:
    body = {
        "order_id": order_id,
        "line_user_id": user,
        "member_id": None,
        "amount": 12000,
        "currency": "JPY",
        "occurred_at": at.isoformat(),
        "items": ITEMS,
    }
    body.update(extra)
    return body


@pytest.fixture
def add_click(state, api_account, make_link):
    link_id = make_link(delivery_id=31)

    def add(friend_id: int, at: datetime, link: int | None = None) -> int:
        with state.sessions.begin() as session:
            click = Click(
                account_id=api_account.id,
                link_id=link or link_id,
                friend_id=friend_id,
                delivery_id=31,
                clicked_at=at,
            )
            session.add(click)
            session.flush()
            return click.id

    add.link_id = link_id
    return add


def friend_row(state, friend_id) -> Friend:
    with state.sessions() as session:
        return session.get(Friend, friend_id)


def post(client, api_account, body):
    return client.post("/api/v1/conversions", headers=api_account.headers, json=body)


def test_the_emulators_shop_callback_body_is_accepted(client, api_account, make_friend):
    """make_order is what the emulator POSTs to channel.shop_callback_url, byte for byte."""
    friend_id = make_friend(USER_A)
    channel = Channel("2000000001", "s" * 32, "token")
    virtual = VirtualFriend(user_id=USER_A, display_name="佐藤")
    body = make_order(channel, virtual, T0.timestamp(), 12, ITEMS, None)
    assert set(body) == {
        "order_id",
        "line_user_id",
        "member_id",
        "amount",
        "currency",
        "occurred_at",
        "items",
    }
    response = post(client, api_account, body)
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["status"] == "created" and result["duplicate"] is False
    assert result["friend_found"] is True
    stored = result["conversion"]
    assert stored["friend_id"] == friend_id and stored["amount"] == 12000
    assert stored["order_id"] == body["order_id"]
    assert datetime.fromisoformat(stored["occurred_at"]) == T0
    assert stored["items"] == ITEMS


def test_attributed_to_the_latest_click_in_the_window(
    client, state, api_account, make_friend, add_click
):
    friend_id = make_friend(USER_A)
    other_id = make_friend(USER_B)
    add_click(friend_id, T0 - timedelta(days=6))
    latest = add_click(friend_id, T0 - timedelta(hours=2))
    add_click(friend_id, T0 + timedelta(minutes=5))  # after the purchase: does not count
    add_click(other_id, T0 - timedelta(minutes=1))  # someone else's click
    result = post(client, api_account, order()).json()
    assert result["attributed"] is True and result["unattributed_reason"] is None
    conversion = result["conversion"]
    assert conversion["attributed_click_id"] == latest
    assert conversion["attributed_link_id"] == add_click.link_id
    assert conversion["attributed_delivery_id"] == 31


def test_clicks_outside_the_window_do_not_count(client, state, api_account, make_friend, add_click):
    friend_id = make_friend(USER_A)
    add_click(friend_id, T0 - timedelta(days=7, seconds=1))
    result = post(client, api_account, order()).json()
    assert result["attributed"] is False
    assert result["unattributed_reason"] == "no_click_in_window"
    assert result["friend_found"] is True


def test_the_accounts_window_is_used(client, state, api_account, make_friend, add_click):
    friend_id = make_friend(USER_A)
    add_click(friend_id, T0 - timedelta(days=4))
    with state.sessions.begin() as session:
        session.get(Account, api_account.id).attribution_window_days = 3
    assert post(client, api_account, order("A")).json()["attributed"] is False
    with state.sessions.begin() as session:
        session.get(Account, api_account.id).attribution_window_days = 5
    assert post(client, api_account, order("B")).json()["attributed"] is True


def test_a_click_in_the_same_second_counts(client, api_account, make_friend, add_click):
    friend_id = make_friend(USER_A)
    click_id = add_click(friend_id, T0 + timedelta(milliseconds=400))
    # shops report to the second: 20:00:00 covers a click at 20:00:00.400
    result = post(client, api_account, order()).json()
    assert result["conversion"]["attributed_click_id"] == click_id
    precise = order("P", at=T0 + timedelta(milliseconds=100))
    assert post(client, api_account, precise).json()["attributed"] is False


def test_repeat_is_idempotent_and_counted_once(client, state, api_account, make_friend):
    friend_id = make_friend(USER_A)
    first = post(client, api_account, order())
    assert first.status_code == 201
    again = post(client, api_account, order())
    assert again.status_code == 200
    assert again.json()["duplicate"] is True and again.json()["status"] == "duplicate"
    assert again.json()["conversion"] == first.json()["conversion"]
    # the same instant written in another offset is the same order
    jst = order(at=T0.astimezone(datetime.fromisoformat("2026-01-05T20:00:00+09:00").tzinfo))
    assert post(client, api_account, jst).status_code == 200
    friend = friend_row(state, friend_id)
    assert (friend.purchase_count, friend.revenue_jpy, friend.last_purchase_at) == (1, 12000, T0)
    with state.sessions() as session:
        assert session.query(Conversion).count() == 1
        assert session.query(ConversionItem).count() == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": 2800, "items": ITEMS[:1]}, "amount"),
        ({"occurred_at": (T0 + timedelta(seconds=1)).isoformat()}, "occurred_at"),
        ({"line_user_id": USER_B}, "line_user_id"),
        ({"items": ITEMS[::-1]}, "items"),
        ({"items": [{**ITEMS[0], "name": "化粧水 新"}, ITEMS[1]]}, "items"),
        ({"amount": 12000, "items": []}, "items"),
    ],
)
def test_repeat_with_other_content_is_409(client, state, api_account, make_friend, change, field):
    friend_id = make_friend(USER_A)
    assert post(client, api_account, order()).status_code == 201
    response = post(client, api_account, order(**change))
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflict" and error["field"] == "order_id"
    assert field in error["message"]
    friend = friend_row(state, friend_id)
    assert (friend.purchase_count, friend.revenue_jpy) == (1, 12000)


def test_unknown_friend_is_stored_unattributed(client, state, api_account):
    response = post(client, api_account, order(user=USER_B, member_id="M000000001"))
    assert response.status_code == 201
    result = response.json()
    assert result["friend_found"] is False and result["attributed"] is False
    assert result["unattributed_reason"] == "unknown_friend"
    conversion = result["conversion"]
    assert conversion["friend_id"] is None
    assert conversion["line_user_id"] == USER_B and conversion["member_id"] == "M000000001"


def test_member_id_finds_the_friend(client, state, api_account, make_friend, add_click):
    friend_id = make_friend(USER_A, member_id="M123456789")
    click_id = add_click(friend_id, T0 - timedelta(hours=1))
    body = order(member_id="M123456789")
    del body["line_user_id"]
    result = post(client, api_account, body).json()
    assert result["conversion"]["friend_id"] == friend_id
    assert result["conversion"]["attributed_click_id"] == click_id
    assert friend_row(state, friend_id).purchase_count == 1


def test_rollups_add_up_across_orders(client, state, api_account, make_friend):
    friend_id = make_friend(USER_A)
    post(client, api_account, order("A", at=T0, amount=100, items=None))
    post(client, api_account, order("B", at=T0 - timedelta(days=1), amount=250, items=None))
    friend = friend_row(state, friend_id)
    assert (friend.purchase_count, friend.revenue_jpy, friend.last_purchase_at) == (2, 350, T0)


@pytest.mark.parametrize(
    ("change", "field", "status"),
    [
        ({"amount": 12001}, "amount", 422),
        ({"amount": -1, "items": None}, "amount", 422),
        ({"amount": 100.5, "items": None}, "amount", 422),
        ({"amount": "12000"}, "amount", 422),
        ({"currency": "USD"}, "currency", 422),
        ({"occurred_at": "2026-01-05T20:00:00"}, "occurred_at", 422),
        ({"occurred_at": 1767610800}, "occurred_at", 422),
        ({"occurred_at": "yesterday"}, "occurred_at", 422),
        ({"line_user_id": None}, "line_user_id", 422),
        ({"line_user_id": "U123"}, "line_user_id", 422),
        ({"order_id": ""}, "order_id", 422),
        ({"items": [{"sku": "A", "unit_price": 100, "quantity": 0}]}, "items.0.quantity", 422),
        ({"items": [{"unit_price": 12000, "quantity": 1}]}, "items.0.sku", 422),
    ],
)
def test_bad_orders_are_refused_and_nothing_is_stored(
    client, state, api_account, change, field, status
):
    response = post(client, api_account, order(**change))
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field
    with state.sessions() as session:
        assert session.scalars(select(Conversion)).all() == []


def test_batch_stores_the_valid_ones(client, state, api_account, make_friend):
    friend_id = make_friend(USER_A)
    post(client, api_account, order("OLD"))
    batch = [
        order("N1"),
        order("N2", amount=1, items=None),
        {"order_id": "BAD", "amount": "x"},
        order("N1"),  # repeated inside the batch
        order("OLD"),  # repeat of a stored order
        order("OLD", amount=5, items=None),  # conflict
        order("N3", user=USER_B),  # unknown friend
        "not an object",
        order("N4", currency="EUR"),
    ]
    response = client.post(
        "/api/v1/conversions/batch", headers=api_account.headers, json={"conversions": batch}
    )
    assert response.status_code == 200
    body = response.json()
    statuses = [(r["index"], r["status"]) for r in body["results"]]
    assert statuses == [
        (0, "created"),
        (1, "created"),
        (2, "error"),
        (3, "duplicate"),
        (4, "duplicate"),
        (5, "error"),
        (6, "created"),
        (7, "error"),
        (8, "error"),
    ]
    results = body["results"]
    assert results[2]["error"]["field"] == "amount" and results[2]["order_id"] == "BAD"
    assert results[5]["error"]["code"] == "conflict"
    assert results[6]["friend_found"] is False
    assert results[8]["error"]["field"] == "currency"
    assert results[3]["conversion_id"] == results[0]["conversion_id"]
    assert (body["created"], body["duplicates"], body["errors"]) == (3, 2, 4)
    with state.sessions() as session:
        orders = sorted(session.scalars(select(Conversion.order_id)))
    assert orders == ["N1", "N2", "N3", "OLD"]
    friend = friend_row(state, friend_id)
    assert (friend.purchase_count, friend.revenue_jpy) == (3, 24001)


def test_batch_limit(client, api_account):
    response = client.post(
        "/api/v1/conversions/batch",
        headers=api_account.headers,
        json={"conversions": [order(str(i)) for i in range(5001)]},
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "conversions"


def test_a_large_batch(client, state, api_account, make_friend):
    make_friend(USER_A)
    batch = [order(f"BULK-{i}", amount=100 + i, items=None) for i in range(2000)]
    response = client.post(
        "/api/v1/conversions/batch", headers=api_account.headers, json={"conversions": batch}
    )
    assert response.status_code == 200 and response.json()["created"] == 2000
    friend = friend_row(state, make_friend(USER_A))
    assert friend.purchase_count == 2000
    assert friend.revenue_jpy == sum(100 + i for i in range(2000))


def test_list_and_filter(client, api_account, make_friend, add_click):
    friend_id = make_friend(USER_A)
    add_click(friend_id, T0 - timedelta(hours=1))
    post(client, api_account, order("A1"))
    post(client, api_account, order("U1", user=USER_B))
    post(client, api_account, order("A2"))
    headers = api_account.headers
    every = client.get("/api/v1/conversions", headers=headers).json()["items"]
    assert [c["order_id"] for c in every] == ["A2", "U1", "A1"]
    attributed = client.get("/api/v1/conversions", headers=headers, params={"attributed": True})
    assert [c["order_id"] for c in attributed.json()["items"]] == ["A2", "A1"]
    unattributed = client.get(
        "/api/v1/conversions", headers=headers, params={"attributed": "false"}
    )
    assert [c["order_id"] for c in unattributed.json()["items"]] == ["U1"]
    page = client.get("/api/v1/conversions", headers=headers, params={"limit": 2}).json()
    rest = client.get(
        "/api/v1/conversions", headers=headers, params={"cursor": page["next_cursor"]}
    ).json()
    assert [c["order_id"] for c in page["items"] + rest["items"]] == ["A2", "U1", "A1"]
    assert page["items"][0]["items"] == ITEMS


def test_api_key_required(client):
    assert client.post("/api/v1/conversions", json=order()).status_code == 401
