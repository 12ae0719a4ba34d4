"""Delivered domain events are kept for `event_retention_days`, then deleted (with their
delivery records). They are a queue, not a history: what an event announced lives on in
the tables of the domain that made the change. Pending and failed events are kept."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from enishi.db.base import utcnow
from enishi.events.models import DONE, DomainEvent
from enishi.events.service import Context

PRUNE_BATCH = 5_000  # rows per statement: a short write lock on SQLite
PRUNE_EVERY_S = 3600.0

_next_prune: dict[str, float] = {}  # database URL -> monotonic time of the next pass


def delete_delivered_events(session: Session, *, before: datetime, limit: int) -> int:
    """Delete up to `limit` events delivered before `before`; how many."""
    oldest = (
        select(DomainEvent.id)
        .where(DomainEvent.status == DONE, DomainEvent.processed_at < before)
        .order_by(DomainEvent.processed_at)
        .limit(limit)
    )
    return session.execute(delete(DomainEvent).where(DomainEvent.id.in_(oldest))).rowcount


def prune_delivered_events(state: Context) -> int:
    """Worker poller: hourly, a batch at a time until nothing is past the retention."""
    days, key = state.settings.event_retention_days, state.settings.database_url
    now = time.monotonic()
    if days <= 0 or now < _next_prune.get(key, 0.0):
        return 0
    with state.sessions() as session:
        deleted = delete_delivered_events(
            session, before=utcnow() - timedelta(days=days), limit=PRUNE_BATCH
        )
        session.commit()
    if deleted < PRUNE_BATCH:
        _next_prune[key] = now + PRUNE_EVERY_S
    return deleted
