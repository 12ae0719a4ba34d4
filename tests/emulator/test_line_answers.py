"""Edge-case answers worded as LINE's reference words them (the examples of its error
responses), which a schema check cannot catch: the status, the message, details or none."""

from __future__ import annotations

import json

import pytest
from linebot.v3.messaging import (
    MulticastRequest,
    PushMessageRequest,
    SetWebhookEndpointRequest,
    TextMessage,
)
from linebot.v3.messaging import TestWebhookEndpointRequest as WebhookTestRequest
from linebot.v3.messaging.exceptions import ApiException

from tests.emulator.clients import raw, sdk
from tests.emulator.openapi_check import check_response


def error_of(call) -> tuple[int, dict]:
    with pytest.raises(ApiException) as caught:
        call()
    return caught.value.status, json.loads(caught.value.body)


def friend_id(running) -> str:
    return next(f.user_id for f in running.channel.friends.values() if f.is_friend)


TEXT = [TextMessage(text="x")]


def test_unknown_paths_and_methods_carry_a_request_id(emulator_server):
    with raw(emulator_server) as client:
        for response in (
            client.get("/v2/bot/nothing"),
            client.get("/v2/bot/message/push"),  # a LINE path, another method
        ):
            assert response.headers["x-line-request-id"]
            assert response.status_code in (404, 405)


def test_malformed_recipients_are_property_errors(emulator_server):
    api = sdk(emulator_server)
    assert error_of(
        lambda: api.push_message(PushMessageRequest(to="kutemukan", messages=TEXT))
    ) == (
        400,
        {"message": "The property, 'to', in the request body is invalid (line: -, column: -)"},
    )
    user = friend_id(emulator_server)
    status, body = error_of(
        lambda: api.multicast(MulticastRequest(to=[user, "C" + "0" * 32], messages=TEXT))
    )
    assert (status, body) == (
        400,
        {"message": "The property, to[1], in the request body is invalid (line: -, column: -)"},
    )
    # a well-formed ID of no user of this channel
    status, body = error_of(
        lambda: api.push_message(PushMessageRequest(to="U" + "0" * 32, messages=TEXT))
    )
    assert (status, body) == (400, {"message": "Failed to send messages"})
    assert emulator_server.channel.inboxes == {}


def test_delivery_count_dates(emulator_server):
    api = sdk(emulator_server)
    for bad in ("2026-1-1", "20260230", "２０２６０１０１"):
        assert error_of(lambda bad=bad: api.get_number_of_sent_push_messages(bad)) == (
            400,
            {"message": "The value for the 'date' parameter is invalid"},
        )
    early = api.get_number_of_sent_push_messages("20180330")
    assert (early.status, early.success) == ("out_of_service", None)
    with raw(emulator_server) as client:
        check_response(client.get("/v2/bot/message/delivery/push", params={"date": "20180330"}))


def test_profile_of_a_malformed_or_unknown_user(emulator_server):
    api = sdk(emulator_server)
    assert error_of(lambda: api.get_profile("nobody")) == (
        400,
        {"message": "The value for the 'userId' parameter is invalid"},
    )
    assert error_of(lambda: api.get_profile("U" + "0" * 32)) == (404, {"message": "Not found"})


def test_webhook_endpoint_errors(emulator_server, webhook_receiver):
    api = sdk(emulator_server)
    not_set = (404, {"message": "Webhook endpoint not found"})
    assert error_of(api.get_webhook_endpoint) == not_set
    assert error_of(lambda: api.test_webhook_endpoint(WebhookTestRequest())) == not_set
    invalid = (400, {"message": "Invalid webhook endpoint URL"})
    ftp = "ftp://example.com/hook"
    assert error_of(lambda: api.set_webhook_endpoint(SetWebhookEndpointRequest(endpoint=ftp))) == (
        invalid
    )
    assert error_of(lambda: api.test_webhook_endpoint(WebhookTestRequest(endpoint=ftp))) == invalid
    with raw(emulator_server) as client:  # the SDK refuses to send a URL over 500 characters
        long = {"endpoint": "https://example.com/" + "a" * 500}
        answer = client.put("/v2/bot/channel/webhook/endpoint", json=long)
        assert (answer.status_code, answer.json()) == invalid
    api.set_webhook_endpoint(SetWebhookEndpointRequest(endpoint=webhook_receiver.url))
    ok = api.test_webhook_endpoint(WebhookTestRequest())
    assert (ok.success, ok.status_code, ok.reason, ok.detail) == (True, 200, "OK", "200")
    webhook_receiver.status = 503
    failed = api.test_webhook_endpoint(WebhookTestRequest())
    assert (failed.success, failed.reason, failed.detail) == (False, "ERROR_STATUS_CODE", "503")
