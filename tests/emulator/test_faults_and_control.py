"""Fault injection, the /_emulator/ control API, and state kept across restarts."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from enishi.cli.emulator import build_emulator
from enishi.emulator.runtime import load_state


def control(running) -> httpx.Client:
    return httpx.Client(base_url=f"{running.base_url}/_emulator", timeout=30)


def friend_ids(running, n: int) -> list[str]:
    return [f.user_id for f in running.channel.friends.values() if f.is_friend][:n]


def push(running, user: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{running.base_url}/v2/bot/message/push",
        headers=running.headers(**headers),
        json={"to": user, "messages": [{"type": "text", "text": "x"}]},
    )


def set_faults(running, rules: dict) -> None:
    with control(running) as c:
        response = c.put(f"/channels/{running.channel.channel_id}/faults", json=rules)
        assert response.status_code == 200, response.text


def test_forced_statuses_then_recovery(emulator_server):
    running = emulator_server
    user = friend_ids(running, 1)[0]
    set_faults(running, {"push": {"force_status": 429, "force_count": 2}})
    statuses = [push(running, user).status_code for _ in range(3)]
    assert statuses == [429, 429, 200]
    assert len(running.channel.inboxes[user]) == 1


def test_error_rate_and_other_operations_untouched(emulator_server):
    running = emulator_server
    user = friend_ids(running, 1)[0]
    set_faults(running, {"push": {"error_rate": 1.0, "error_status": 500}})
    response = push(running, user)
    assert response.status_code == 500
    assert response.headers["x-line-request-id"]
    assert user not in running.channel.inboxes
    ok = httpx.get(f"{running.base_url}/v2/bot/info", headers=running.headers())
    assert ok.status_code == 200


def test_partial_error_rate_is_about_right(emulator_server):
    running = emulator_server
    set_faults(running, {"*": {"error_rate": 0.3}})
    with httpx.Client(headers=running.headers()) as client:
        statuses = [client.get(f"{running.base_url}/v2/bot/info").status_code for _ in range(400)]
    assert 60 <= statuses.count(500) <= 180  # 120 expected; bounds far outside the noise


def test_latency(emulator_server):
    running = emulator_server
    set_faults(running, {"push": {"latency_ms": 300}})
    started = time.monotonic()
    assert push(running, friend_ids(running, 1)[0]).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_dropped_connection_after_delivery_and_retry_key(emulator_server):
    running = emulator_server
    user = friend_ids(running, 1)[0]
    key = str(uuid.uuid4())
    set_faults(running, {"push": {"drop_rate": 1.0}})
    with pytest.raises(httpx.HTTPError):
        push(running, user, **{"x-line-retry-key": key})
    assert len(running.channel.inboxes[user]) == 1  # it took effect; the answer was lost
    set_faults(running, {})
    retry = push(running, user, **{"x-line-retry-key": key})
    assert retry.status_code == 409
    assert len(running.channel.inboxes[user]) == 1


def test_bad_fault_rule_is_rejected(emulator_server):
    with control(emulator_server) as c:
        response = c.put(
            f"/channels/{emulator_server.channel.channel_id}/faults",
            json={"push": {"error_rat": 1}},
        )
    assert response.status_code == 400


def test_control_api_channels_friends_inbox_actions(emulator_server, webhook_receiver):
    running = emulator_server
    cid = running.channel.channel_id
    with control(running) as c:
        overview = httpx.get(f"{running.base_url}/_emulator").json()
        assert overview["channels"][0]["channelId"] == cid
        created = c.post("/channels", json={"friends": 5, "quota_limit": 100}).json()
        assert created["friends"] == 5 and created["accessToken"]
        assert c.post("/channels", json={"channel_id": cid}).status_code == 400
        patched = c.patch(f"/channels/{cid}", json={"webhook_url": webhook_receiver.url})
        assert patched.json()["webhookUrl"] == webhook_receiver.url
        assert c.patch(f"/channels/{cid}", json={"channel_secret": "x"}).status_code == 400
        friends = c.get(f"/channels/{cid}/friends", params={"limit": 10}).json()
        assert friends["total"] == 50 and len(friends["friends"]) == 10
        user = friends["friends"][0]["userId"]
        detail = c.get(f"/channels/{cid}/friends/{user}").json()
        assert "peak_hour" in detail["traits"]
        push(running, user)
        entries = c.get(f"/channels/{cid}/friends/{user}/inbox").json()
        assert entries["total"] == 1 and entries["entries"][0]["kind"] == "push"
        acted = c.post(
            f"/channels/{cid}/friends/{user}/actions", json={"action": "text", "text": "こんにちは"}
        )
        assert acted.status_code == 200, acted.text
        assert webhook_receiver.wait_for(1)[0]["message"]["text"] == "こんにちは"
        assert (
            c.post(f"/channels/{cid}/friends/{user}/actions", json={"action": "dance"}).status_code
            == 400
        )
        assert c.get(f"/channels/{cid}/friends/U{'0' * 32}").status_code == 404
        assert c.get("/channels/999/friends").status_code == 404
        added = c.post(f"/channels/{cid}/friends", json={"count": 3}).json()
        assert len(added["userIds"]) == 3
        assert webhook_receiver.wait_for(4)[-1]["type"] == "follow"
        counters = c.get(f"/channels/{cid}/counters").json()["counters"]
        assert counters["push"] == 1


def test_clock_advance(emulator_server):
    running = emulator_server
    with control(running) as c:
        before = c.get("/clock").json()["now"]
        after = c.post("/clock", json={"advance": 3600}).json()
        assert after["now"] - before >= 3600
        assert "happened" in after
        assert c.post("/clock", json={"advance": -1}).status_code == 400


def test_state_file_survives_a_restart(tmp_path, start_emulator):
    state_file = tmp_path / "emulator.pkl"
    emulator = build_emulator(
        specs=[{"friends": 20}], seed=3, rate_limit_scale=0, state_file=state_file, speed=0
    )
    channel = next(iter(emulator.state.channels.values()))
    user = next(iter(channel.friends))
    channel.inboxes[user] = []
    channel.usage_by_month["2026-11"] = 7
    emulator.save()
    restored = load_state(state_file)
    assert restored is not None
    again = restored.channels[channel.channel_id]
    assert again.access_token == channel.access_token
    assert again.usage_by_month["2026-11"] == 7
    assert list(again.friends) == list(channel.friends)
    assert restored.last_message_id == emulator.state.last_message_id
    rebuilt = build_emulator(specs=[], seed=0, rate_limit_scale=0, state_file=state_file, speed=0)
    assert rebuilt.state.channels[channel.channel_id].channel_secret == channel.channel_secret
    state_file.write_bytes(b"not a pickle of ours")
    with pytest.raises(Exception):  # noqa: B017 - any refusal is fine, silence is not
        load_state(state_file)
