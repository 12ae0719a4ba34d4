"""Domain events as rows: written in the transaction of the change they announce, so an
event exists exactly when its change does; delivered to subscribers from there."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from enishi.db.base import Base, BigId, Json, UTCDateTime, utcnow

PENDING, DONE, FAILED = "pending", "done", "failed"


class DomainEvent(Base):
    __tablename__ = "domain_events"
    __table_args__ = (
        # the poller reads only undelivered rows, however long the delivered history
        Index(
            "ix_domain_events_pending",
            "next_attempt_at",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_domain_events_processed", "status", "processed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    # no foreign keys: an event outlives nothing it names, and retention deletes it
    account_id: Mapped[int | None] = mapped_column(Integer)
    friend_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(Json())
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # not before this time: a retry's backoff, or another poller's lease on a claimed event
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)


class EventDelivery(Base):
    """What was delivered to whom: a subscriber's work and this row commit together (or, for
    work outside the database, this row follows it), so a crash in between re-delivers."""

    __tablename__ = "domain_event_deliveries"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("domain_events.id", ondelete="CASCADE"), primary_key=True
    )
    subscriber: Mapped[str] = mapped_column(String(100), primary_key=True)
    delivered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
