"""Custom events the brand reports (cart_added, cart_abandoned, price_dropped, restocked,
reservation_made, page_view…): stored once per (account, event_id) for the automations that
react to them. Events about people enishi does not know are kept, with their ids."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from enishi.db.base import utcnow
from enishi.events.service import Event, publish_many
from enishi.kit.errors import ApiError
from enishi.tracking.conversions import chunks, pick_friend, resolve_friends, store_racing
from enishi.tracking.models import CustomEvent
from enishi.tracking.schemas import EventIn

PROPERTIES_MAX_BYTES = 16 * 1024


@dataclass
class EventOutcome:
    status: str  # created | duplicate | error
    event: CustomEvent | None = None
    error: ApiError | None = None


def check_event(entry: EventIn) -> None:
    size = len(orjson.dumps(entry.properties))
    if size > PROPERTIES_MAX_BYTES:
        raise ApiError(
            422,
            "invalid",
            f"properties must be at most {PROPERTIES_MAX_BYTES} bytes of JSON (got {size})",
            "properties",
        )


def _content(entry: EventIn) -> dict[str, object]:
    return {
        "name": entry.name,
        "line_user_id": entry.line_user_id,
        "member_id": entry.member_id,
        "properties": entry.properties,
        "occurred_at": entry.occurred_at,
    }


def _stored_content(event: CustomEvent) -> dict[str, object]:
    return {
        "name": event.name,
        "line_user_id": event.line_user_id,
        "member_id": event.member_id,
        "properties": event.properties,
        "occurred_at": event.occurred_at,
    }


def _difference(before: dict[str, object], entry: EventIn) -> str | None:
    now = _content(entry)
    for key, value in before.items():
        if key == "occurred_at" and now[key] is None:  # a resend that left the time out
            continue
        if value != now[key]:
            return key
    return None


def record_events(
    session: Session, account_id: int, entries: Sequence[EventIn]
) -> list[EventOutcome]:
    """Store each new event once; one outcome per entry, in order."""
    outcomes: list[EventOutcome | None] = [None] * len(entries)
    valid: list[int] = []
    for index, entry in enumerate(entries):
        try:
            check_event(entry)
            if entry.event_id is None:
                entry.event_id = str(uuid.uuid4())
            valid.append(index)
        except ApiError as error:
            outcomes[index] = EventOutcome("error", error=error)
    done = store_racing(session, lambda: _store(session, account_id, entries, valid))
    for index, outcome in done.items():
        outcomes[index] = outcome
    return [o if o is not None else EventOutcome("error") for o in outcomes]


def _store(
    session: Session, account_id: int, entries: Sequence[EventIn], valid: list[int]
) -> dict[int, EventOutcome]:
    ids = sorted({entries[i].event_id for i in valid})
    stored: dict[str, CustomEvent] = {}
    for chunk in chunks(ids):
        stored.update(
            (e.event_id, e)
            for e in session.scalars(
                select(CustomEvent).where(
                    CustomEvent.account_id == account_id, CustomEvent.event_id.in_(chunk)
                )
            )
        )
    by_user, by_member = resolve_friends(
        session,
        account_id,
        (entries[i].line_user_id for i in valid),
        (entries[i].member_id for i in valid),
    )
    done: dict[int, EventOutcome] = {}
    first_in_batch: dict[str, dict[str, object]] = {}
    new: list[tuple[int, CustomEvent]] = []
    repeats: list[tuple[int, str]] = []
    now = utcnow()
    for index in valid:
        entry = entries[index]
        event_id = entry.event_id
        assert event_id is not None
        before = first_in_batch.get(event_id)
        if before is None and event_id in stored:
            before = _stored_content(stored[event_id])
        if before is not None:
            differs = _difference(before, entry)
            if differs is None:
                repeats.append((index, event_id))
            else:
                done[index] = EventOutcome(
                    "error",
                    error=ApiError(
                        409,
                        "conflict",
                        f"event {event_id} was already reported with a different {differs}",
                        "event_id",
                    ),
                )
            continue
        first_in_batch[event_id] = _content(entry)
        event = CustomEvent(
            account_id=account_id,
            event_id=event_id,
            name=entry.name,
            friend_id=pick_friend(by_user, by_member, entry.line_user_id, entry.member_id),
            line_user_id=entry.line_user_id,
            member_id=entry.member_id,
            properties=entry.properties,
            occurred_at=entry.occurred_at.astimezone(UTC) if entry.occurred_at else now,
            received_at=now,
        )
        stored[event_id] = event
        new.append((index, event))
    session.add_all([e for _, e in new])
    session.flush()
    publish_many(session, [custom_event(e) for _, e in new])
    for index, event in new:
        done[index] = EventOutcome("created", event)
    for index, event_id in repeats:
        done[index] = EventOutcome("duplicate", stored[event_id])
    return done


def custom_event(event: CustomEvent) -> Event:
    """tracking.custom_event for a stored event (not for a repeat of its event_id)."""
    return Event(
        "tracking.custom_event",
        event.occurred_at,
        account_id=event.account_id,
        friend_id=event.friend_id,
        payload={
            "event_id": event.event_id,
            "name": event.name,
            "properties": event.properties,
            "line_user_id": event.line_user_id,
            "member_id": event.member_id,
        },
    )


def list_events(
    session: Session,
    account_id: int,
    *,
    before_id: int | None,
    limit: int,
    name: str | None = None,
    line_user_id: str | None = None,
) -> list[CustomEvent]:
    """Newest first."""
    query = select(CustomEvent).where(CustomEvent.account_id == account_id)
    if name is not None:
        query = query.where(CustomEvent.name == name)
    if line_user_id is not None:
        query = query.where(CustomEvent.line_user_id == line_user_id)
    if before_id is not None:
        query = query.where(CustomEvent.id < before_id)
    return list(session.scalars(query.order_by(CustomEvent.id.desc()).limit(limit)))
