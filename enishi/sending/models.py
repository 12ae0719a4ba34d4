"""The outbox of LINE requests made on an account's behalf, and the channel send lease.

Every message, reply and rich-menu link that enishi sends for an account is one row here,
written in the transaction of whoever produced it (a delivery, a scenario step, an
auto-reply, an operator, the system) and sent after commit by the dispatcher. One outbox
and one sender per channel keep the sum of everything under LINE's per-channel limits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from enishi.db.base import Base, BigId, Json, UTCDateTime, utcnow

# request status: pending -> sending -> sent | failed; pending -> cancelled (by its producer)
PENDING, SENDING, SENT, FAILED, CANCELLED = "pending", "sending", "sent", "failed", "cancelled"
TERMINAL = (SENT, FAILED, CANCELLED)

# who produced a request (each source registers a producer: see producers.py)
DELIVERY, SCENARIO, AUTO_REPLY, OPERATOR, SYSTEM = (
    "delivery",
    "scenario",
    "auto_reply",
    "operator",
    "system",
)
SOURCES = (DELIVERY, SCENARIO, AUTO_REPLY, OPERATOR, SYSTEM)


class OutboundRequest(Base):
    """One LINE API call to make. Its retry key (for the kinds LINE accepts one on) is
    stored before the first attempt, so a retry is never a second message."""

    __tablename__ = "outbound_requests"
    __table_args__ = (
        Index("ix_outbound_requests_claim", "account_id", "kind", "status", "due_at"),
        Index("ix_outbound_requests_source", "source", "source_id", "recorded"),
        Index("ix_outbound_requests_open", "status", "source", "account_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(24))  # see kinds.ENDPOINTS
    source: Mapped[str] = mapped_column(String(16))  # see SOURCES
    source_id: Mapped[int | None] = mapped_column(BigInteger)  # e.g. the delivery's id
    retry_key: Mapped[str | None] = mapped_column(String(36), unique=True)
    # the request body as sent; for kinds with ids in the path, the path's values
    payload: Mapped[dict[str, Any]] = mapped_column(Json())
    # people it reaches (for the quota ledger, only the kinds LINE bills count)
    recipient_count: Mapped[int] = mapped_column(Integer)
    # the friends it reaches lie between these ids (a producer finds its rows by range)
    friend_lo: Mapped[int | None] = mapped_column(BigInteger)
    friend_hi: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # never sent after this (a reply token lives about a minute): the request fails instead
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    line_request_id: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(String(500))
    recorded: Mapped[bool] = mapped_column(Boolean, default=False)  # taken in by its producer


class ChannelLease(Base):
    """Which worker sends for an account right now. One sender per channel keeps the sum of
    all workers' requests under LINE's per-channel limits."""

    __tablename__ = "sending_channel_leases"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    holder: Mapped[str] = mapped_column(String(64))
    lease_until: Mapped[datetime] = mapped_column(UTCDateTime)
