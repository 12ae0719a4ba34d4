"""Sending endpoints, driven by the official line-bot-sdk and checked against LINE's spec."""

from __future__ import annotations

import uuid

import httpx
import pytest
from linebot.v3.messaging import (
    ApiClient,
    AsyncApiClient,
    AsyncMessagingApi,
    BroadcastRequest,
    Configuration,
    MessageAction,
    MessagingApi,
    MulticastRequest,
    PushMessageRequest,
    QuickReply,
    QuickReplyItem,
    ReplyMessageRequest,
    TextMessage,
    ValidateMessageRequest,
)
from linebot.v3.messaging.exceptions import ApiException

from enishi.emulator.clock import jst_date
from tests.emulator.clients import raw, sdk
from tests.emulator.openapi_check import check_response


def following_ids(running, n: int) -> list[str]:
    return [f.user_id for f in running.channel.friends.values() if f.is_friend][:n]


def inbox(running, user_id: str):
    return running.channel.inboxes.get(user_id, [])


def test_push_delivers_once_and_answers_sent_messages(emulator_server):
    api = sdk(emulator_server)
    user = following_ids(emulator_server, 1)[0]
    response = api.push_message_with_http_info(
        PushMessageRequest(
            to=user, messages=[TextMessage(text="こんにちは"), TextMessage(text="二通目")]
        )
    )
    assert response.status_code == 200
    assert len(response.data.sent_messages) == 2
    assert all(m.id.isdigit() for m in response.data.sent_messages)
    assert response.headers["x-line-request-id"]
    entries = inbox(emulator_server, user)
    assert [m["text"] for m in entries[-1].messages] == ["こんにちは", "二通目"]
    assert entries[-1].request_id == response.headers["x-line-request-id"]
    with raw(emulator_server) as client:
        check_response(
            client.post(
                "/v2/bot/message/push",
                json={"to": user, "messages": [{"type": "text", "text": "spec"}]},
            )
        )


def test_push_to_blocked_friend_is_accepted_but_neither_delivered_nor_billed(emulator_server):
    running = emulator_server
    user = following_ids(running, 1)[0]
    friend = running.channel.friends[user]
    friend.is_friend, friend.blocked = False, True
    before = dict(running.channel.usage_by_month)
    sdk(running).push_message(PushMessageRequest(to=user, messages=[TextMessage(text="x")]))
    assert inbox(running, user) == []
    assert running.channel.usage_by_month == before


def test_push_to_unknown_user_is_400(emulator_server):
    with pytest.raises(ApiException) as err:
        sdk(emulator_server).push_message(
            PushMessageRequest(to="U" + "0" * 32, messages=[TextMessage(text="x")])
        )
    assert err.value.status == 400


def test_multicast_reaches_friends_only_and_counts_per_recipient(emulator_server):
    running = emulator_server
    users = following_ids(running, 10)
    blocked = users[0]
    running.channel.friends[blocked].is_friend = False
    stranger = "U" + "f" * 32
    sdk(running).multicast(
        MulticastRequest(to=[*users, stranger], messages=[TextMessage(text="セール")])
    )
    assert inbox(running, blocked) == []
    assert all(len(inbox(running, u)) == 1 for u in users[1:])
    assert sum(running.channel.usage_by_month.values()) == 9
    with raw(running) as client:
        response = client.post(
            "/v2/bot/message/multicast",
            json={"to": users[1:3], "messages": [{"type": "text", "text": "x"}]},
        )
        assert response.status_code == 200 and response.json() == {}
        check_response(response)


def test_multicast_over_500_recipients_is_rejected_with_details(emulator_server):
    with raw(emulator_server) as client:
        response = client.post(
            "/v2/bot/message/multicast",
            json={
                "to": ["U" + uuid.uuid4().hex for _ in range(501)],
                "messages": [{"type": "text", "text": "x"}],
            },
        )
    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "The request body has 1 error(s)"
    assert body["details"][0]["property"] == "to"
    check_response(response)


def test_validation_errors_name_the_property(emulator_server):
    user = following_ids(emulator_server, 1)[0]
    with raw(emulator_server) as client:
        response = client.post(
            "/v2/bot/message/push",
            json={"to": user, "messages": [{"type": "text", "text": "a" * 5001}]},
        )
        assert response.status_code == 400
        assert response.json()["details"][0]["property"] == "messages[0].text"
        check_response(response)
        six = [{"type": "text", "text": "x"}] * 6
        response = client.post("/v2/bot/message/push", json={"to": user, "messages": six})
        assert response.json()["details"][0]["property"] == "messages"


def test_unparsable_and_oversized_bodies(emulator_server):
    with raw(emulator_server) as client:
        response = client.post(
            "/v2/bot/message/push",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 400
        assert response.json()["message"].startswith("The request body could not be parsed as JSON")
        big = {"to": "U" + "0" * 32, "messages": [{"type": "text", "text": "x" * 2_100_000}]}
        response = client.post("/v2/bot/message/push", json=big)
        assert response.status_code == 413
        assert response.headers["x-line-request-id"]


def test_authentication(emulator_server):
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic x"}):
        response = httpx.get(f"{emulator_server.base_url}/v2/bot/info", headers=headers)
        assert response.status_code == 401
        assert response.json()["message"].startswith("Authentication failed")
        assert response.headers["x-line-request-id"]
    with pytest.raises(ApiException) as err:
        MessagingApi(
            ApiClient(Configuration(host=emulator_server.base_url, access_token="nope"))
        ).get_bot_info()
    assert err.value.status == 401


def test_broadcast_reaches_every_follower(emulator_server):
    running = emulator_server
    sdk(running).broadcast(BroadcastRequest(messages=[TextMessage(text="全員へ")]))
    following = following_ids(running, 10_000)
    assert all(inbox(running, u)[-1].kind == "broadcast" for u in following)
    assert sum(running.channel.usage_by_month.values()) == len(following)


def test_retry_key_makes_a_retry_a_no_op(emulator_server):
    running = emulator_server
    user = following_ids(running, 1)[0]
    key = str(uuid.uuid4())
    body = {"to": user, "messages": [{"type": "text", "text": "once"}]}
    with raw(running) as client:
        first = client.post("/v2/bot/message/push", json=body, headers={"x-line-retry-key": key})
        again = client.post("/v2/bot/message/push", json=body, headers={"x-line-retry-key": key})
        assert first.status_code == 200
        assert again.status_code == 409
        assert again.json()["message"] == "The retry key is already accepted"
        assert again.json()["sentMessages"] == first.json()["sentMessages"]
        assert again.headers["x-line-accepted-request-id"] == first.headers["x-line-request-id"]
        assert again.headers["x-line-request-id"] != first.headers["x-line-request-id"]
        check_response(again)
        # the SDK passes the header the same way
        with pytest.raises(ApiException) as err:
            sdk(running).push_message(PushMessageRequest.from_dict(body), x_line_retry_key=key)
        assert err.value.status == 409
        # a retry key where LINE takes none, or not a UUID
        reply = client.post(
            "/v2/bot/message/reply",
            headers={"x-line-retry-key": key},
            json={"replyToken": "x", "messages": [{"type": "text", "text": "x"}]},
        )
        assert reply.status_code == 400
        bad = client.post(
            "/v2/bot/message/push", json=body, headers={"x-line-retry-key": "not-a-uuid"}
        )
        assert bad.status_code == 400
    assert len(inbox(running, user)) == 1


def test_retry_key_expires_after_24_hours(emulator_server):
    running = emulator_server
    user = following_ids(running, 1)[0]
    key = str(uuid.uuid4())
    body = {"to": [user], "messages": [{"type": "text", "text": "x"}]}
    with raw(running) as client:
        assert (
            client.post(
                "/v2/bot/message/multicast", json=body, headers={"x-line-retry-key": key}
            ).status_code
            == 200
        )
        running.emulator.state.clock.advance(24 * 3600 + 1)
        assert (
            client.post(
                "/v2/bot/message/multicast", json=body, headers={"x-line-retry-key": key}
            ).status_code
            == 200
        )
    assert len(inbox(running, user)) == 2


def test_failed_request_does_not_consume_the_retry_key(emulator_server):
    running = emulator_server
    user = following_ids(running, 1)[0]
    key = str(uuid.uuid4())
    with raw(running) as client:
        bad = client.post(
            "/v2/bot/message/push",
            headers={"x-line-retry-key": key},
            json={"to": user, "messages": []},
        )
        assert bad.status_code == 400
        good = client.post(
            "/v2/bot/message/push",
            headers={"x-line-retry-key": key},
            json={"to": user, "messages": [{"type": "text", "text": "x"}]},
        )
        assert good.status_code == 200


def test_rate_limit_per_endpoint(start_emulator):
    running = start_emulator(rate_limit_scale=0.005)  # push: 10 per second, burst 10
    user = following_ids(running, 1)[0]
    body = {"to": user, "messages": [{"type": "text", "text": "x"}]}
    with raw(running) as client:
        statuses = [client.post("/v2/bot/message/push", json=body).status_code for _ in range(30)]
        assert statuses[:10] == [200] * 10
        assert 429 in statuses[10:]
        limited = client.post("/v2/bot/message/push", json=body)
        if limited.status_code == 429:
            assert limited.json() == {
                "message": "The API rate limit has been exceeded. Try again later."
            }
            check_response(limited)
        # another endpoint of the same channel has its own bucket
        assert client.get("/v2/bot/info").status_code == 200
    delivered = len(inbox(running, user))
    assert delivered == statuses.count(200) + (limited.status_code == 200)


def test_monthly_quota(start_emulator):
    running = start_emulator(quota_limit=5)
    users = following_ids(running, 4)
    api = sdk(running)
    assert api.get_message_quota().type == "limited"
    assert api.get_message_quota().value == 5
    api.multicast(MulticastRequest(to=users, messages=[TextMessage(text="x")]))
    assert api.get_message_quota_consumption().total_usage == 4
    with pytest.raises(ApiException) as err:
        api.multicast(MulticastRequest(to=users[:2], messages=[TextMessage(text="x")]))
    assert err.value.status == 429
    assert "You have reached your monthly limit." in err.value.body
    api.push_message(PushMessageRequest(to=users[0], messages=[TextMessage(text="last")]))
    assert api.get_message_quota_consumption().total_usage == 5


def test_unlimited_quota(start_emulator):
    running = start_emulator(quota_limit=None)
    assert sdk(running).get_message_quota().type == "none"
    with raw(running) as client:
        check_response(client.get("/v2/bot/message/quota"))
        check_response(client.get("/v2/bot/message/quota/consumption"))


def test_validate_endpoints(emulator_server):
    api = sdk(emulator_server)
    ok = ValidateMessageRequest(messages=[TextMessage(text="ok")])
    for method in (
        api.validate_push,
        api.validate_multicast,
        api.validate_broadcast,
        api.validate_narrowcast,
        api.validate_reply,
    ):
        method(ok)
    with raw(emulator_server) as client:
        bad = client.post("/v2/bot/message/validate/push", json={"messages": [{"type": "text"}]})
        assert bad.status_code == 400
        assert bad.json()["details"][0]["property"] == "messages[0].text"
        check_response(bad)
    assert emulator_server.channel.inboxes == {}


def test_delivery_counts_by_jst_date(emulator_server):
    running = emulator_server
    users = following_ids(running, 3)
    api = sdk(running)
    api.multicast(MulticastRequest(to=users, messages=[TextMessage(text="x")]))
    today = jst_date(running.emulator.state.clock.now())
    assert api.get_number_of_sent_multicast_messages(today).status == "unready"
    running.emulator.state.clock.advance(86400)
    counted = api.get_number_of_sent_multicast_messages(today)
    assert (counted.status, counted.success) == ("ready", 3)
    with raw(running) as client:
        check_response(client.get("/v2/bot/message/delivery/multicast", params={"date": today}))
        assert (
            client.get("/v2/bot/message/delivery/push", params={"date": "2026-1-1"}).status_code
            == 400
        )


def test_reply_token_is_single_use_and_expires(emulator_server, webhook_receiver):
    running = emulator_server
    running.channel.webhook_url = webhook_receiver.url
    user = following_ids(running, 2)
    sim = running.emulator.simulator
    running.call(sim.send_text(running.channel, user[0], "質問です"))
    running.call(sim.send_text(running.channel, user[1], "もう一つ"))
    running.call(running.emulator.webhooks.drain())
    tokens = [e["replyToken"] for e in webhook_receiver.wait_for(2)]
    api = sdk(running)
    sent = api.reply_message(
        ReplyMessageRequest(
            reply_token=tokens[0],
            messages=[
                TextMessage(
                    text="回答です",
                    quick_reply=QuickReply(
                        items=[QuickReplyItem(action=MessageAction(label="はい", text="はい"))]
                    ),
                )
            ],
        )
    )
    assert len(sent.sent_messages) == 1
    assert inbox(running, user[0])[-1].kind == "reply"
    assert running.channel.usage_by_month == {}  # reply is free
    with pytest.raises(ApiException) as err:
        api.reply_message(
            ReplyMessageRequest(reply_token=tokens[0], messages=[TextMessage(text="again")])
        )
    assert err.value.status == 400 and "Invalid reply token" in err.value.body
    running.emulator.state.clock.advance(61)
    with pytest.raises(ApiException):
        api.reply_message(
            ReplyMessageRequest(reply_token=tokens[1], messages=[TextMessage(text="late")])
        )


def test_profile_bot_info_followers(start_emulator):
    running = start_emulator(friends=2500)
    api = sdk(running)
    user = following_ids(running, 1)[0]
    profile = api.get_profile(user)
    assert profile.user_id == user
    assert profile.display_name == running.channel.friends[user].display_name
    with pytest.raises(ApiException) as err:
        api.get_profile("U" + "0" * 32)
    assert err.value.status == 404
    assert api.get_bot_info().user_id == running.channel.bot_user_id
    seen, start, pages = [], None, 0
    while True:
        page = api.get_followers(start=start, limit=1000)
        seen += page.user_ids
        pages += 1
        if not page.next:
            break
        start = page.next
    assert pages == 3
    assert sorted(seen) == sorted(following_ids(running, 10**6))
    with raw(running) as client:
        check_response(client.get(f"/v2/bot/profile/{user}"))
        check_response(client.get("/v2/bot/info"))
        check_response(client.get("/v2/bot/followers/ids", params={"limit": 10}))
        assert client.get("/v2/bot/followers/ids", params={"start": "garbage"}).status_code == 400
        assert client.get("/v2/bot/followers/ids", params={"limit": 1001}).status_code == 400
    running.channel.premium = False
    with pytest.raises(ApiException) as err:
        api.get_followers()
    assert err.value.status == 403


def test_link_token(emulator_server):
    user = following_ids(emulator_server, 1)[0]
    token = sdk(emulator_server).issue_link_token(user).link_token
    assert emulator_server.channel.link_tokens[token][0] == user
    with raw(emulator_server) as client:
        check_response(client.post(f"/v2/bot/user/{user}/linkToken"))


def test_webhook_endpoint_settings_and_test(emulator_server, webhook_receiver):
    api = sdk(emulator_server)
    with pytest.raises(ApiException) as err:
        api.get_webhook_endpoint()
    assert err.value.status == 404
    from linebot.v3.messaging import SetWebhookEndpointRequest, TestWebhookEndpointRequest

    api.set_webhook_endpoint(SetWebhookEndpointRequest(endpoint=webhook_receiver.url))
    info = api.get_webhook_endpoint()
    assert (info.endpoint, info.active) == (webhook_receiver.url, True)
    result = api.test_webhook_endpoint(TestWebhookEndpointRequest())
    assert result.success and result.status_code == 200
    assert webhook_receiver.requests[-1][0].startswith(b'{"destination":"U')
    webhook_receiver.status = 500
    result = api.test_webhook_endpoint(TestWebhookEndpointRequest(endpoint=webhook_receiver.url))
    assert not result.success and result.status_code == 500
    with raw(emulator_server) as client:
        check_response(client.get("/v2/bot/channel/webhook/endpoint"))
        check_response(client.post("/v2/bot/channel/webhook/test", json={}))
        bad = client.put("/v2/bot/channel/webhook/endpoint", json={"endpoint": "ftp://x"})
        assert bad.status_code == 400


def test_unknown_path_answers_like_line(emulator_server):
    response = httpx.get(f"{emulator_server.base_url}/v2/bot/nothing")
    assert response.status_code == 404
    assert response.json() == {"message": "Not found"}


async def test_async_sdk_client(emulator_server):
    running = emulator_server
    users = following_ids(running, 2)
    async with AsyncApiClient(
        Configuration(host=running.base_url, access_token=running.token)
    ) as client:
        api = AsyncMessagingApi(client)
        await api.multicast(MulticastRequest(to=users, messages=[TextMessage(text="async")]))
        quota = await api.get_message_quota_consumption()
    assert quota.total_usage == 2
    assert inbox(running, users[1])[-1].messages[0]["text"] == "async"
