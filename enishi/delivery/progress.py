"""Recording outcomes onto recipients, finishing deliveries, and progress counts.

The sending dispatcher writes each request's outcome on the outbox row only (one row per 500
friends for a multicast). This poller copies outcomes to the recipient rows — status, sent
time, LINE request id, error — in set-based batches, when the delivery is not busy
sending (a million row updates do not compete with a delivery at full speed), and marks
a delivery done once everything planned is recorded. Until then a recipient is `queued`
and its outcome is its request's; `counts` adds both up, so progress is always exact.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, exists, func, or_, select, update

from enishi.db.base import utcnow
from enishi.delivery.models import (
    CANCELLED,
    DONE,
    FAILED,
    HELD_OUT,
    PAUSED,
    QUEUED,
    SENDING,
    SENT,
    SKIPPED,
    Delivery,
    DeliveryRecipient,
)
from enishi.delivery.outbound import requests_of
from enishi.deps import AppState
from enishi.sending.models import PENDING, TERMINAL, OutboundRequest

BATCH_RECIPIENTS = 20_000
_R = OutboundRequest.__table__  # a recipient of a TERMINAL request shares its status
_P = DeliveryRecipient.__table__


def record_outcomes(state: AppState) -> int:
    """Worker poller: record one batch of outcomes (or finish deliveries); work done."""
    now = utcnow()
    with state.sessions() as session:
        candidates = list(
            session.scalars(
                select(Delivery.id)
                .where(
                    Delivery.status.in_((SENDING, PAUSED, CANCELLED)),
                    Delivery.finished_at.is_(None),
                    Delivery.started_at.is_not(None),
                )
                .order_by(Delivery.id)
                .limit(20)
            )
        )
    done = 0
    for delivery_id in candidates:
        done += _record_delivery(state, delivery_id, now)
        if done:
            break
    return done


def _record_delivery(state: AppState, delivery_id: int, now) -> int:
    with state.sessions.begin() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None or delivery.finished_at is not None:
            return 0
        work = 0
        if delivery.status == CANCELLED:
            work += session.execute(
                update(_R)
                .where(
                    requests_of(delivery_id),
                    _R.c.recorded.is_(False),
                    or_(
                        _R.c.status == PENDING, (_R.c.status == SENDING) & (_R.c.lease_until < now)
                    ),
                )
                .values(status=CANCELLED, claimed_by=None, lease_until=None)
            ).rowcount
        elif delivery.status == SENDING and session.scalar(
            select(
                exists().where(
                    requests_of(delivery_id),
                    _R.c.recorded.is_(False),
                    _R.c.status.in_((PENDING, SENDING)),
                    _R.c.due_at <= now,
                )
            )
        ):
            return work  # busy sending: record later, off the hot path
        outcomes, total = [], 0
        for row in session.execute(
            select(
                _R.c.id,
                _R.c.recipient_count,
                _R.c.friend_lo,
                _R.c.friend_hi,
                _R.c.status,
                _R.c.sent_at,
                _R.c.line_request_id,
                _R.c.error,
            )
            .where(requests_of(delivery_id), _R.c.recorded.is_(False), _R.c.status.in_(TERMINAL))
            .order_by(_R.c.id)
            .limit(2000)
        ):
            outcomes.append(
                {
                    "rid": row.id,
                    "lo": row.friend_lo,
                    "hi": row.friend_hi,
                    "st": row.status,
                    "at": row.sent_at,
                    "lrid": row.line_request_id,
                    "err": row.error,
                }
            )
            total += row.recipient_count
            if total >= BATCH_RECIPIENTS:
                break
        if outcomes:
            # one statement per request over its key range (delivery, friend lo..hi): the
            # same index plan on both databases whatever their statistics say
            session.connection().execute(
                update(_P)
                .where(
                    _P.c.delivery_id == delivery_id,
                    _P.c.friend_id >= bindparam("lo"),
                    _P.c.friend_id <= bindparam("hi"),
                    _P.c.request_id == bindparam("rid"),
                    _P.c.status == QUEUED,
                )
                .values(
                    status=bindparam("st"),
                    sent_at=bindparam("at"),
                    line_request_id=bindparam("lrid"),
                    error=bindparam("err"),
                ),
                outcomes,
            )
            session.execute(
                update(_R).where(_R.c.id.in_([o["rid"] for o in outcomes])).values(recorded=True)
            )
            return work + total
        finished = delivery.planned_at is not None or delivery.status == CANCELLED
        open_requests = session.scalar(
            select(exists().where(requests_of(delivery_id), _R.c.recorded.is_(False)))
        )
        if finished and not open_requests:
            if delivery.status != CANCELLED:
                delivery.status = DONE
            delivery.final_counts = counts(session, delivery)
            delivery.finished_at = now
            delivery.lease_holder = delivery.lease_until = None
            work += 1
        return work


def counts(session, delivery: Delivery) -> dict[str, Any]:
    """Recipients by outcome (queued, sent, failed, cancelled, held_out, skipped) and
    requests by status; exact at any moment, read from the requests (every recipient of a
    request shares its outcome) and the delivery's planning counters, not from a million
    recipient rows."""
    if delivery.final_counts is not None:
        return delivery.final_counts
    out = {
        QUEUED: 0,
        SENT: 0,
        FAILED: 0,
        CANCELLED: 0,
        HELD_OUT: delivery.held_out_count or 0,
        SKIPPED: delivery.skipped_count or 0,
    }
    as_recipient = {
        PENDING: QUEUED,
        SENDING: QUEUED,
        SENT: SENT,
        FAILED: FAILED,
        CANCELLED: CANCELLED,
    }
    requests: dict[str, int] = {}
    for status, n, people in session.execute(
        select(_R.c.status, func.count(), func.coalesce(func.sum(_R.c.recipient_count), 0))
        .where(requests_of(delivery.id))
        .group_by(_R.c.status)
    ):
        requests[status] = n
        out[as_recipient[status]] += int(people)
    out["targeted"] = sum(out.values())
    return {"recipients": out, "requests": requests}
