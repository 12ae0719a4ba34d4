"""The outbox's channel lease: a worker taking a channel over gives back at once what the
previous holder had claimed (it can send no more), instead of waiting for each claim's
lease to run out."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from enishi.db.base import utcnow
from enishi.sending.models import PENDING, SENDING, SYSTEM, ChannelLease, OutboundRequest
from enishi.sending.outbox import Outbox
from enishi.sending.service import enqueue

LEASE, CHANNEL_LEASE = timedelta(seconds=30), timedelta(seconds=10)


def test_a_takeover_gives_back_the_previous_holders_claims(state, api_account):
    account_id = api_account.id
    with state.sessions.begin() as session:
        for n in range(4):
            enqueue(
                session,
                account_id=account_id,
                kind="push",
                source=SYSTEM,
                payload={"to": f"U{n:032x}", "messages": [{"type": "text", "text": "x"}]},
            )
    first = Outbox(state.sessions, "host:1:a", LEASE, CHANNEL_LEASE)
    second = Outbox(state.sessions, "host:2:b", LEASE, CHANNEL_LEASE)
    channel = first.hold_channel(account_id)
    assert channel.held
    jobs, _ = first.claim(account_id, "push", channel.gates, 3)
    assert len(jobs) == 3

    assert not second.hold_channel(account_id).held  # the first still holds it
    assert _statuses(state) == {SENDING: 3, PENDING: 1}

    with state.sessions.begin() as session:  # the first worker died: its lease ran out
        session.execute(update(ChannelLease).values(lease_until=utcnow() - timedelta(seconds=1)))
    assert second.hold_channel(account_id).held
    assert _statuses(state) == {PENDING: 4}  # not 30 s later, when the claims expire
    with state.sessions() as session:
        assert session.scalars(select(OutboundRequest.claimed_by)).all() == [None] * 4


def _statuses(state) -> dict[str, int]:
    with state.sessions() as session:
        statuses = session.scalars(select(OutboundRequest.status)).all()
    return {status: statuses.count(status) for status in set(statuses)}
