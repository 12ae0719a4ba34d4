"""Deliveries, their recipients (with arm and result) and the outbox of LINE requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from enishi.db.base import Base, BigId, Json, UTCDateTime, utcnow

# delivery status: draft -> scheduled -> preparing -> sending -> done | paused | cancelled
# recipient status: pending -> queued -> sent | failed; held_out; skipped (quota, blocked)


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_account_status", "account_id", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    audience: Mapped[dict[str, Any]] = mapped_column(Json())  # {"type": "all"|"segment"|...}
    arms: Mapped[list[dict[str, Any]]] = mapped_column(Json())  # [{"name","share","messages"}]
    holdout_share: Mapped[float] = mapped_column(Float, default=0.0)
    seed: Mapped[int] = mapped_column(BigInteger)
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    spread_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    quota_mode: Mapped[str] = mapped_column(String(16), default="refuse")  # refuse | partial
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)


class DeliveryRecipient(Base):
    __tablename__ = "delivery_recipients"
    __table_args__ = (
        UniqueConstraint("delivery_id", "friend_id"),
        Index("ix_delivery_recipients_friend", "friend_id", "sent_at"),
        Index("ix_delivery_recipients_status", "delivery_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id", ondelete="CASCADE"))
    arm: Mapped[str] = mapped_column(String(64))  # an arm's name, or "holdout"
    status: Mapped[str] = mapped_column(String(16), default="pending")
    request_id: Mapped[int | None] = mapped_column(BigInteger)  # delivery_requests.id
    line_request_id: Mapped[str | None] = mapped_column(String(64))  # x-line-request-id
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(String(500))


class DeliveryRequest(Base):
    """One LINE API call to make (the outbox): a multicast of ≤ 500 or a push. Its retry key
    is stored before the first attempt, so a retry is never a second delivery."""

    __tablename__ = "delivery_requests"
    __table_args__ = (Index("ix_delivery_requests_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # multicast | push
    retry_key: Mapped[str] = mapped_column(String(36), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(Json())  # the exact request body
    recipient_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    line_request_id: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(String(500))
