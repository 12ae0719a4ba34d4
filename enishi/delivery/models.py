"""Deliveries and their recipients (with arm and result).

See docs/deliveries.md for the life of a delivery. In short: a scheduled delivery is
*started* (audience counted, quota checked), then *planned* in chunks of friends (each
chunk writes its recipients and enqueues the LINE requests that reach them in the sending
outbox, in one transaction), the requests are *dispatched* by the sending dispatcher, and
their outcomes are *recorded* onto the recipients (progress.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from enishi.db.base import Base, BigId, Json, UTCDateTime, utcnow

# delivery status: draft -> scheduled -> sending -> done; paused <-> sending; cancelled;
#   failed (refused at start, e.g. quota)
# recipient status: queued -> sent | failed | cancelled; held_out; skipped (quota)
# request status: see enishi.sending.models
DRAFT, SCHEDULED, SENDING, PAUSED, DONE, CANCELLED, FAILED = (
    "draft",
    "scheduled",
    "sending",
    "paused",
    "done",
    "cancelled",
    "failed",
)
QUEUED, SENT, HELD_OUT, SKIPPED = "queued", "sent", "held_out", "skipped"
HOLDOUT_ARM = "holdout"


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_account_status", "account_id", "status"),
        Index("ix_deliveries_status_send_at", "status", "send_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    audience: Mapped[dict[str, Any]] = mapped_column(Json())  # {"type": "all"|"segment"|...}
    arms: Mapped[list[dict[str, Any]]] = mapped_column(Json())  # [{"name","share","messages"}]
    holdout_share: Mapped[float] = mapped_column(Float, default=0.0)
    seed: Mapped[int] = mapped_column(BigInteger)
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    spread_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    quota_mode: Mapped[str] = mapped_column(String(16), default="refuse")  # refuse | partial
    track_links: Mapped[str] = mapped_column(String(16), default="friend")  # friend|delivery|off
    notification_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # progress.counts() frozen when the delivery finishes: lists need not re-count requests
    final_counts: Mapped[dict[str, Any] | None] = mapped_column(Json())
    error: Mapped[str | None] = mapped_column(Text)
    # why it paused or failed, stable for programs and the dashboard's wording (`error` is
    # the English detail): line_monthly_limit, line_token_refused, or the planner's reason
    error_code: Mapped[str | None] = mapped_column(String(40))
    # set when the delivery starts
    audience_count: Mapped[int | None] = mapped_column(Integer)  # following friends targeted
    expected_sends: Mapped[int | None] = mapped_column(Integer)  # after holdout and quota
    quota_allowed: Mapped[int | None] = mapped_column(Integer)  # partial: at most this many
    quota_cutoff: Mapped[float | None] = mapped_column(Float)  # partial: the random draw's cut
    expected_requests: Mapped[int | None] = mapped_column(Integer)  # for spreading due times
    # planning progress: friends are planned in id order, a chunk per transaction
    plan_cursor: Mapped[int | None] = mapped_column(BigInteger)  # last friend id planned
    planned_sends: Mapped[int] = mapped_column(Integer, default=0)
    held_out_count: Mapped[int] = mapped_column(Integer, default=0)
    skipped_count: Mapped[int] = mapped_column(Integer, default=0)  # over the quota
    request_seq: Mapped[int] = mapped_column(Integer, default=0)
    planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # the worker planning it (a lease, so two workers never plan the same delivery)
    lease_holder: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeliveryRecipient(Base):
    """One friend of one delivery: arm (or holdout) and outcome.

    Keyed by (delivery, friend) — on SQLite a clustered WITHOUT ROWID table — and without
    foreign keys, on purpose: a delivery writes up to a million of these in seconds, and
    every extra index or per-row foreign-key check slows that down (PostgreSQL's COPY runs
    at half speed with the two foreign keys). Rows go with their delivery
    (`service.delete_delivery`); friends are never hard-deleted (blocking keeps the row).
    """

    __tablename__ = "delivery_recipients"
    __table_args__ = (
        Index("ix_delivery_recipients_friend", "friend_id", "sent_at"),
        {"sqlite_with_rowid": False},
    )

    delivery_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    friend_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    arm: Mapped[str] = mapped_column(String(64))  # an arm's name, or "holdout"
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    request_id: Mapped[int | None] = mapped_column(BigInteger)  # outbound_requests.id
    line_request_id: Mapped[str | None] = mapped_column(String(64))  # x-line-request-id
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(String(500))


class DeliveryListMember(Base):
    """A friend of an uploaded audience list (resolved from LINE user IDs or member IDs)."""

    __tablename__ = "delivery_list_members"

    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True
    )
    friend_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
