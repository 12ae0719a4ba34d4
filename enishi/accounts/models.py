"""A LINE Official Account connected to enishi (one Messaging API channel), and its keys."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from enishi.db.base import Base, BigId, UTCDateTime, utcnow


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    channel_id: Mapped[str] = mapped_column(String(32), unique=True)
    # sealed with SecretBox; never logged, never returned by the API
    channel_secret_sealed: Mapped[str] = mapped_column(String(500))
    access_token_sealed: Mapped[str] = mapped_column(String(2000))
    bot_user_id: Mapped[str | None] = mapped_column(String(33))
    basic_id: Mapped[str | None] = mapped_column(String(40))
    login_channel_id: Mapped[str | None] = mapped_column(String(32))  # for ID-token checks
    liff_id: Mapped[str | None] = mapped_column(String(64))  # LIFF app serving /r/{code} pages
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Tokyo")
    cost_per_message_jpy: Mapped[Decimal] = mapped_column(Numeric(10, 3), default=Decimal("3"))
    monthly_quota: Mapped[int | None] = mapped_column(Integer)
    attribution_window_days: Mapped[int] = mapped_column(Integer, default=7)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_prefix", "prefix"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(8))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
