"""The worker's events poller: delivers every stored event to its queued subscribers (and
to immediate ones whose after-commit run failed), at least once.

A pass claims a batch of due events under a lease (FOR UPDATE SKIP LOCKED on PostgreSQL,
the write lock on SQLite), commits, then delivers each event subscriber by subscriber, each
in a transaction of its own, so no transaction stays open across a subscriber's outside
work and one failing subscriber holds back no other. An event is done when every
subscriber has its delivery row; a failure is retried with backoff, then marked failed.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from enishi.db.base import utcnow
from enishi.db.engine import is_postgres
from enishi.events.models import DONE, FAILED, PENDING, DomainEvent
from enishi.events.registry import subscribers_of
from enishi.events.service import (
    Context,
    delivered,
    record_delivery,
    run_outside_transaction,
    stored,
)

log = logging.getLogger(__name__)

BATCH_SIZE = 100
LEASE = timedelta(seconds=60)  # a claimed event is another poller's again after this
RETRY_DELAYS = (5.0, 30.0, 120.0, 600.0)  # seconds before each retry; then failed
ERROR_MAX = 2000


def deliver_events(state: Context) -> int:
    """Worker poller: one batch of due events; how many were finished or rescheduled."""
    with state.sessions() as session:
        rows = _claim(session)
        session.commit()
    for row in rows:
        _deliver(state, row)
    return len(rows)


def _claim(session: Session) -> list[DomainEvent]:
    now = utcnow()
    due = (DomainEvent.status == PENDING) & or_(
        DomainEvent.next_attempt_at.is_(None), DomainEvent.next_attempt_at <= now
    )
    query = select(DomainEvent).where(due).order_by(DomainEvent.id).limit(BATCH_SIZE)
    if is_postgres(session.get_bind()):
        query = query.with_for_update(skip_locked=True)
    else:
        # an idle queue costs a read, not SQLite's write lock
        if session.scalar(select(DomainEvent.id).where(due).limit(1)) is None:
            return []
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")
    rows = list(session.scalars(query))
    if rows:
        session.execute(
            update(DomainEvent)
            .where(DomainEvent.id.in_([r.id for r in rows]))
            .values(next_attempt_at=now + LEASE)
        )
    return rows


def _deliver(state: Context, row: DomainEvent) -> None:
    event = stored(row)
    done = delivered(state, row.id)
    try:
        for subscriber in subscribers_of(row.name, "immediate", "queued"):
            if subscriber.name in done:
                continue
            if subscriber.mode == "immediate":
                run_outside_transaction(state, subscriber, [event])
                continue
            with state.sessions.begin() as session:
                subscriber.handler(session, event)
                record_delivery(session, event, subscriber)
    except Exception as error:
        _failed(state, row, error)
        return
    with state.sessions.begin() as session:
        session.execute(
            update(DomainEvent)
            .where(DomainEvent.id == row.id)
            .values(status=DONE, processed_at=utcnow(), next_attempt_at=None)
        )


def _failed(state: Context, row: DomainEvent, error: Exception) -> None:
    attempt = row.attempts + 1
    text = f"{type(error).__name__}: {error}"[:ERROR_MAX]
    values: dict = {"attempts": attempt, "error": text}
    if attempt <= len(RETRY_DELAYS):
        log.warning("domain event %s (%s) failed, attempt %d: %s", row.id, row.name, attempt, text)
        values["next_attempt_at"] = utcnow() + timedelta(seconds=RETRY_DELAYS[attempt - 1])
    else:
        log.error("domain event %s (%s) failed for good: %s", row.id, row.name, text)
        values.update(status=FAILED, processed_at=utcnow(), next_attempt_at=None)
    with state.sessions.begin() as session:
        session.execute(update(DomainEvent).where(DomainEvent.id == row.id).values(**values))
