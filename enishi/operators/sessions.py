"""Server-side login sessions: a random token in the cookie, its SHA-256 in the database."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from enishi.db.base import utcnow
from enishi.operators.models import Operator, OperatorSession

LIFETIME = timedelta(days=7)  # absolute: log in again after a week
IDLE_TIMEOUT = timedelta(hours=12)
_TOUCH_EVERY = timedelta(minutes=1)  # write last_seen_at at most this often


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    session: Session, operator: Operator, *, ip: str | None, user_agent: str | None
) -> str:
    """A new session; the returned token goes into the cookie and is never stored."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        OperatorSession(
            operator_id=operator.id,
            token_hash=_digest(token),
            created_at=now,
            last_seen_at=now,
            expires_at=now + LIFETIME,
            ip=ip,
            user_agent=(user_agent or "")[:300] or None,
        )
    )
    session.flush()
    return token


def operator_for_token(
    session: Session, token: str, now: datetime | None = None
) -> tuple[Operator, OperatorSession] | None:
    """The signed-in operator, or None when the token is unknown, expired, idle too long or
    its operator is disabled."""
    if not token:
        return None
    now = now or utcnow()
    row = session.execute(
        select(Operator, OperatorSession)
        .join(OperatorSession, OperatorSession.operator_id == Operator.id)
        .where(OperatorSession.token_hash == _digest(token))
    ).first()
    if row is None:
        return None
    operator, login = row
    if operator.disabled or login.expires_at <= now or login.last_seen_at + IDLE_TIMEOUT <= now:
        return None
    if now - login.last_seen_at > _TOUCH_EVERY:
        session.execute(
            update(OperatorSession).where(OperatorSession.id == login.id).values(last_seen_at=now)
        )
    return operator, login


def end_session(session: Session, token: str) -> None:
    session.execute(delete(OperatorSession).where(OperatorSession.token_hash == _digest(token)))


def end_all_sessions(session: Session, operator_id: int) -> int:
    """Logout everywhere: every session of the operator, this one included."""
    result = session.execute(
        delete(OperatorSession).where(OperatorSession.operator_id == operator_id)
    )
    return result.rowcount


def purge_expired(session: Session, now: datetime | None = None) -> None:
    now = now or utcnow()
    session.execute(
        delete(OperatorSession).where(
            (OperatorSession.expires_at <= now)
            | (OperatorSession.last_seen_at <= now - IDLE_TIMEOUT)
        )
    )
