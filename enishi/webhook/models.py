"""The webhook inbox: every LINE event, stored once, then processed by a worker."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from enishi.db.base import Base, BigId, Json, UTCDateTime, utcnow

PENDING, DONE, SKIPPED, FAILED = "pending", "done", "skipped", "failed"


class WebhookEvent(Base):
    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("account_id", "webhook_event_id"),
        Index("ix_webhook_events_pending", "status", "event_ts"),
        Index("ix_webhook_events_user", "account_id", "line_user_id", "event_ts"),
        # "an earlier pending event of the same friend?" reads only pending rows, however
        # long the friend's processed history (partial index on both backends)
        Index(
            "ix_webhook_events_user_pending",
            "account_id",
            "line_user_id",
            "event_ts",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    webhook_event_id: Mapped[str] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(40))
    line_user_id: Mapped[str | None] = mapped_column(String(33))
    event_ts: Mapped[int] = mapped_column(BigInteger)  # LINE's ms timestamp of the event
    is_redelivery: Mapped[bool] = mapped_column(Boolean, default=False)
    payload: Mapped[dict[str, Any]] = mapped_column(Json())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    # a failed attempt is retried, not before this time (None: due now)
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
