"""The dispatcher's database side: the channel lease, claiming and recording.

Requests are claimed from the outbox (`FOR UPDATE SKIP LOCKED` on PostgreSQL; on SQLite the
claim is one atomic UPDATE ... RETURNING), sent by the dispatcher (dispatcher.py), and
their outcomes written back in batches. One worker at a time holds a channel's send
lease, so the sum of all workers' requests stays under LINE's per-channel limits; a
claimed request whose worker died is given back when its lease runs out and is resent
(with its retry key where LINE takes one). What LINE's answers mean: outcomes.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Text,
    bindparam,
    cast,
    exists,
    false,
    func,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from enishi.db.base import utcnow
from enishi.db.upsert import insert_ignore
from enishi.sending.kinds import ENDPOINTS, KINDS
from enishi.sending.models import (
    FAILED,
    PENDING,
    SENDING,
    SENT,
    ChannelLease,
    OutboundRequest,
)
from enishi.sending.outcomes import Job, Outcome
from enishi.sending.producers import Producer, producers

_R = OutboundRequest.__table__
_L = ChannelLease.__table__


@dataclass
class Channel:
    """What a lane learns each time it renews its channel lease."""

    held: bool  # this worker sends for the channel
    recent: bool  # taken over from a worker that sent until less than a second ago
    gates: dict[str, set[int]] = field(default_factory=dict)  # source -> sendable ids
    kinds: set[str] = field(default_factory=set)  # kinds with pending requests
    open: bool = False  # any work of the account may still be sent


def sendable_where(gates: dict[str, set[int]] | None = None) -> ColumnElement[bool]:
    """Requests of registered producers that may go out now: ungated ones always, gated
    ones when their source id is open (in `gates`, or by the producer's own query)."""
    terms = []
    ungated = [s for s, p in producers().items() if p.sendable is None]
    if ungated:
        terms.append(_R.c.source.in_(ungated))
    for source, p in producers().items():
        if p.sendable is None:
            continue
        if gates is None:
            terms.append((_R.c.source == source) & _R.c.source_id.in_(p.sendable(None)))
        elif gates.get(source):
            terms.append((_R.c.source == source) & _R.c.source_id.in_(sorted(gates[source])))
    return or_(*terms) if terms else false()


def _gated() -> dict[str, Producer]:
    return {s: p for s, p in producers().items() if p.sendable is not None}


class Outbox:
    """The dispatcher's queries, run on worker threads (its event loop never blocks)."""

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
        """Accounts with work under way: a gated producer's (e.g. a delivery that is
        sending, while it is still planned), or open requests of ungated producers."""
        queries = [p.active_accounts() for p in _gated().values()]  # type: ignore[misc]
        ungated = [s for s, p in producers().items() if p.sendable is None]
        if ungated:
            queries.append(
                select(_R.c.account_id).where(
                    _R.c.status.in_((PENDING, SENDING)), _R.c.source.in_(ungated)
                )
            )
        if not queries:
            return []
        with self.sessions() as session:
            return sorted(set(session.scalars(union(*queries))))

    def hold_channel(self, account_id: int) -> Channel:
        """Take or renew this worker's send lease on the account, and read what may be
        sent for it now."""
        now = utcnow()
        until = now + self.channel_lease
        with self.sessions.begin() as session:
            conn = session.connection()
            before = conn.execute(
                select(_L.c.holder, _L.c.lease_until).where(_L.c.account_id == account_id)
            ).first()
            if before is None:
                insert_ignore(
                    conn,
                    _L,
                    [{"account_id": account_id, "holder": self.holder, "lease_until": until}],
                    ["account_id"],
                )
            held = (
                conn.execute(
                    update(_L)
                    .where(
                        _L.c.account_id == account_id,
                        or_(_L.c.holder == self.holder, _L.c.lease_until < now),
                    )
                    .values(holder=self.holder, lease_until=until)
                ).rowcount
                == 1
            )
            taken_over = held and before is not None and before.holder != self.holder
            recent = taken_over and (now - before.lease_until).total_seconds() < 1.0
            if taken_over:
                # the previous holder sends no more (its lease ran out): what it had claimed
                # is given back now rather than when each claim's lease runs out; anything
                # it did send is resent with the same retry key and LINE answers 409
                conn.execute(
                    update(_R)
                    .where(
                        _R.c.account_id == account_id,
                        _R.c.status == SENDING,
                        _R.c.claimed_by == before.holder,
                    )
                    .values(status=PENDING, claimed_by=None, lease_until=None)
                )
            gates = {
                source: set(session.scalars(p.sendable(account_id)))  # type: ignore[misc]
                for source, p in _gated().items()
            }
            ungated = [s for s, p in producers().items() if p.sendable is None]
            mine = (_R.c.account_id == account_id,)
            flags = conn.execute(
                select(
                    *[
                        exists().where(*mine, _R.c.kind == kind, _R.c.status == PENDING).label(kind)
                        for kind in KINDS
                    ],
                    exists()
                    .where(*mine, _R.c.status.in_((PENDING, SENDING)), _R.c.source.in_(ungated))
                    .label("ungated_open"),
                )
            ).one()
        kinds = {kind for kind in KINDS if getattr(flags, kind)}
        is_open = bool(flags.ungated_open) or any(gates.values())
        return Channel(held, recent, gates, kinds, is_open)

    def release_channel(self, account_id: int) -> None:
        with self.sessions.begin() as session:
            session.execute(
                update(_L)
                .where(_L.c.account_id == account_id, _L.c.holder == self.holder)
                .values(lease_until=utcnow())
            )

    def reclaim_expired(self, account_id: int) -> int:
        """Give back requests claimed by a worker whose lease ran out (it died): they are
        sent again (with their retry keys)."""
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
        self, account_id: int, kind: str, gates: dict[str, set[int]], limit: int
    ) -> tuple[list[Job], datetime | None]:
        """Up to `limit` due requests of one kind that may be sent now, oldest due first;
        and, when none is due, when the next one will be."""
        now = utcnow()
        until = now + self.lease
        where = (
            _R.c.account_id == account_id,
            _R.c.kind == kind,
            _R.c.status == PENDING,
            sendable_where(gates),
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
                    _R.c.source,
                    _R.c.source_id,
                    _R.c.retry_key,
                    cast(_R.c.payload, Text).label("body"),  # sent as stored
                    _R.c.attempts,
                    _R.c.due_at,
                    _R.c.first_attempt_at,
                    _R.c.expires_at,
                )
            ).all()
            upcoming = None
            if not rows:
                upcoming = session.scalar(select(func.min(_R.c.due_at)).where(*where))
        rows.sort(key=lambda r: (r.due_at, r.id))
        endpoint = ENDPOINTS[kind]
        jobs = []
        for r in rows:
            body = r.body.encode()
            path = endpoint.path
            if not endpoint.has_body:
                path, body = endpoint.path_for(orjson.loads(body)), b""
            jobs.append(
                Job(
                    r.id,
                    r.source,
                    r.source_id,
                    kind,
                    r.retry_key,
                    endpoint.method,
                    path,
                    body,
                    r.attempts,
                    r.first_attempt_at,
                    until,
                    r.expires_at,
                )
            )
        return jobs, upcoming

    def record(self, outcomes: list[Outcome]) -> None:
        """Write a batch of outcomes in one transaction, with the producers' hooks."""
        known = producers()
        sent: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        back: list[dict[str, Any]] = []
        pauses: dict[tuple[str, int], tuple[str, str]] = {}
        taken: dict[str, list[Outcome]] = {}
        for o in outcomes:
            found = known.get(o.job.source)
            if o.action == "pause" and (
                found is None or found.pause is None or o.job.source_id is None
            ):
                o.action = "failed"  # nothing to hold: the request fails with LINE's message
            attempts = o.job.attempts + (1 if o.attempted else 0)
            first = o.job.first_attempt_at or (o.at if o.attempted else None)
            row = {"rid": o.job.id, "n": attempts, "first": first, "err": o.error}
            if o.action in ("sent", "failed"):
                recorded = found is None or not found.records_later
                row["rec"] = recorded
                if found is not None and found.take_outcomes is not None:
                    taken.setdefault(o.job.source, []).append(o)
                if o.action == "sent":
                    sent.append({**row, "at": o.at, "lrid": o.line_request_id})
                else:
                    failed.append(row)
                continue
            back.append({**row, "due": o.retry_at or o.at})
            if o.action == "pause":
                assert o.job.source_id is not None
                pauses[(o.job.source, o.job.source_id)] = (o.error or "", o.pause_code or "")
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
                        recorded=bindparam("rec"),
                    ),
                    [{k: v for k, v in r.items() if k != "err"} for r in sent],
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
                        recorded=bindparam("rec"),
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
            for (source, source_id), (error, code) in pauses.items():
                known[source].pause(conn, source_id, error, code)  # type: ignore[misc]
            for source, batch in taken.items():
                known[source].take_outcomes(conn, batch)  # type: ignore[misc]

    def due_work(self) -> bool:
        """Is anything due to be sent (for a worker deciding whether it is idle)?"""
        with self.sessions() as session:
            return bool(
                session.scalar(
                    select(
                        exists().where(
                            _R.c.status == PENDING, _R.c.due_at <= utcnow(), sendable_where()
                        )
                    )
                )
            )
