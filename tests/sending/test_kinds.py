"""Each kind of outbound request, enqueued by a non-delivery producer and sent by the
dispatcher to the emulator over real HTTP: LINE's method, path, headers and body (the
emulator answers 400 to anything else, e.g. a retry key on a reply), read back from the
emulator's records."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import func, select

from enishi.db.base import utcnow
from enishi.sending import producers
from enishi.sending.models import (
    FAILED,
    OPERATOR,
    PENDING,
    SCENARIO,
    SENDING,
    SENT,
    SYSTEM,
    OutboundRequest,
)
from enishi.sending.producers import Producer
from enishi.sending.quota import messages_sent, month_start
from enishi.sending.service import enqueue
from enishi.webhook.models import WebhookEvent
from tests.emulator.test_richmenu import new_menu

TEXT = [{"type": "text", "text": "お知らせ"}]


def send(env, *requests: dict) -> list[OutboundRequest]:
    """Enqueue in one transaction, run the worker until idle, read the rows back."""
    with env.state.sessions.begin() as session:
        ids = [enqueue(session, account_id=env.account_id, source=SYSTEM, **r).id for r in requests]
    settle(env, ids)
    with env.state.sessions() as session:
        rows = session.scalars(select(OutboundRequest).where(OutboundRequest.id.in_(ids)))
        by_id = {row.id: row for row in rows}
        for row in by_id.values():
            session.expunge(row)
    return [by_id[i] for i in ids]


def settle(env, ids: list[int], timeout: float = 60) -> None:
    """Run the worker until every request is final (a claim in progress looks idle)."""
    deadline = time.monotonic() + timeout
    while True:
        env.worker.run_until_idle(timeout)
        with env.state.sessions() as session:
            open_rows = session.scalar(
                select(func.count()).where(
                    OutboundRequest.id.in_(ids), OutboundRequest.status.in_((PENDING, SENDING))
                )
            )
        if not open_rows:
            return
        assert time.monotonic() < deadline, f"{open_rows} requests still open"
        time.sleep(0.05)


def entries(env, user_id: str) -> list:
    return env.channel.inboxes.get(user_id, [])


def test_push_multicast_and_narrowcast_reach_the_inboxes_with_their_retry_keys(start_sending):
    env = start_sending(friends=4)
    users = env.following()
    push, multicast, narrowcast = send(
        env,
        {"kind": "push", "payload": {"to": users[0], "messages": TEXT}},
        {"kind": "multicast", "payload": {"to": users[1:3], "messages": TEXT}},
        {"kind": "narrowcast", "payload": {"messages": TEXT}, "recipient_count": 4},
    )
    assert [r.status for r in (push, multicast, narrowcast)] == [SENT] * 3
    assert all(r.retry_key and r.line_request_id for r in (push, multicast, narrowcast))
    first = entries(env, users[0])[0]
    assert (first.kind, first.retry_key, first.request_id) == (
        "push",
        push.retry_key,
        push.line_request_id,
    )
    assert [e.kind for e in entries(env, users[1])][:1] == ["multicast"]
    assert entries(env, users[1])[0].retry_key == multicast.retry_key
    deadline = time.monotonic() + 10  # LINE sends a narrowcast after its 202
    while not all(any(e.kind == "narrowcast" for e in entries(env, u)) for u in users):
        assert time.monotonic() < deadline, {u: [e.kind for e in entries(env, u)] for u in users}
        time.sleep(0.05)
    with env.state.sessions() as session:  # the ledger counts what LINE bills: 1 + 2 + 4
        sent = messages_sent(session, account_id=env.account_id, since=month_start(utcnow()))
    assert sent == 7


def test_reply_uses_the_token_once_and_never_after_it_expired(start_sending):
    env = start_sending(friends=2)
    users = env.following()
    for user in users:
        env.act(user, "text", text="こんにちは")
    env.settle()
    with env.state.sessions() as session:
        tokens = dict(
            session.execute(
                select(WebhookEvent.line_user_id, WebhookEvent.payload).where(
                    WebhookEvent.type == "message"
                )
            ).all()
        )
    now = utcnow()
    replied, expired = send(
        env,
        {
            "kind": "reply",
            "payload": {"replyToken": tokens[users[0]]["replyToken"], "messages": TEXT},
            "expires_at": now + timedelta(seconds=50),
        },
        {
            "kind": "reply",
            "payload": {"replyToken": tokens[users[1]]["replyToken"], "messages": TEXT},
            "expires_at": now - timedelta(seconds=1),
        },
    )
    assert (replied.status, replied.retry_key, replied.attempts) == (SENT, None, 1)
    assert [e.kind for e in entries(env, users[0])] == ["reply"]
    assert (expired.status, expired.attempts) == (FAILED, 0) and "expired" in expired.error
    assert entries(env, users[1]) == []
    with env.state.sessions() as session:  # replies are free
        assert messages_sent(session, account_id=env.account_id, since=month_start(now)) == 0


def test_rich_menu_link_unlink_and_bulk(start_sending):
    env = start_sending(friends=5)
    users = env.following()
    menu = new_menu(env.emulator)
    friends = env.channel.friends
    send(
        env,
        {"kind": "richmenu_bulk_link", "payload": {"richMenuId": menu, "userIds": users[:4]}},
        {"kind": "richmenu_link", "payload": {"userId": users[4], "richMenuId": menu}},
    )
    assert [friends[u].rich_menu_id for u in users] == [menu] * 5
    rows = send(
        env,
        {"kind": "richmenu_unlink", "payload": {"userId": users[0]}},
        {"kind": "richmenu_bulk_unlink", "payload": {"userIds": users[1:3]}},
    )
    assert [r.status for r in rows] == [SENT, SENT] and all(r.retry_key is None for r in rows)
    assert [friends[u].rich_menu_id for u in users] == [None, None, None, menu, menu]


def test_a_source_without_a_producer_is_never_sent(start_sending):
    env = start_sending(friends=1)
    user = env.following()[0]
    with env.state.sessions.begin() as session:
        request = enqueue(
            session,
            account_id=env.account_id,
            kind="push",
            source=SCENARIO,
            payload={"to": user, "messages": TEXT},
        )
        request_id = request.id
    env.worker.run_until_idle(30)
    with env.state.sessions() as session:
        assert session.get(OutboundRequest, request_id).status == PENDING
    assert entries(env, user) == []


def test_a_producer_takes_its_outcomes_in_the_dispatchers_transaction(start_sending, monkeypatch):
    env = start_sending(friends=2)
    users = env.following()
    taken = []
    producer = Producer(OPERATOR, take_outcomes=lambda conn, outcomes: taken.extend(outcomes))
    monkeypatch.setitem(producers._producers, OPERATOR, producer)
    env.control("PUT", "/faults", json={"push": {"force_status": 400, "force_count": 1}})
    ids = []
    with env.state.sessions.begin() as session:
        for user in users:
            payload = {"to": user, "messages": TEXT}
            request = enqueue(
                session, account_id=env.account_id, kind="push", source=OPERATOR, payload=payload
            )
            ids.append(request.id)
    settle(env, ids)
    assert sorted(o.job.id for o in taken) == sorted(ids)  # each once, terminal
    assert sorted(o.action for o in taken) == ["failed", "sent"]  # LINE refused one
    with env.state.sessions() as session:
        rows = session.scalars(select(OutboundRequest).where(OutboundRequest.id.in_(ids))).all()
        assert sorted(r.status for r in rows) == [FAILED, SENT] and all(r.recorded for r in rows)
