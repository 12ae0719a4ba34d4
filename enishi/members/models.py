"""Links between a friend's LINE user ID and the brand's member ID (seed 001)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from enishi.db.base import Base, BigId, UTCDateTime, utcnow


class MemberLink(Base):
    """Every link and unlink, kept: the friend's current member ID is on Friend; this is the
    history that daily link counts come from."""

    __tablename__ = "member_links"
    __table_args__ = (
        Index("ix_member_links_account_linked", "account_id", "linked_at"),
        Index("ix_member_links_friend", "friend_id", "unlinked_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id", ondelete="CASCADE"))
    member_id: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(16))  # account_link | api | import
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    unlinked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unlinked_by: Mapped[str | None] = mapped_column(String(16))  # api | moved | replaced


class LinkNonce(Base):
    """One account-link attempt: the nonce sent to LINE, the member ID it stands for."""

    __tablename__ = "link_nonces"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    nonce: Mapped[str] = mapped_column(String(255), unique=True)
    line_user_id: Mapped[str] = mapped_column(String(33))
    member_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
