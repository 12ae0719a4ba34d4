"""The audit log: `record(...)` in the same transaction as the change it describes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from enishi.operators.models import AuditEntry, Operator


def record(
    session: Session,
    *,
    action: str,
    account_id: int | None = None,
    operator_id: int | None = None,
    api_key_id: int | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Log one action, e.g. `record(session, action="delivery.sent", account_id=1,
    operator_id=7, target="delivery:42", details={"recipients": 1200})`.

    Action names are `<area>.<verb>`. Never put secrets in `details`."""
    entry = AuditEntry(
        action=action,
        account_id=account_id,
        operator_id=operator_id,
        api_key_id=api_key_id,
        target=target,
        details=details or {},
    )
    session.add(entry)
    session.flush()
    return entry


def entries_for_account(
    session: Session, account_id: int, *, before_id: int | None = None, limit: int = 50
) -> list[tuple[AuditEntry, Operator | None]]:
    """Newest first, one page (keyset pagination on the id)."""
    return _page(session, AuditEntry.account_id == account_id, before_id, limit)


def installation_entries(
    session: Session,
    *,
    action: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[tuple[AuditEntry, Operator | None]]:
    """Entries of no account (logins, logout everywhere, password changes, CLI changes),
    newest first, one page; optionally one action only."""
    condition = AuditEntry.account_id.is_(None)
    if action:
        condition = condition & (AuditEntry.action == action)
    return _page(session, condition, before_id, limit)


def _page(
    session: Session, condition: ColumnElement[bool], before_id: int | None, limit: int
) -> list[tuple[AuditEntry, Operator | None]]:
    query = (
        select(AuditEntry, Operator)
        .outerjoin(Operator, Operator.id == AuditEntry.operator_id)
        .where(condition)
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return [(entry, operator) for entry, operator in session.execute(query)]
