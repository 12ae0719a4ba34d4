"""The dispatcher's database side and the worker poller that drives it.

Requests are claimed from the outbox (`FOR UPDATE SKIP LOCKED` on PostgreSQL; on SQLite the
claim is one atomic UPDATE ... RETURNING), sent by the engine (engine.py), and their
outcomes written back in batches. One worker at a time holds a channel's send lease, so
the sum of all workers' requests stays under LINE's per-channel limits; a claimed request
whose worker died is given back when its lease runs out and is resent with its retry key.

What LINE's answer means (LINE_PLATFORM.md §2-3):
- 200: sent. 409: the retry key was accepted before — sent (LINE's `x-line-accepted-
  request-id` names the original request).
- 429 rate limit, 5xx, timeout, broken connection: retried later with the SAME retry key.
- 429 monthly limit, 401, 403: every request of the account would fail alike — the
  delivery is paused with LINE's message and resumes where it stopped.
- other 4xx: the request's recipients failed, with LINE's message.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, bindparam, cast, exists, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from enishi.db.base import utcnow
from enishi.db.upsert import insert_ignore
from enishi.delivery.models import (
    FAILED,
    PAUSED,
    PENDING,
    SENDING,
    SENT,
    Delivery,
    DeliveryChannelLease,
    DeliveryRequest,
)
from enishi.delivery.runtime import runtime_for
from enishi.deps import AppState
from enishi.line.errors import parse_error_body

GIVE_UP_AFTER = timedelta(hours=23)  # LINE forgets a retry key after 24 h
PATHS = {"push": "/v2/bot/message/push", "multicast": "/v2/bot/message/multicast"}
_R = DeliveryRequest.__table__


@dataclass
class Job:
    """A claimed request, as the engine sends it."""

    id: int
    delivery_id: int
    kind: str
    retry_key: str
    body: bytes
    attempts: int
    first_attempt_at: datetime | None
    lease_until: datetime


@dataclass
class Outcome:
    """What became of one attempt (or of a claim given back unsent)."""

    job: Job
    action: str  # sent | failed | retry | release | pause
    at: datetime
    line_request_id: str | None = None
    error: str | None = None
    retry_at: datetime | None = None
    attempted: bool = True
    pause_code: str | None = None  # with action "pause": why, as Delivery.error_code


def classify(
    job: Job, status: int | None, headers: dict[str, str], body: bytes, error: str | None = None
) -> Outcome:
    """LINE's answer (or none: `status` None and `error`) to one attempt."""
    now = utcnow()
    attempts = job.attempts + 1
    if status in (200, 409):
        request_id = (
            headers.get("x-line-accepted-request-id") if status == 409 else None
        ) or headers.get("x-line-request-id")
        return Outcome(job, "sent", now, line_request_id=request_id)
    message = error or _line_message(status, body)
    first = job.first_attempt_at or now
    if status == 429 and "monthly limit" in message.lower():
        return Outcome(job, "pause", now, error=f"LINE: {message}", pause_code="line_monthly_limit")
    if status in (401, 403):
        return Outcome(
            job, "pause", now, error=f"LINE {status}: {message}", pause_code="line_token_refused"
        )
    if status is not None and 400 <= status < 500 and status != 429:
        return Outcome(job, "failed", now, error=f"LINE {status}: {message}"[:500])
    if now - first > GIVE_UP_AFTER:
        return Outcome(
            job,
            "failed",
            now,
            error=f"gave up after {attempts} attempts within "
            f"{GIVE_UP_AFTER} (the retry key would expire): {message}"[:500],
        )
    base = 1.0 if status == 429 else 0.5
    delay = min(30.0, base * 2 ** min(attempts - 1, 6)) * random.uniform(0.75, 1.25)
    return Outcome(
        job,
        "retry",
        now,
        error=f"{status or ''} {message}".strip()[:500],
        retry_at=now + timedelta(seconds=delay),
    )


def _line_message(status: int | None, body: bytes) -> str:
    parsed = parse_error_body(body)
    message = parsed.message or f"HTTP {status}"
    if parsed.details:
        first = parsed.details[0]
        message += f" ({first.property}: {first.message})"
    return message


# --- database side ---------------------------------------------------------------------------
class Outbox:
    """The dispatcher's queries, run on worker threads (the engine's loop never blocks)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        holder: str,
        lease: timedelta,
        channel_lease: timedelta,
    ) -> None:
        self.sessions, self.holder = sessions, holder
        self.lease, self.channel_lease = lease, channel_lease

    def active_accounts(self) -> list[int]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(Delivery.account_id).where(Delivery.status == SENDING).distinct()
                )
            )

    def hold_channel(self, account_id: int) -> tuple[bool, bool, list[int]]:
        """Take or renew this worker's send lease on the account: (held, taken over from
        another worker less than a second ago — LINE's bucket may not have refilled yet —,
        ids of the account's deliveries that are sending)."""
        now = utcnow()
        until = now + self.channel_lease
        table = DeliveryChannelLease.__table__
        with self.sessions.begin() as session:
            conn = session.connection()
            before = conn.execute(
                select(table.c.holder, table.c.lease_until).where(table.c.account_id == account_id)
            ).first()
            if before is None:
                insert_ignore(
                    conn,
                    table,
                    [{"account_id": account_id, "holder": self.holder, "lease_until": until}],
                    ["account_id"],
                )
            held = (
                conn.execute(
                    update(table)
                    .where(
                        table.c.account_id == account_id,
                        or_(table.c.holder == self.holder, table.c.lease_until < now),
                    )
                    .values(holder=self.holder, lease_until=until)
                ).rowcount
                == 1
            )
            recent = (
                held
                and before is not None
                and before.holder != self.holder
                and (now - before.lease_until).total_seconds() < 1.0
            )
            active = list(
                session.scalars(
                    select(Delivery.id).where(
                        Delivery.account_id == account_id, Delivery.status == SENDING
                    )
                )
            )
        return held, recent, active

    def release_channel(self, account_id: int) -> None:
        table = DeliveryChannelLease.__table__
        with self.sessions.begin() as session:
            session.execute(
                update(table)
                .where(table.c.account_id == account_id, table.c.holder == self.holder)
                .values(lease_until=utcnow())
            )

    def reclaim_expired(self, account_id: int) -> int:
        """Give back requests claimed by a worker whose lease ran out (it died): they are
        sent again with their retry keys."""
        with self.sessions.begin() as session:
            return session.execute(
                update(_R)
                .where(
                    _R.c.account_id == account_id,
                    _R.c.status == SENDING,
                    _R.c.lease_until < utcnow(),
                )
                .values(status=PENDING, claimed_by=None, lease_until=None)
            ).rowcount

    def claim(
        self, account_id: int, kind: str, deliveries: list[int], limit: int
    ) -> tuple[list[Job], datetime | None]:
        """Up to `limit` due requests of the account's sending deliveries, oldest due
        first; and, when none is due, when the next one will be."""
        now = utcnow()
        until = now + self.lease
        where = (
            _R.c.account_id == account_id,
            _R.c.kind == kind,
            _R.c.status == PENDING,
            _R.c.delivery_id.in_(deliveries),
        )
        with self.sessions.begin() as session:
            due = (
                select(_R.c.id)
                .where(*where, _R.c.due_at <= now)
                .order_by(_R.c.due_at, _R.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            rows = session.execute(
                update(_R)
                .where(_R.c.id.in_(due.scalar_subquery()))
                .values(status=SENDING, claimed_by=self.holder, lease_until=until)
                .returning(
                    _R.c.id,
                    _R.c.delivery_id,
                    _R.c.retry_key,
                    cast(_R.c.payload, Text).label("body"),  # sent as stored
                    _R.c.attempts,
                    _R.c.due_at,
                    _R.c.first_attempt_at,
                )
            ).all()
            upcoming = None
            if not rows:
                upcoming = session.scalar(select(func.min(_R.c.due_at)).where(*where))
        rows.sort(key=lambda r: (r.due_at, r.id))
        jobs = [
            Job(
                r.id,
                r.delivery_id,
                kind,
                r.retry_key,
                r.body.encode(),
                r.attempts,
                r.first_attempt_at,
                until,
            )
            for r in rows
        ]
        return jobs, upcoming

    def record(self, outcomes: list[Outcome]) -> None:
        """Write a batch of outcomes in one transaction."""
        sent, failed, back, pauses = [], [], [], {}
        for o in outcomes:
            attempts = o.job.attempts + (1 if o.attempted else 0)
            first = o.job.first_attempt_at or (o.at if o.attempted else None)
            if o.action == "sent":
                sent.append(
                    {
                        "rid": o.job.id,
                        "at": o.at,
                        "lrid": o.line_request_id,
                        "n": attempts,
                        "first": first,
                    }
                )
            elif o.action == "failed":
                failed.append({"rid": o.job.id, "err": o.error, "n": attempts, "first": first})
            else:
                back.append(
                    {
                        "rid": o.job.id,
                        "due": o.retry_at or o.at,
                        "err": o.error,
                        "n": attempts,
                        "first": first,
                    }
                )
                if o.action == "pause":
                    pauses[o.job.delivery_id] = (o.error, o.pause_code)
        with self.sessions.begin() as session:
            conn = session.connection()
            if sent:  # LINE accepted it: true whoever holds the claim now
                conn.execute(
                    update(_R)
                    .where(_R.c.id == bindparam("rid"))
                    .values(
                        status=SENT,
                        sent_at=bindparam("at"),
                        line_request_id=bindparam("lrid"),
                        attempts=bindparam("n"),
                        first_attempt_at=bindparam("first"),
                        error=None,
                        claimed_by=None,
                        lease_until=None,
                    ),
                    sent,
                )
            if failed:
                conn.execute(
                    update(_R)
                    .where(_R.c.id == bindparam("rid"), _R.c.status != SENT)
                    .values(
                        status=FAILED,
                        error=bindparam("err"),
                        attempts=bindparam("n"),
                        first_attempt_at=bindparam("first"),
                        claimed_by=None,
                        lease_until=None,
                    ),
                    failed,
                )
            if back:
                conn.execute(
                    update(_R)
                    .where(
                        _R.c.id == bindparam("rid"),
                        _R.c.status == SENDING,
                        _R.c.claimed_by == self.holder,
                    )
                    .values(
                        status=PENDING,
                        due_at=bindparam("due"),
                        error=bindparam("err"),
                        attempts=bindparam("n"),
                        first_attempt_at=bindparam("first"),
                        claimed_by=None,
                        lease_until=None,
                    ),
                    back,
                )
            for delivery_id, (error, code) in pauses.items():
                conn.execute(
                    update(Delivery.__table__)
                    .where(
                        Delivery.id == delivery_id,
                        Delivery.status == SENDING,
                    )
                    .values(status=PAUSED, paused_at=utcnow(), error=error, error_code=code)
                )

    def due_work(self) -> bool:
        """Is anything due to be sent (for a worker deciding whether it is idle)?"""
        with self.sessions() as session:
            return bool(
                session.scalar(
                    select(
                        exists().where(
                            _R.c.status == PENDING,
                            _R.c.due_at <= utcnow(),
                            _R.c.delivery_id.in_(
                                select(Delivery.id).where(Delivery.status == SENDING)
                            ),
                        )
                    )
                )
            )


# --- the poller ------------------------------------------------------------------------------
def dispatch_requests(state: AppState) -> int:
    """Worker poller: keeps this process's dispatch engine running while there is work and
    reports its progress (requests finished since the last call; 1 while it is busy)."""
    from enishi.delivery.engine import Engine

    runtime = runtime_for(state)
    if runtime.engine is None:
        runtime.engine = Engine(state, runtime.holder)
    engine = runtime.engine
    if not engine.running:
        if not engine.outbox.active_accounts():
            return 0
        engine.start()
    engine.poke()
    return engine.progress(wait=0.05)


def engine_options(state: AppState) -> dict[str, Any]:
    settings = state.settings
    lease = max(1.0, settings.delivery_lease_seconds)
    return {
        "scale": settings.delivery_rate_limit_scale,
        "timeout": settings.delivery_request_timeout,
        "lease": timedelta(seconds=lease),
        "channel_lease": timedelta(seconds=max(1.0, lease / 3)),
    }
