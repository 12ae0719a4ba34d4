"""Tracked links and their clicks, conversions reported by the shop, custom events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from enishi.db.base import Base, BigId, Json, UTCDateTime, utcnow


class Link(Base):
    """A destination URL as sent in one delivery (or outside any delivery)."""

    __tablename__ = "links"
    __table_args__ = (Index("ix_links_account_delivery", "account_id", "delivery_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    delivery_id: Mapped[int | None] = mapped_column(BigInteger)  # deliveries arrive later
    utm: Mapped[dict[str, str] | None] = mapped_column(Json())
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Click(Base):
    __tablename__ = "clicks"
    __table_args__ = (
        Index("ix_clicks_friend_at", "friend_id", "clicked_at"),
        Index("ix_clicks_account_at", "account_id", "clicked_at"),
        Index("ix_clicks_link", "link_id"),
        Index("ix_clicks_delivery", "delivery_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    link_id: Mapped[int] = mapped_column(ForeignKey("links.id", ondelete="CASCADE"))
    friend_id: Mapped[int | None] = mapped_column(ForeignKey("friends.id", ondelete="SET NULL"))
    delivery_id: Mapped[int | None] = mapped_column(BigInteger)
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    user_agent: Mapped[str | None] = mapped_column(String(500))


class Conversion(Base):
    """A purchase the brand's shop reported; attributed to the friend's latest click within
    the account's attribution window, or kept unattributed — never dropped."""

    __tablename__ = "conversions"
    __table_args__ = (
        UniqueConstraint("account_id", "order_id"),
        Index("ix_conversions_friend_at", "friend_id", "occurred_at"),
        Index("ix_conversions_account_at", "account_id", "occurred_at"),
        Index("ix_conversions_delivery", "attributed_delivery_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    order_id: Mapped[str] = mapped_column(String(200))
    friend_id: Mapped[int | None] = mapped_column(ForeignKey("friends.id", ondelete="SET NULL"))
    line_user_id: Mapped[str | None] = mapped_column(String(33))
    member_id: Mapped[str | None] = mapped_column(String(200))
    amount_jpy: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attributed_click_id: Mapped[int | None] = mapped_column(
        ForeignKey("clicks.id", ondelete="SET NULL")
    )
    attributed_link_id: Mapped[int | None] = mapped_column(BigInteger)
    attributed_delivery_id: Mapped[int | None] = mapped_column(BigInteger)


class ConversionItem(Base):
    __tablename__ = "conversion_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversion_id: Mapped[int] = mapped_column(
        ForeignKey("conversions.id", ondelete="CASCADE"), index=True
    )
    sku: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(500))
    unit_price_jpy: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(Integer)


class CustomEvent(Base):
    """cart_added, cart_abandoned, price_dropped, restocked, reservation_made, page_view…"""

    __tablename__ = "custom_events"
    __table_args__ = (
        UniqueConstraint("account_id", "event_id"),
        Index("ix_custom_events_account_name_at", "account_id", "name", "occurred_at"),
        Index("ix_custom_events_friend_at", "friend_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(200))  # the sender's idempotency key
    name: Mapped[str] = mapped_column(String(64))
    friend_id: Mapped[int | None] = mapped_column(ForeignKey("friends.id", ondelete="SET NULL"))
    line_user_id: Mapped[str | None] = mapped_column(String(33))
    member_id: Mapped[str | None] = mapped_column(String(200))
    properties: Mapped[dict[str, Any]] = mapped_column(Json(), default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
