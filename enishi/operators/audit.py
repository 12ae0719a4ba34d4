"""The audit log as the dashboard reads it: entries with their operator or API key, newest
first (the services write them with enishi.audit.service.record)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from enishi.accounts.models import ApiKey
from enishi.audit.models import AuditEntry
from enishi.operators.models import Operator

Row = tuple[AuditEntry, Operator | None, ApiKey | None]


def entries_for_account(
    session: Session, account_id: int, *, before_id: int | None = None, limit: int = 50
) -> list[Row]:
    """Newest first, one page (keyset pagination on the id)."""
    return _page(session, AuditEntry.account_id == account_id, before_id, limit)


def installation_entries(
    session: Session,
    *,
    action: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Row]:
    """Entries of no account (logins, logout everywhere, password changes, CLI changes),
    newest first, one page; optionally one action only."""
    condition = AuditEntry.account_id.is_(None)
    if action:
        condition = condition & (AuditEntry.action == action)
    return _page(session, condition, before_id, limit)


def _page(
    session: Session, condition: ColumnElement[bool], before_id: int | None, limit: int
) -> list[Row]:
    query = (
        select(AuditEntry, Operator, ApiKey)
        .outerjoin(Operator, Operator.id == AuditEntry.operator_id)
        .outerjoin(ApiKey, ApiKey.id == AuditEntry.api_key_id)
        .where(condition)
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return [(entry, operator, key) for entry, operator, key in session.execute(query)]
