"""When a delivery sends: now, at a date-time, or spread evenly over a window; and pause,
resume, cancel. A paused or cancelled delivery sends nothing more (the dispatcher checks
before every request and gives back what it had claimed); requests LINE already accepted
stay sent."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from enishi.accounts.models import Account
from enishi.audit.actor import Actor
from enishi.audit.service import record
from enishi.db.base import utcnow
from enishi.delivery import quota
from enishi.delivery.audience import audience_count
from enishi.delivery.compose import check_arms, validate_with_line
from enishi.delivery.models import (
    CANCELLED,
    DRAFT,
    PAUSED,
    SCHEDULED,
    SENDING,
    Delivery,
)
from enishi.delivery.outbound import requests_of
from enishi.kit.errors import ApiError
from enishi.line.gateway import LineGateway
from enishi.messages.validation import Problem, Problems
from enishi.sending.models import PENDING, OutboundRequest

SPREAD_MAX = timedelta(days=7)


def problems_error(problems: Problems) -> ApiError:
    first = problems[0]
    more = f" (and {len(problems) - 1} more: see POST .../validate)" if len(problems) > 1 else ""
    return ApiError(
        422,
        "invalid",
        f"{first.path}: {first.message}{more}",
        first.path,
        reason=first.reason,
        params=first.params,
    )


def check_timing(
    send_at: datetime | None, spread_until: datetime | None, now: datetime
) -> Problems:
    problems: Problems = []
    start = send_at or now
    if send_at is not None and send_at < now - timedelta(minutes=5):
        problems.append(Problem("send_at", "is in the past", "in_past"))
    if spread_until is not None:
        if spread_until <= start:
            problems.append(
                Problem("spread_until", "must be after send_at (or now)", "spread_before_start")
            )
        elif spread_until - start > SPREAD_MAX:
            problems.append(
                Problem(
                    "spread_until",
                    "a delivery can be spread over at most 7 days",
                    "spread_too_long",
                    {"days": SPREAD_MAX.days},
                )
            )
    return problems


def validate(
    session: Session,
    *,
    line: LineGateway,
    delivery: Delivery,
    account: Account,
    with_line: bool = True,
) -> tuple[Problems, int, quota.QuotaUsage]:
    """Every problem (local checks, then LINE's validate endpoint), the audience size now,
    and the quota. Calls LINE: the caller's transaction must not have written yet."""
    now = utcnow()
    problems = check_arms(session, account.id, delivery.arms, delivery.track_links)
    if not problems and with_line:
        problems += validate_with_line(line=line, arms=delivery.arms)
    try:
        count = audience_count(session, delivery, now)
    except ApiError as error:
        problems.append(Problem.of(error, "audience"))
        count = 0
    usage = quota.usage(session, account, line, now=now, exclude_delivery_id=delivery.id)
    return problems, count, usage


def schedule(
    session: Session,
    *,
    line: LineGateway,
    delivery: Delivery,
    account: Account,
    send_at: datetime | None,
    spread_until: datetime | None,
    actor: Actor,
) -> None:
    if delivery.status != DRAFT:
        raise ApiError(
            409,
            "not_draft",
            f"only a draft can be scheduled (this one is {delivery.status})",
            "status",
            params={"status": delivery.status},
        )
    now = utcnow()
    timing = check_timing(send_at, spread_until, now)
    if timing:
        raise problems_error(timing)
    problems, count, usage = validate(session, line=line, delivery=delivery, account=account)
    if problems:
        raise problems_error(problems)
    if count == 0:
        raise ApiError(
            422, "empty_audience", "the audience has no following friend now", "audience"
        )
    friend_test = delivery.audience.get("type") == "friend"
    needed = round(count * (1 - (0 if friend_test else delivery.holdout_share)))
    if (
        delivery.quota_mode != "partial"
        and usage.remaining is not None
        and needed > usage.remaining
    ):
        raise ApiError(
            409,
            "quota_exceeded",
            quota.refusal(needed, usage),
            "quota_mode",
            params={"needed": needed, "remaining": usage.remaining},
        )
    delivery.status = SCHEDULED
    delivery.send_at = send_at or now
    delivery.spread_until = spread_until
    delivery.error = delivery.error_code = None
    _audit(
        session,
        actor,
        "delivery.scheduled",
        delivery,
        {
            "send_at": delivery.send_at.isoformat() if delivery.send_at else None,
            "spread_until": delivery.spread_until.isoformat() if delivery.spread_until else None,
            "audience": delivery.audience.get("type"),
        },
    )


def _audit(session: Session, actor: Actor, action: str, delivery: Delivery, details: dict) -> None:
    record(
        session,
        actor=actor,
        action=action,
        account_id=delivery.account_id,
        target=f"delivery:{delivery.id}",
        details=details,
    )


def pause(session: Session, delivery: Delivery, *, actor: Actor) -> None:
    if delivery.status not in (SCHEDULED, SENDING):
        raise ApiError(
            409,
            "not_running",
            f"a {delivery.status} delivery cannot be paused",
            "status",
            params={"status": delivery.status},
        )
    delivery.status = PAUSED
    delivery.paused_at = utcnow()
    _audit(session, actor, "delivery.paused", delivery, {"name": delivery.name})


def resume(session: Session, delivery: Delivery, *, actor: Actor) -> None:
    if delivery.status != PAUSED:
        raise ApiError(
            409,
            "not_paused",
            "only a paused delivery can be resumed",
            "status",
            params={"status": delivery.status},
        )
    now = utcnow()
    paused_at = delivery.paused_at or now
    if delivery.started_at is None:
        delivery.status = SCHEDULED
    else:
        delivery.status = SENDING
        if delivery.spread_until is not None:  # keep the spread: move what is left
            _shift_pending(session, delivery.id, paused_at, now - paused_at)
            delivery.spread_until = delivery.spread_until + (now - paused_at)
    delivery.paused_at = None
    delivery.error = delivery.error_code = None
    _audit(session, actor, "delivery.resumed", delivery, {"name": delivery.name})


def _shift_pending(
    session: Session, delivery_id: int, paused_at: datetime, delta: timedelta
) -> None:
    table = OutboundRequest.__table__
    rows = session.execute(
        select(table.c.id, table.c.due_at).where(
            requests_of(delivery_id),
            table.c.recorded.is_(False),
            table.c.status == PENDING,
        )
    ).all()
    moved = [{"rid": r.id, "due": max(r.due_at, paused_at) + delta} for r in rows]
    for start in range(0, len(moved), 5000):
        session.connection().execute(
            update(table).where(table.c.id == bindparam("rid")).values(due_at=bindparam("due")),
            moved[start : start + 5000],
        )


def cancel(session: Session, delivery: Delivery, *, actor: Actor) -> None:
    if delivery.status not in (DRAFT, SCHEDULED, SENDING, PAUSED):
        raise ApiError(
            409,
            "finished",
            f"a {delivery.status} delivery cannot be cancelled",
            "status",
            params={"status": delivery.status},
        )
    _audit(session, actor, "delivery.cancelled", delivery, {"name": delivery.name})
    now = utcnow()
    delivery.status = CANCELLED
    if delivery.started_at is None:
        delivery.finished_at = now
        return
    table = OutboundRequest.__table__
    session.execute(
        update(table)
        .where(
            requests_of(delivery.id),
            table.c.recorded.is_(False),
            table.c.status == PENDING,
        )
        .values(status=CANCELLED)
    )
