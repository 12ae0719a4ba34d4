"""Signed webhooks, LINE's event format, and redelivery."""

from __future__ import annotations

import time

import httpx
from linebot.v3 import WebhookParser
from linebot.v3.webhooks import FollowEvent, MessageEvent, TextMessageContent

from enishi.emulator.events import make_event
from enishi.emulator.webhooks import sign
from tests.emulator.webhook_schema import check_callback


def first_friend(running) -> str:
    return next(f.user_id for f in running.channel.friends.values() if f.is_friend)


def wait_until(predicate, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_webhook_is_signed_over_exact_bytes_and_matches_spec(emulator_server, webhook_receiver):
    running = emulator_server
    running.channel.webhook_url = webhook_receiver.url
    user = first_friend(running)
    running.call(running.emulator.simulator.send_text(running.channel, user, "こんにちは😀"))
    running.call(running.emulator.webhooks.drain())
    webhook_receiver.wait_for(1)
    body, headers = webhook_receiver.requests[0]
    assert headers["x-line-signature"] == sign(running.secret, body)
    assert "こんにちは".encode() in body  # raw UTF-8, as LINE sends it
    events = WebhookParser(running.secret).parse(body.decode(), headers["x-line-signature"])
    assert isinstance(events[0], MessageEvent)
    assert isinstance(events[0].message, TextMessageContent)
    assert events[0].message.text == "こんにちは😀"
    assert events[0].source.user_id == user
    raw_events = check_callback(body)
    event = raw_events[0]
    assert len(event["webhookEventId"]) == 26  # a ULID
    assert event["deliveryContext"] == {"isRedelivery": False}
    assert event["mode"] == "active"
    assert abs(event["timestamp"] - running.emulator.state.clock.now_ms()) < 5000


def test_events_that_happen_together_share_one_request(emulator_server, webhook_receiver):
    running = emulator_server
    channel = running.channel
    channel.webhook_url = webhook_receiver.url
    state = running.emulator.state
    users = [f.user_id for f in channel.friends.values() if f.is_friend][:3]

    async def together() -> None:
        events = [
            make_event(state, channel, "follow", u, {"follow": {"isUnblocked": False}})
            for u in users
        ]
        running.emulator.webhooks.enqueue(channel, events)
        await running.emulator.webhooks.drain()

    running.call(together())
    webhook_receiver.wait_for(3)
    assert len(webhook_receiver.requests) == 1
    parsed = WebhookParser(running.secret).parse(
        webhook_receiver.requests[0][0].decode(),
        webhook_receiver.requests[0][1]["x-line-signature"],
    )
    assert [type(e) for e in parsed] == [FollowEvent] * 3
    assert {e.source.user_id for e in parsed} == set(users)


def test_failed_delivery_is_redelivered_with_same_event_id(emulator_server, webhook_receiver):
    running = emulator_server
    running.channel.webhook_url = webhook_receiver.url
    webhook_receiver.status = 503
    user = first_friend(running)
    running.call(running.emulator.simulator.send_text(running.channel, user, "one"))
    running.call(running.emulator.webhooks.drain())
    wait_until(lambda: len(webhook_receiver.requests) >= 1)
    webhook_receiver.status = 200
    wait_until(lambda: len(webhook_receiver.requests) >= 2)
    first, second = (check_callback(b)[0] for b, _ in webhook_receiver.requests[:2])
    assert first["webhookEventId"] == second["webhookEventId"]
    assert first["replyToken"] == second["replyToken"]
    assert first["deliveryContext"]["isRedelivery"] is False
    assert second["deliveryContext"]["isRedelivery"] is True
    log = httpx.get(
        f"{running.base_url}/_emulator/channels/{running.channel.channel_id}/webhooks"
    ).json()["attempts"]
    assert [(a["outcome"], a["status_code"], a["is_redelivery"]) for a in log[:2]] == [
        ("http_error", 503, False),
        ("ok", 200, True),
    ]


def test_slow_endpoint_counts_as_timeout(emulator_server, webhook_receiver):
    running = emulator_server
    running.emulator.webhooks.timeout = 0.3  # LINE's 2 s, scaled down for the test
    running.channel.webhook_url = webhook_receiver.url
    webhook_receiver.delay = 0.6
    running.call(
        running.emulator.simulator.send_text(running.channel, first_friend(running), "slow")
    )
    running.call(running.emulator.webhooks.drain())
    webhook_receiver.delay = 0
    wait_until(lambda: len(running.channel.webhook_log) >= 2)
    outcomes = [a.outcome for a in running.channel.webhook_log]
    assert outcomes[:2] == ["timeout", "ok"]
    assert running.channel.webhook_log[1].is_redelivery


def test_no_redelivery_when_it_is_off(emulator_server, webhook_receiver):
    running = emulator_server
    running.channel.webhook_url = webhook_receiver.url
    running.channel.redelivery = False
    webhook_receiver.status = 500
    running.call(
        running.emulator.simulator.send_text(running.channel, first_friend(running), "lost")
    )
    running.call(running.emulator.webhooks.drain())
    time.sleep(1.0)  # longer than every scaled retry delay
    assert len(webhook_receiver.requests) == 1
    assert running.emulator.webhooks.pending_redeliveries() == 0


def test_unreachable_endpoint_is_logged(emulator_server):
    running = emulator_server
    running.channel.webhook_url = "http://127.0.0.1:9/webhook"
    running.channel.redelivery = False
    running.call(
        running.emulator.simulator.send_text(running.channel, first_friend(running), "nobody")
    )
    running.call(running.emulator.webhooks.drain())
    assert running.channel.webhook_log[-1].outcome == "connection_error"
