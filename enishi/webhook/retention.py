"""Processed webhook events are kept for `webhook_retention_days`, then deleted.

The inbox is there to acknowledge LINE only after an event is durable, to process each
event once (its `webhookEventId` is unique) and to let an engineer inspect recent traffic.
What an event did lives on in friend state and activity, so a processed event is not needed
for long; without a limit the inbox would grow with every message a friend sends. Pending
and failed events are never deleted. LINE redelivers a failed webhook within a short time,
so a retention of days keeps redeliveries idempotent.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from enishi.db.base import utcnow
from enishi.deps import AppState
from enishi.webhook.models import DONE, SKIPPED, WebhookEvent

PRUNE_BATCH = 5_000  # rows per statement: a short write lock on SQLite
PRUNE_EVERY_S = 3600.0

_next_prune: dict[str, float] = {}  # database URL -> monotonic time of the next pass


def delete_processed_events(session: Session, before: datetime, limit: int) -> int:
    """Delete up to `limit` done or skipped events processed before `before`; how many."""
    table = WebhookEvent.__table__
    oldest = (
        select(table.c.id)
        .where(table.c.status.in_((DONE, SKIPPED)), table.c.processed_at < before)
        .order_by(table.c.status, table.c.event_ts)
        .limit(limit)
    )
    return session.execute(delete(table).where(table.c.id.in_(oldest))).rowcount


def prune_processed_events(state: AppState) -> int:
    """Worker poller: hourly, a batch at a time until nothing is past the retention."""
    days = state.settings.webhook_retention_days
    key = state.settings.database_url
    now = time.monotonic()
    if days <= 0 or now < _next_prune.get(key, 0.0):
        return 0
    with state.sessions() as session:
        before = utcnow() - timedelta(days=days)
        deleted = delete_processed_events(session, before, PRUNE_BATCH)
        session.commit()
    if deleted < PRUNE_BATCH:
        _next_prune[key] = now + PRUNE_EVERY_S
    return deleted
