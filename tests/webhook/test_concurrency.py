"""Several workers on one database: every event handled exactly once, each friend in order."""

from __future__ import annotations

import random
import threading
import time

from sqlalchemy import func, select

from enishi.friends.models import FollowHistory, Friend, FriendActivity
from enishi.webhook import processor
from enishi.webhook.models import PENDING, WebhookEvent
from tests.webhook.events import deliver, follow, text, unfollow

T0 = 1_700_000_000_000


def test_two_workers_process_every_event_exactly_once_in_order(
    client, state, api_account, monkeypatch
):
    monkeypatch.setattr(processor, "BATCH_SIZE", 15)  # many small claims: they interleave
    rng = random.Random(7)
    users = [f"U{i:032x}" for i in range(1, 31)]
    sent = []
    for n, user in enumerate(users):
        ts = T0 + n
        sent.append(follow(user, ts))
        for k in range(8):
            ts += rng.randint(1, 50)
            sent.append(text(user, ts, f"{user}:{k}"))
        if n % 3 == 0:
            sent.append(unfollow(user, ts + 1))
    rng.shuffle(sent)  # delivered out of order, in several requests
    for start in range(0, len(sent), 40):
        deliver(client, api_account, *sent[start : start + 40])

    def pending() -> int:
        with state.sessions() as session:
            return session.scalar(select(func.count()).where(WebhookEvent.status == PENDING))

    barrier = threading.Barrier(2)
    handled = [0, 0]
    errors: list[BaseException] = []

    def work(slot: int) -> None:
        try:
            barrier.wait()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                done = processor.process_pending_events(state)
                handled[slot] += done
                if not done:
                    if not pending():
                        return
                    time.sleep(0.005)
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sum(handled) == len(sent)  # LINE is unreachable here: no profiles count as work
    if state.engine.dialect.name == "postgresql":  # SKIP LOCKED shares the inbox
        assert all(handled), f"both workers should have done work: {handled}"

    with state.sessions() as session:
        rows = list(session.scalars(select(WebhookEvent)))
        assert len(rows) == len(sent)
        assert {(r.status, r.attempts) for r in rows} == {("done", 1)}
        for user in users:
            friend = session.scalar(select(Friend).where(Friend.line_user_id == user))
            texts = list(
                session.scalars(
                    select(FriendActivity.data["text"].as_string())
                    .where(FriendActivity.friend_id == friend.id, FriendActivity.kind == "message")
                    .order_by(FriendActivity.id)
                )
            )
            assert texts == [f"{user}:{k}" for k in range(8)]  # once each, in event order
            kinds = list(
                session.scalars(
                    select(FollowHistory.kind)
                    .where(FollowHistory.friend_id == friend.id)
                    .order_by(FollowHistory.id)
                )
            )
            blocked = users.index(user) % 3 == 0
            assert kinds == (["follow", "block"] if blocked else ["follow"])
            assert friend.status == ("blocked" if blocked else "following")
