"""A friend (a LINE user as one account knows them), their follow history and activity."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from enishi.db.base import Base, BigId, Json, UTCDateTime, utcnow

FOLLOWING, BLOCKED, UNKNOWN = "following", "blocked", "unknown"


class Friend(Base):
    __tablename__ = "friends"
    __table_args__ = (
        UniqueConstraint("account_id", "line_user_id"),
        UniqueConstraint("account_id", "member_id"),
        Index("ix_friends_account_status", "account_id", "status"),
        Index("ix_friends_inflow_route", "inflow_route_id", "status"),  # counts per route
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    line_user_id: Mapped[str] = mapped_column(String(33))
    display_name: Mapped[str | None] = mapped_column(String(200))
    picture_url: Mapped[str | None] = mapped_column(String(1000))
    status_message: Mapped[str | None] = mapped_column(String(1000))
    language: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16), default=UNKNOWN)
    first_followed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_followed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    profile_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    inflow_route_id: Mapped[int | None] = mapped_column(
        ForeignKey("inflow_routes.id", ondelete="SET NULL")
    )
    member_id: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # rollups: kept by the writers of clicks, conversions and messages, rebuildable from them
    last_click_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    click_count: Mapped[int] = mapped_column(Integer, default=0)
    last_purchase_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    purchase_count: Mapped[int] = mapped_column(Integer, default=0)
    revenue_jpy: Mapped[int] = mapped_column(BigInteger, default=0)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FollowHistory(Base):
    """Every follow, unblock and block, in order; never rewritten."""

    __tablename__ = "follow_history"
    __table_args__ = (Index("ix_follow_history_friend_at", "friend_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # follow | unblock | block
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class FriendActivity(Base):
    """What a friend did or had done to them that has no table of its own: messages they
    sent, postbacks, beacon visits, survey answers, tag and attribute changes, links."""

    __tablename__ = "friend_activity"
    __table_args__ = (
        Index("ix_friend_activity_friend_at", "friend_id", "at"),
        Index("ix_friend_activity_account_kind_at", "account_id", "kind", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(Json(), default=dict)


class AttributeDef(Base):
    """A custom friend field an account defines: text, number, date or choice."""

    __tablename__ = "attribute_defs"
    __table_args__ = (UniqueConstraint("account_id", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))  # [a-z0-9_], used in APIs, CSV and segments
    label: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(10))  # text | number | date | choice
    choices: Mapped[list[str] | None] = mapped_column(Json())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FriendAttribute(Base):
    """One typed value; the column that matches the definition's type is set."""

    __tablename__ = "friend_attributes"
    __table_args__ = (
        Index("ix_friend_attributes_def_number", "attribute_def_id", "value_number"),
        Index("ix_friend_attributes_def_text", "attribute_def_id", "value_text"),
        Index("ix_friend_attributes_def_date", "attribute_def_id", "value_date"),
    )

    friend_id: Mapped[int] = mapped_column(
        ForeignKey("friends.id", ondelete="CASCADE"), primary_key=True
    )
    attribute_def_id: Mapped[int] = mapped_column(
        ForeignKey("attribute_defs.id", ondelete="CASCADE"), primary_key=True
    )
    value_text: Mapped[str | None] = mapped_column(String(1000))
    value_number: Mapped[float | None] = mapped_column(Float)
    value_date: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FriendTag(Base):
    __tablename__ = "friend_tags"
    __table_args__ = (Index("ix_friend_tags_tag", "tag_id", "friend_id"),)

    friend_id: Mapped[int] = mapped_column(
        ForeignKey("friends.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    tagged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
