"""enishi served for real, fed by the emulator's signed webhooks over HTTP; enishi's friends
must match the emulator's ground truth."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
from sqlalchemy import func, select

from enishi.db.engine import make_engine
from enishi.friends.models import FollowHistory, Friend, FriendActivity
from enishi.friends.service import friend_tags
from enishi.webhook.models import WebhookEvent


def sim_time(seconds: float | None) -> datetime | None:
    """The emulator's float seconds as the millisecond timestamp LINE sends."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(int(seconds * 1000) / 1000, UTC)


def enishi_friends(env) -> dict[str, Friend]:
    with env.state.sessions() as session:
        return {f.line_user_id: f for f in session.scalars(select(Friend))}


def assert_matches_ground_truth(env, users) -> None:
    """Status, follow and block times, and profile as the emulator knows them."""
    ours = enishi_friends(env)
    for user in users:
        truth = env.channel.friends[user]
        friend = ours[user]
        expected = "following" if truth.is_friend else "blocked" if truth.blocked else "unknown"
        assert friend.status == expected, user
        assert friend.first_followed_at == sim_time(truth.first_followed_at), user
        assert friend.last_followed_at == sim_time(truth.followed_at), user
        if truth.blocked:
            assert friend.blocked_at == sim_time(truth.blocked_at), user
        else:
            assert friend.blocked_at is None, user


def test_virtual_friends_follow_chat_tap_and_block(e2e):
    users = e2e.new_friends(7)
    e2e.act(users[0], "text", text="新作のスキンケアはありますか？")
    e2e.act(users[1], "block")
    e2e.act(users[2], "block")
    e2e.act(users[2], "unblock")
    e2e.act(users[3], "postback", data="enishi:tag=VIP&answer.q1=yes")
    e2e.act(users[4], "beacon", hwid="d41d8cd98f")
    e2e.act(users[5], "sticker", packageId="446", stickerId="1988")
    e2e.settle()

    assert_matches_ground_truth(e2e, users)
    ours = enishi_friends(e2e)
    for user in users:
        truth = e2e.channel.friends[user]
        friend = ours[user]
        assert friend.profile_fetched_at is not None
        if user == users[1]:  # blocked before enishi asked: LINE answers 404, profile empty
            assert friend.display_name is None
            continue
        assert friend.display_name == truth.display_name
        assert friend.picture_url == truth.picture_url
        assert friend.language == truth.language
        assert friend.status_message == truth.status_message

    with e2e.state.sessions() as session:

        def kinds(user: str) -> list[str]:
            return list(
                session.scalars(
                    select(FriendActivity.kind)
                    .where(FriendActivity.friend_id == ours[user].id)
                    .order_by(FriendActivity.id)
                )
            )

        assert kinds(users[0]) == ["message"]
        assert kinds(users[3]) == ["postback", "answer"]
        assert kinds(users[4]) == ["beacon"]
        assert kinds(users[5]) == ["message"]
        assert friend_tags(session, ours[users[3]].id) == ["VIP"]
        history = list(
            session.scalars(
                select(FollowHistory.kind)
                .where(FollowHistory.friend_id == ours[users[2]].id)
                .order_by(FollowHistory.id)
            )
        )
        assert history == ["follow", "block", "unblock"]
        statuses = set(session.scalars(select(WebhookEvent.status)))
        assert statuses == {"done"}
    assert ours[users[0]].last_message_at is not None

    with e2e.api() as api:
        page = api.get("/api/v1/webhook-events", params={"type": "follow"}).json()
        assert len(page["items"]) == 8  # 7 new friends and one unblock
        stats = api.get("/api/v1/webhook-events/stats").json()
        assert stats["by_status"]["done"] == stats["total"] == 14


def test_stored_events_equal_what_the_emulator_delivered_over_a_backfill(e2e):
    e2e.control("POST", "/backfill", json={"days": 30, "newFriends": 200})
    followers = e2e.following()
    for user in followers[:6]:
        e2e.act(user, "block")
    for user in followers[:2]:
        e2e.act(user, "unblock")
    e2e.settle()

    log = e2e.control("GET", "/webhooks", params={"limit": 10000})
    delivered = {i for a in log["attempts"] if a["outcome"] == "ok" for i in a["event_ids"]}
    with e2e.state.sessions() as session:
        stored = set(session.scalars(select(WebhookEvent.webhook_event_id)))
        assert session.scalar(select(func.count()).where(WebhookEvent.status != "done")) == 0
    assert len(delivered) > 200 and stored == delivered
    users = [u for u, f in e2e.channel.friends.items() if f.first_followed_at is not None]
    assert len(users) == 200
    assert sum(1 for u in users if e2e.channel.friends[u].blocked) >= 4
    assert_matches_ground_truth(e2e, users)


def test_unstored_events_are_refused_and_redelivered_once(start_e2e, tmp_path):
    env = start_e2e(webhook_retry_delays=(1.0, 2.0, 4.0))
    user = env.new_friends(1)[0]
    env.settle()
    good = env.state.writer.engine
    broken = make_engine(f"sqlite:///{tmp_path}/missing-dir/enishi.db")
    env.state.writer.engine = broken  # the database is "down"
    try:
        env.act(user, "text", text="届いていますか？")
    finally:
        env.state.writer.engine = good
        broken.dispose()
    deadline = time.monotonic() + 20
    while env.pending_events() == 0:
        assert time.monotonic() < deadline, "LINE's redelivery was not stored"
        time.sleep(0.05)
    env.settle()
    with env.state.sessions() as session:
        (message,) = session.scalars(select(WebhookEvent).where(WebhookEvent.type == "message"))
        assert message.is_redelivery and message.status == "done"
    log = env.control("GET", "/webhooks")["attempts"]
    tries = [
        (a["status_code"], a["is_redelivery"])
        for a in log
        if message.webhook_event_id in a["event_ids"]
    ]
    # refused first; then redelivered until stored (a loaded machine may time out a retry)
    assert tries[0] == (503, False) and tries[-1] == (200, True), tries
    assert all(redelivery for _, redelivery in tries[1:])
    with env.state.sessions() as session:
        texts = list(
            session.scalars(
                select(FriendActivity.data["text"].as_string()).where(
                    FriendActivity.kind == "message"
                )
            )
        )
        assert texts == ["届いていますか？"]


def test_a_webhook_with_a_forged_signature_is_refused_over_http(e2e):
    body = b'{"destination":"U0","events":[]}'
    response = httpx.post(e2e.webhook_url, content=body, headers={"x-line-signature": "AAAA"})
    assert response.status_code == 401
    test = e2e.control("GET", "")  # the channel as the emulator sees it
    assert test["webhookUrl"] == e2e.webhook_url


def test_profiles_missed_while_line_failed_are_fetched_later(e2e, monkeypatch):
    from enishi.webhook import processor

    e2e.control("PUT", "/faults", json={"profile": {"force_status": 500, "force_count": 1}})
    first, second = e2e.new_friends(2)
    e2e.settle()
    ours = enishi_friends(e2e)
    assert ours[first].profile_fetched_at is None  # LINE answered 500: left for later
    assert ours[second].profile_fetched_at is None  # the account pauses after a failure
    assert ours[first].status == "following"

    monkeypatch.setattr(processor, "_profile_backoff", {})  # the pause is over
    assert processor.sweep_missing_profiles(e2e.state, force=True) == 2
    ours = enishi_friends(e2e)
    for user in (first, second):
        assert ours[user].display_name == e2e.channel.friends[user].display_name
        assert ours[user].profile_fetched_at is not None


def test_profile_fetches_keep_to_the_rate_limit(e2e, monkeypatch):
    from enishi.line.ratelimit import TokenBucket
    from enishi.webhook import processor

    limiter = TokenBucket(rate=20, capacity=1)
    monkeypatch.setattr(processor, "bucket", lambda channel_id, endpoint: limiter)
    e2e.new_friends(10)
    e2e.emulator.call(e2e.emulator.emulator.webhooks.drain())
    started = time.monotonic()
    e2e.worker.run_until_idle()
    assert time.monotonic() - started >= 9 / 20 * 0.9
    counters = e2e.control("GET", "/counters")["counters"]
    assert counters["profile"] == 10 and "rate_limited" not in counters
    assert all(f.display_name for f in enishi_friends(e2e).values())
