"""The audit log's table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from enishi.db.base import Base, BigId, Json, UTCDateTime, utcnow


class AuditEntry(Base):
    """Who (an operator, an API key or a CLI user) did what, when, from where, on which
    account: sends, segment edits, exports, settings."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_account_id_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # where the action came from: the request's IP address, or "cli" (enishi.audit.actor)
    origin: Mapped[str | None] = mapped_column(String(64))
    cli_user: Mapped[str | None] = mapped_column(String(64))  # who ran the CLI command
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
