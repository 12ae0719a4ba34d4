"""POST /webhooks/line/{channel_id}: verified, stored once, acknowledged only when stored."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import func, select

from enishi.db.engine import make_engine
from enishi.line.signature import signature_for
from enishi.webhook.intake import RowBatcher, stable_event_id
from enishi.webhook.models import WebhookEvent
from tests.webhook.events import USER_A, USER_B, body_of, event, follow, post, text, unfollow


def stored(state) -> list[WebhookEvent]:
    with state.sessions() as session:
        return list(session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))


def count(state) -> int:
    with state.sessions() as session:
        return session.scalar(select(func.count()).select_from(WebhookEvent))


def test_signed_events_are_stored_with_their_fields(client, state, api_account):
    first = follow(USER_A, 1_700_000_000_123)
    second = text(USER_B, 1_700_000_000_456, "こんにちは😀", redelivery=True)
    response = post(client, api_account, body_of(first, second))
    assert response.status_code == 200
    rows = stored(state)
    assert [(r.type, r.line_user_id, r.event_ts, r.is_redelivery, r.status) for r in rows] == [
        ("follow", USER_A, 1_700_000_000_123, False, "pending"),
        ("message", USER_B, 1_700_000_000_456, True, "pending"),
    ]
    assert rows[0].webhook_event_id == first["webhookEventId"]
    assert rows[0].account_id == api_account.id
    assert rows[1].payload == second  # the whole event, unchanged
    assert rows[1].attempts == 0


def test_signature_is_checked_on_the_raw_bytes(client, state, api_account):
    events = (text(USER_A, 1_700_000_000_000, "日本語"),)
    compact = body_of(*events)
    pretty = body_of(*events, indent=2)  # the same JSON, other bytes
    assert json.loads(compact) == json.loads(pretty)
    response = post(
        client, api_account, pretty, signature=signature_for(api_account.channel_secret, compact)
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert count(state) == 0
    assert post(client, api_account, pretty).status_code == 200  # signed over its own bytes
    assert count(state) == 1


@pytest.mark.parametrize("signature", [None, "", "bm90IGEgc2lnbmF0dXJl", "wrong-secret"])
def test_bad_or_missing_signature_is_401_and_stores_nothing(client, state, api_account, signature):
    body = body_of(follow(USER_A, 1_700_000_000_000))
    if signature == "wrong-secret":
        signature = signature_for("another-channel-secret-0123456789", body)
    response = post(client, api_account, body, signature=signature)
    assert response.status_code == 401
    assert count(state) == 0


def test_empty_events_with_a_bad_signature_is_still_401(client, api_account):
    assert post(client, api_account, body_of(), signature="AAAA").status_code == 401


@pytest.mark.parametrize("channel_id", ["2999999999", "abc", "1" * 40])
def test_unknown_channel_is_404(client, state, api_account, channel_id):
    body = body_of(follow(USER_A, 1_700_000_000_000))
    response = post(client, api_account, body, channel_id=channel_id)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert count(state) == 0


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"[]",
        b'{"destination": "U0"}',
        b'{"events": {"type": "follow"}}',
        b'{"events": [1, 2]}',
        '{"events": ["\xff"]}'.encode("latin-1"),
    ],
)
def test_malformed_body_with_a_valid_signature_is_400(client, state, api_account, body):
    response = post(client, api_account, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert count(state) == 0


def test_oversized_body_is_413_by_content_length(client, state, api_account):
    state.settings.webhook_max_body_bytes = 2000
    body = body_of(*[text(USER_A, 1_700_000_000_000 + i, "x" * 50) for i in range(40)])
    assert len(body) > 2000
    response = post(client, api_account, body)
    assert response.status_code == 413
    assert count(state) == 0
    response = post(client, api_account, b"{}", headers={"content-length": "10000000"})
    assert response.status_code == 413


def test_oversized_body_without_content_length_is_413_while_streaming(client, state, api_account):
    state.settings.webhook_max_body_bytes = 2000
    body = body_of(*[text(USER_A, 1_700_000_000_000 + i, "x" * 50) for i in range(40)])
    chunks_sent = []

    def chunks():  # sent with Transfer-Encoding: chunked, no Content-Length
        for start in range(0, len(body), 500):
            chunks_sent.append(start)
            yield body[start : start + 500]

    response = client.post(
        f"/webhooks/line/{api_account.channel_id}",
        content=chunks(),
        headers={"x-line-signature": signature_for(api_account.channel_secret, body)},
    )
    assert response.status_code == 413
    assert count(state) == 0


def test_a_body_just_under_the_limit_is_accepted(client, state, api_account):
    body = body_of(follow(USER_A, 1_700_000_000_000))
    state.settings.webhook_max_body_bytes = len(body)
    assert post(client, api_account, body).status_code == 200
    state.settings.webhook_max_body_bytes = len(body) - 1
    assert post(client, api_account, body).status_code == 413


def test_empty_events_answer_200_and_store_nothing(client, state, api_account):
    response = post(client, api_account, body_of())
    assert response.status_code == 200
    assert count(state) == 0


def test_duplicates_and_redeliveries_are_stored_once(client, state, api_account):
    first = follow(USER_A, 1_700_000_000_000)
    second = text(USER_A, 1_700_000_001_000, "hi")
    assert post(client, api_account, body_of(first, second, first)).status_code == 200
    assert post(client, api_account, body_of(first, second)).status_code == 200
    redelivered = [{**e, "deliveryContext": {"isRedelivery": True}} for e in (first, second)]
    assert post(client, api_account, body_of(*redelivered)).status_code == 200
    rows = stored(state)
    assert len(rows) == 2
    assert [r.is_redelivery for r in rows] == [False, False]  # the first copy is kept


def test_events_without_webhook_event_id_get_a_stable_id(client, state, api_account):
    old = follow(USER_A, 1_600_000_000_000)
    del old["webhookEventId"]
    del old["deliveryContext"]
    assert post(client, api_account, body_of(old)).status_code == 200
    again = {**old, "deliveryContext": {"isRedelivery": True}}
    assert post(client, api_account, body_of(again)).status_code == 200
    other = {**old, "timestamp": old["timestamp"] + 1}
    assert post(client, api_account, body_of(other)).status_code == 200
    rows = stored(state)
    assert len(rows) == 2
    assert rows[0].webhook_event_id == stable_event_id(old)
    assert rows[0].webhook_event_id.startswith("h-") and len(rows[0].webhook_event_id) == 40
    assert rows[1].webhook_event_id != rows[0].webhook_event_id


def test_odd_fields_are_stored_defensively(client, state, api_account):
    """A signed body LINE could send in the future must never be refused forever."""
    weird = [
        event("somethingNew", None, 1_700_000_000_000, source={"type": "user", "userId": "x" * 99}),
        {"type": "t" * 100, "timestamp": "yesterday", "webhookEventId": "E" * 80},
        {"timestamp": 10**30, "source": "nonsense", "deliveryContext": None},
    ]
    assert post(client, api_account, body_of(*weird)).status_code == 200
    rows = stored(state)
    assert len(rows) == 3
    assert [r.line_user_id for r in rows] == [None, None, None]
    assert len(rows[1].type) == 40 and rows[2].type == ""
    assert rows[1].webhook_event_id.startswith("h-")  # too long to be LINE's
    assert all(0 < r.event_ts < 2**53 for r in rows)


def test_database_down_answers_503_and_acknowledges_nothing(client, state, api_account, tmp_path):
    body = body_of(follow(USER_A, 1_700_000_000_000), unfollow(USER_A, 1_700_000_000_500))
    assert post(client, api_account, body_of()).status_code == 200  # channel now cached
    good = state.writer.engine
    broken = make_engine(f"sqlite:///{tmp_path}/missing-dir/enishi.db")
    state.writer.engine = broken
    try:
        response = post(client, api_account, body)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "unavailable"
    finally:
        state.writer.engine = good
        broken.dispose()
    assert count(state) == 0
    assert post(client, api_account, body).status_code == 200  # LINE's redelivery
    assert post(client, api_account, body).status_code == 200
    assert count(state) == 2


def test_channel_lookup_failure_is_503(client, state, api_account, monkeypatch):
    def down(*_args, **_kwargs):
        raise ConnectionError("database unreachable")

    monkeypatch.setattr("enishi.accounts.service.ChannelDirectory.lookup", down)
    response = post(client, api_account, body_of(follow(USER_A, 1_700_000_000_000)))
    assert response.status_code == 503
    assert count(state) == 0


class FakeWriter:
    """Stands in for the group writer: records each write's rows; refuses "bad" ones."""

    def __init__(self) -> None:
        self.writes: list[list[str]] = []

    async def write(self, fn):
        ids = [row["webhook_event_id"] for row in fn.args[0]]
        self.writes.append(ids)
        if "bad" in ids:
            raise ValueError("refused")
        return len(ids)


def rows_with(*ids: str) -> list[dict]:
    return [{"account_id": 1, "webhook_event_id": i} for i in ids]


async def test_concurrent_requests_share_one_write_and_fail_alone():
    writer = FakeWriter()
    batcher = RowBatcher(writer)
    results = await asyncio.gather(
        batcher.store(rows_with("a", "b")),
        batcher.store(rows_with("b", "c")),  # "b" twice: a redelivery racing the original
        batcher.store(rows_with("bad")),
        return_exceptions=True,
    )
    assert results[:2] == [None, None]
    assert isinstance(results[2], ValueError)
    assert writer.writes[0] == ["a", "b", "c", "bad"]  # merged, deduplicated
    assert sorted(writer.writes[1:]) == [["a", "b"], ["b", "c"], ["bad"]]  # then alone
    await batcher.store(rows_with("d"))
    assert writer.writes[-1] == ["d"]
