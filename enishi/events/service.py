"""publish(session, event): a domain event, written in the transaction of the change it
announces (docs/events.md lists every event and its payload).

Knows no domain: subscribers come from the registry. Transaction subscribers run here;
immediate ones run after the commit (install() hooks the session factory); the rest, and
any immediate one that failed, are delivered by the poller (poller.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import event as sa_event
from sqlalchemy import insert, inspect, select, update
from sqlalchemy.orm import Session, sessionmaker

from enishi.db.base import utcnow
from enishi.db.upsert import insert_ignore
from enishi.events.models import DONE, PENDING, DomainEvent, EventDelivery
from enishi.events.registry import Subscriber, subscribers_of

log = logging.getLogger(__name__)

# the poller leaves an event with immediate subscribers alone this long after publishing,
# so the after-commit hook (not a second, concurrent run) delivers it
IMMEDIATE_GRACE = timedelta(seconds=10)
_PUBLISHED = "enishi.events.immediate"  # session.info key: rows awaiting the commit


@dataclass(frozen=True)
class Event:
    name: str
    occurred_at: datetime
    account_id: int | None = None
    friend_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    id: int | None = None  # set once stored: what a subscriber keys its idempotency on


class Context(Protocol):
    """What immediate subscribers and the pollers receive (the app state in practice)."""

    settings: Any
    sessions: sessionmaker[Session]


def publish(session: Session, event: Event) -> DomainEvent:
    """Store the event in the caller's transaction and run its transaction subscribers."""
    for subscriber in subscribers_of(event.name, "transaction"):
        subscriber.handler(session, event)
    later = subscribers_of(event.name, "immediate", "queued")
    immediate = any(s.mode == "immediate" for s in later)
    now = utcnow()
    row = DomainEvent(
        name=event.name,
        account_id=event.account_id,
        friend_id=event.friend_id,
        payload=event.payload,
        occurred_at=event.occurred_at,
        published_at=now,
        status=PENDING if later else DONE,
        processed_at=None if later else now,
        next_attempt_at=now + IMMEDIATE_GRACE if immediate else None,
    )
    session.add(row)
    if immediate:
        session.info.setdefault(_PUBLISHED, []).append(row)
    return row


def publish_many(session: Session, events: list[Event]) -> None:
    """publish() for a bulk change (a CSV import's thousands of tag changes): one
    multi-row insert instead of an ORM object per event, unless an immediate subscriber
    needs the rows back for its after-commit run."""
    names = {e.name for e in events}
    if any(subscribers_of(name, "immediate") for name in names):
        for event in events:
            publish(session, event)
        return
    for event in events:
        for subscriber in subscribers_of(event.name, "transaction"):
            subscriber.handler(session, event)
    now = utcnow()
    status = {name: bulk_status(name) for name in names}
    rows = [
        {
            "name": e.name,
            "account_id": e.account_id,
            "friend_id": e.friend_id,
            "payload": e.payload,
            "occurred_at": e.occurred_at,
            "published_at": now,
            "status": status[e.name],
            "processed_at": None if status[e.name] == PENDING else now,
            "attempts": 0,
        }
        for e in events
    ]
    if rows:
        session.execute(insert(DomainEvent.__table__), rows)


def bulk_status(name: str) -> str:
    """The status a row written without publish() starts in: pending when someone will
    deliver it (the poller, immediate subscribers included), else done."""
    return PENDING if subscribers_of(name, "immediate", "queued") else DONE


def stored(row: DomainEvent) -> Event:
    return Event(
        name=row.name,
        occurred_at=row.occurred_at,
        account_id=row.account_id,
        friend_id=row.friend_id,
        payload=dict(row.payload or {}),
        id=row.id,
    )


def install(sessions: sessionmaker[Session], context: Context) -> None:
    """Run immediate subscribers after each commit of `sessions`' sessions."""

    @sa_event.listens_for(sessions, "after_commit")
    def _after_commit(session: Session) -> None:
        if session.in_nested_transaction():  # SQLAlchemy signals a savepoint's release too
            return
        rows = session.info.pop(_PUBLISHED, None)
        # rows of a rolled-back savepoint were never stored
        committed = [stored(r) for r in rows or () if inspect(r).persistent]
        if committed:
            deliver_immediately(context, committed)

    @sa_event.listens_for(sessions, "after_soft_rollback")
    def _after_rollback(session: Session, previous) -> None:
        if previous.parent is None:  # the whole transaction, not a savepoint
            session.info.pop(_PUBLISHED, None)


def deliver_immediately(context: Context, events: list[Event]) -> None:
    """The after-commit hook's work; never raises (the poller retries what failed). Each
    immediate subscriber gets the committed events in one call, then one transaction
    records the deliveries and finishes the events nobody else waits for."""
    try:
        by_subscriber: dict[str, tuple[Subscriber, list[Event]]] = {}
        for event in events:
            for subscriber in subscribers_of(event.name, "immediate"):
                by_subscriber.setdefault(subscriber.name, (subscriber, []))[1].append(event)
        for subscriber, batch in by_subscriber.values():
            run_outside_transaction(context, subscriber, batch)
        finished = [e.id for e in events if not subscribers_of(e.name, "queued")]
        if finished:
            with context.sessions.begin() as session:
                session.execute(
                    update(DomainEvent)
                    .where(DomainEvent.id.in_(finished))
                    .values(status=DONE, processed_at=utcnow(), next_attempt_at=None)
                )
    except Exception:
        ids = [e.id for e in events]
        log.exception("immediate delivery of domain events %s failed; the poller retries", ids)


def delivered(context: Context, event_id: int) -> set[str]:
    with context.sessions() as session:
        return set(
            session.scalars(
                select(EventDelivery.subscriber).where(EventDelivery.event_id == event_id)
            )
        )


def run_outside_transaction(context: Context, subscriber: Subscriber, events: list[Event]) -> None:
    """Work outside the database first, then the record of it: a crash in between
    re-delivers, and the subscriber tolerates that. Immediate subscribers take a list."""
    subscriber.handler(context, events)
    with context.sessions.begin() as session:
        for event in events:
            record_delivery(session, event, subscriber)


def record_delivery(session: Session, event: Event, subscriber: Subscriber) -> None:
    insert_ignore(
        session.connection(),
        EventDelivery.__table__,
        [{"event_id": event.id, "subscriber": subscriber.name, "delivered_at": utcnow()}],
        ("event_id", "subscriber"),
    )
