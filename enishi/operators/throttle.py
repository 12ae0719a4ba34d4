"""Login throttling: too many recent failures for an email or from an IP address → wait.

Failures are rows in the database, so every enishi process shares the count."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from enishi.db.base import utcnow
from enishi.operators.models import LoginFailure

WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_IP = 20  # offices share an address: allow a few people's typos


def is_throttled(session: Session, email: str, ip: str, now: datetime | None = None) -> bool:
    since = (now or utcnow()) - WINDOW
    per_email = session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.email == email, LoginFailure.at > since)
    )
    if per_email >= MAX_FAILURES_PER_EMAIL:
        return True
    per_ip = session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.ip == ip, LoginFailure.at > since)
    )
    return per_ip >= MAX_FAILURES_PER_IP


def record_failure(session: Session, email: str, ip: str, now: datetime | None = None) -> None:
    now = now or utcnow()
    session.add(LoginFailure(email=email, ip=ip, at=now))
    # old rows are useless: keep the table as small as the window
    session.execute(delete(LoginFailure).where(LoginFailure.at <= now - WINDOW))
    session.flush()


def clear_failures(session: Session, email: str) -> None:
    session.execute(delete(LoginFailure).where(LoginFailure.email == email))
