"""The audit log: `record(...)` in the same transaction as the change it describes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from enishi.accounts.models import ApiKey
from enishi.kit.actor import Actor
from enishi.operators.models import AuditEntry, Operator

Row = tuple[AuditEntry, Operator | None, ApiKey | None]


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    account_id: int | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Log one action, e.g. `record(session, actor=actor, action="delivery.scheduled",
    account_id=1, target="delivery:42", details={"audience": "all"})`. Services performing
    an audited action call it themselves, so every door (dashboard, REST API, CLI) is logged.

    Action names are `<area>.<verb>`. Never put secrets in `details`."""
    entry = AuditEntry(
        action=action,
        account_id=account_id,
        operator_id=actor.operator_id,
        api_key_id=actor.api_key_id,
        origin=actor.origin,
        cli_user=actor.cli_user,
        target=target,
        details=details or {},
    )
    session.add(entry)
    session.flush()
    return entry


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
