"""Insight endpoints through the official SDK: message events of broadcasts and narrowcasts
(with LINE's null-under-20 rule), delivery counts and followers."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from linebot.v3.insight import ApiClient as InsightClient
from linebot.v3.insight import ApiException as InsightApiException
from linebot.v3.insight import Configuration as InsightConfiguration
from linebot.v3.insight import Insight
from linebot.v3.messaging import (
    ApiClient,
    BroadcastRequest,
    Configuration,
    Limit,
    MessagingApi,
    NarrowcastRequest,
    PushMessageRequest,
    TemplateMessage,
    TextMessage,
    URIAction,
)
from linebot.v3.messaging.models import ButtonsTemplate

from enishi.emulator.clock import JST, jst_date

SALE = "https://shop.example/sale?utm_source=line"
MESSAGES = [
    TextMessage(text="週末セール開催中"),
    TemplateMessage(
        altText="セール",
        template=ButtonsTemplate(
            text="詳しくはこちら", actions=[URIAction(label="見る", uri=SALE)]
        ),
    ),
]


def line(running) -> MessagingApi:
    return MessagingApi(ApiClient(Configuration(host=running.base_url, access_token=running.token)))


def insight(running) -> Insight:
    config = InsightConfiguration(host=running.base_url, access_token=running.token)
    return Insight(InsightClient(config))


def following(running) -> list[str]:
    return [f.user_id for f in running.channel.friends.values() if f.is_friend]


def interact(running, request_id: str, *, reads: int, clicks: int) -> None:
    channel = running.channel
    users = following(running)

    async def act():
        for uid in users[:reads]:
            for entry in channel.inboxes.get(uid, []):
                if entry.request_id == request_id:
                    entry.read = True
        if clicks:
            channel.link_clicks[request_id] = {SALE: set(users[:clicks])}

    running.call(act())


def test_broadcast_message_event(checked_emulator):
    response = line(checked_emulator).broadcast_with_http_info(BroadcastRequest(messages=MESSAGES))
    request_id = response.headers["x-line-request-id"]
    interact(checked_emulator, request_id, reads=40, clicks=25)
    event = insight(checked_emulator).get_message_event(request_id)
    overview = event.overview
    assert overview.request_id == request_id
    assert overview.delivered == len(following(checked_emulator)) == 300
    assert (overview.unique_impression, overview.unique_click) == (40, 25)
    assert overview.unique_media_played is None
    assert abs(overview.timestamp - checked_emulator.emulator.state.clock.now()) < 5
    assert [(m.seq, m.impression, m.media_played) for m in event.messages] == [
        (1, 40, None),
        (2, 40, None),
    ]
    assert [
        (c.seq, c.url, c.click, c.unique_click, c.unique_click_of_request) for c in event.clicks
    ] == [(2, SALE, 25, 25, 25)]


def test_counts_under_20_are_null(checked_emulator):
    response = line(checked_emulator).broadcast_with_http_info(BroadcastRequest(messages=MESSAGES))
    request_id = response.headers["x-line-request-id"]
    interact(checked_emulator, request_id, reads=19, clicks=5)
    event = insight(checked_emulator).get_message_event(request_id)
    assert event.overview.delivered == 300  # shown even when small
    assert (event.overview.unique_impression, event.overview.unique_click) == (None, None)
    assert (event.messages, event.clicks) == ([], [])  # LINE leaves hidden rows out


def test_narrowcast_message_event(checked_emulator):
    response = line(checked_emulator).narrowcast_with_http_info(
        NarrowcastRequest(messages=MESSAGES[:1], limit=Limit(max=80))
    )
    request_id = response.headers["x-line-request-id"]
    deadline = time.monotonic() + 10
    while line(checked_emulator).get_narrowcast_progress(request_id).phase != "succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    recipients = checked_emulator.channel.narrowcasts[request_id]["recipients"]

    async def read():
        for uid in recipients[:30]:
            checked_emulator.channel.inboxes[uid][-1].read = True

    checked_emulator.call(read())
    event = insight(checked_emulator).get_message_event(request_id)
    assert (event.overview.delivered, event.overview.unique_impression) == (80, 30)
    assert event.clicks == []


def test_unknown_or_push_request_is_not_found(checked_emulator):
    push = line(checked_emulator).push_message_with_http_info(
        PushMessageRequest(to=following(checked_emulator)[0], messages=MESSAGES[:1])
    )
    for request_id in ("nope", push.headers["x-line-request-id"]):
        with pytest.raises(InsightApiException) as caught:
            insight(checked_emulator).get_message_event(request_id)
        assert caught.value.status == 404
        assert json.loads(caught.value.body) == {"message": "Not found"}


def error_of(call) -> tuple[int, dict]:
    with pytest.raises(InsightApiException) as caught:
        call()
    return caught.value.status, json.loads(caught.value.body)


def advance(running, seconds: float) -> None:
    async def move():
        running.emulator.state.clock.advance(seconds)

    running.call(move())


def test_delivery_counts(checked_emulator):
    api = line(checked_emulator)
    users = following(checked_emulator)
    api.broadcast(BroadcastRequest(messages=MESSAGES[:1]))
    for uid in users[:3]:
        api.push_message(PushMessageRequest(to=uid, messages=MESSAGES[:1]))
    today = jst_date(checked_emulator.emulator.state.clock.now())
    stats = insight(checked_emulator)
    assert stats.get_number_of_message_deliveries(today).to_dict() == {"status": "unready"}
    advance(checked_emulator, 86400)
    counts = stats.get_number_of_message_deliveries(today)
    assert (counts.status, counts.api_broadcast, counts.api_push) == ("ready", 300, 3)
    assert counts.api_narrowcast is None and counts.api_multicast is None
    bad = httpx.get(
        f"{checked_emulator.base_url}/v2/bot/insight/message/delivery",
        params={"date": "2026-01-01"},
        headers=checked_emulator.headers(),
    )
    assert (bad.status_code, bad.json()) == (400, {"message": "Bad Request"})
    assert stats.get_number_of_message_deliveries("20170228").status == "out_of_service"
    # yyyyMMdd that is no date
    assert error_of(lambda: stats.get_number_of_message_deliveries("20260230"))[0] == 400


def test_followers(checked_emulator):
    channel = checked_emulator.channel
    now = checked_emulator.emulator.state.clock.now()
    users = following(checked_emulator)

    async def block_some():
        for uid in users[:12]:
            friend = channel.friends[uid]
            friend.is_friend, friend.blocked, friend.blocked_at = False, True, now - 1

    checked_emulator.call(block_some())
    stats = insight(checked_emulator)
    today = jst_date(now)
    assert stats.get_number_of_followers(var_date=today).status == "unready"
    advance(checked_emulator, 86400)
    result = stats.get_number_of_followers(var_date=today)
    known = sum(
        1 for f in channel.friends.values() if f.is_friend and f.traits.gender in ("male", "female")
    )
    assert (result.status, result.followers, result.blocks) == ("ready", 300, 12)
    assert result.targeted_reaches == known
    assert stats.get_number_of_followers().status == "ready"  # no date: yesterday
    # a date before anyone followed
    first = min(f.first_followed_at for f in channel.friends.values())
    from datetime import datetime, timedelta

    before = (datetime.fromtimestamp(first, JST) - timedelta(days=1)).strftime("%Y%m%d")
    early = stats.get_number_of_followers(var_date=before)
    assert (early.followers, early.blocks, early.targeted_reaches) == (0, 0, 0)
    assert stats.get_number_of_followers(var_date="20161031").status == "out_of_service"
    assert error_of(lambda: stats.get_number_of_followers(var_date="2026ABCD")) == (
        400,
        {"message": "Bad Request"},
    )
