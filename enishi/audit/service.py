"""`record(...)`: one audit entry, in the same transaction as the change it describes."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from enishi.audit.actor import Actor
from enishi.audit.models import AuditEntry


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
