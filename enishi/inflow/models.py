"""Friend-add routes (QR codes / URLs per source) and who came through them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from enishi.db.base import Base, BigId, UTCDateTime, utcnow


class InflowRoute(Base):
    __tablename__ = "inflow_routes"
    # /r/{code} names no account, so codes are unique across the installation too
    __table_args__ = (
        UniqueConstraint("account_id", "code"),
        Index("ux_inflow_routes_code", "code", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))  # in the URL: /r/{code}
    name: Mapped[str] = mapped_column(String(200))
    # route-page visitors who could not be identified (a normal browser, no LIFF)
    anonymous_visits: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RouteVisit(Base):
    """A LINE user identified on a route page (by a verified ID token) before following."""

    __tablename__ = "route_visits"
    __table_args__ = (
        Index("ix_route_visits_user", "account_id", "line_user_id", "visited_at"),
        Index("ix_route_visits_route", "route_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    route_id: Mapped[int] = mapped_column(ForeignKey("inflow_routes.id", ondelete="CASCADE"))
    line_user_id: Mapped[str] = mapped_column(String(33))
    visited_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
