"""Saved segments and previews. Services never commit; the caller's transaction does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.orm import Session

from enishi.audit.actor import Actor
from enishi.audit.service import record
from enishi.db.base import utcnow
from enishi.friends.models import Friend
from enishi.kit.errors import ApiError, not_found
from enishi.segments.compiler import audience_clause
from enishi.segments.language import Definition, SegmentError, SegmentInvalid
from enishi.segments.models import Segment
from enishi.segments.parser import parse_definition

SAMPLE_SIZE = 20


@dataclass
class Preview:
    count: int
    sample: list[Friend]
    now: datetime


def checked(
    session: Session,
    account_id: int,
    definition: Any,
    *,
    now: datetime | None = None,
    prefix: str = "",
) -> tuple[Definition, ColumnElement]:
    """The parsed definition and its audience clause; SegmentInvalid names `prefix` + path."""
    try:
        parsed = parse_definition(definition)
        return parsed, audience_clause(session, account_id, parsed, now=now)
    except SegmentInvalid as exc:
        if not prefix:
            raise
        raise SegmentInvalid(exc.errors, prefix=prefix) from None


def validation_errors(session: Session, account_id: int, definition: Any) -> list[SegmentError]:
    """Every error of a definition (shape, types, the account's attributes, tags, routes…)."""
    try:
        checked(session, account_id, definition)
    except SegmentInvalid as exc:
        return exc.errors
    return []


def _no_jit(session: Session) -> None:
    """PostgreSQL JIT-compiles queries whose estimated cost is high, as a segment's per-friend
    subqueries make it: 0.1-0.5 s spent compiling a query that runs in less. Off for this
    transaction (a no-op on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


def count_segment(
    session: Session, account_id: int, definition: Any, *, now: datetime | None = None
) -> int:
    """How many friends a send would target now (following friends only)."""
    _, clause = checked(session, account_id, definition, now=now)
    _no_jit(session)
    return session.scalar(select(func.count()).select_from(Friend).where(clause)) or 0


def preview(
    session: Session,
    account_id: int,
    definition: Any,
    *,
    now: datetime | None = None,
    sample_size: int = SAMPLE_SIZE,
    prefix: str = "",
) -> Preview:
    """The count a send would target and the newest `sample_size` friends of it."""
    now = now or utcnow()
    _, clause = checked(session, account_id, definition, now=now, prefix=prefix)
    _no_jit(session)
    count = session.scalar(select(func.count()).select_from(Friend).where(clause)) or 0
    sample = (
        list(
            session.scalars(
                select(Friend).where(clause).order_by(Friend.id.desc()).limit(sample_size)
            )
        )
        if count
        else []
    )
    return Preview(count=count, sample=sample, now=now)


# --- saved segments ----------------------------------------------------------------------------
def get_segment(session: Session, account_id: int, segment_id: int) -> Segment:
    segment = session.get(Segment, segment_id)
    if segment is None or segment.account_id != account_id:
        raise not_found("segment")
    return segment


def list_segments(
    session: Session, account_id: int, *, after_id: int | None = None, limit: int = 100
) -> list[Segment]:
    query = select(Segment).where(Segment.account_id == account_id)
    if after_id is not None:
        query = query.where(Segment.id > after_id)
    return list(session.scalars(query.order_by(Segment.id).limit(limit)))


def _name_taken(session: Session, account_id: int, name: str, but: int | None = None) -> bool:
    query = select(Segment.id).where(Segment.account_id == account_id, Segment.name == name)
    if but is not None:
        query = query.where(Segment.id != but)
    return session.scalar(query) is not None


def _check_name(session: Session, account_id: int, name: str, but: int | None = None) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise ApiError(422, "invalid", "a segment name is 1-200 characters", "name")
    if _name_taken(session, account_id, name, but):
        raise ApiError(409, "conflict", f"a segment named {name!r} exists already", "name")
    return name


def create_segment(
    session: Session,
    account_id: int,
    name: str,
    definition: Any,
    *,
    actor: Actor,
    audit_details: dict[str, Any] | None = None,
) -> Segment:
    """A new segment, audited; `audit_details` tell where it came from (click analysis)."""
    parsed, _ = checked(session, account_id, definition, prefix="definition.")
    segment = Segment(
        account_id=account_id,
        name=_check_name(session, account_id, name),
        definition=parsed.to_json(),
        version=parsed.version,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    session.add(segment)
    session.flush()
    details = {"name": segment.name, "definition": segment.definition, **(audit_details or {})}
    _audit(session, actor, "segment.created", segment, details)
    return segment


def _audit(session: Session, actor: Actor, action: str, segment: Segment, details: dict) -> None:
    record(
        session,
        actor=actor,
        action=action,
        account_id=segment.account_id,
        target=f"segment:{segment.id}",
        details=details,
    )


def update_segment(
    session: Session,
    segment: Segment,
    *,
    name: str | None = None,
    definition: Any = None,
    actor: Actor,
) -> Segment:
    """Audited with the fields that changed (none changed: no entry)."""
    before = {"name": segment.name, "definition": segment.definition}
    if name is not None:
        segment.name = _check_name(session, segment.account_id, name, but=segment.id)
    if definition is not None:
        parsed, _ = checked(session, segment.account_id, definition, prefix="definition.")
        segment.definition, segment.version = parsed.to_json(), parsed.version
    segment.updated_at = utcnow()
    session.flush()
    changes = {
        key: [old, getattr(segment, key)]
        for key, old in before.items()
        if getattr(segment, key) != old
    }
    if changes:
        _audit(session, actor, "segment.updated", segment, changes)
    return segment


def delete_segment(session: Session, segment: Segment, *, actor: Actor) -> None:
    details = {"name": segment.name, "definition": segment.definition}
    _audit(session, actor, "segment.deleted", segment, details)
    session.delete(segment)
    session.flush()


def duplicate_segment(
    session: Session, segment: Segment, name: str | None = None, *, actor: Actor
) -> Segment:
    """A copy under `name`, or "<name> のコピー" (then "のコピー 2", 3…) when none is given."""
    if name is None:
        base = f"{segment.name[:190]} のコピー"
        name, n = base, 1
        while _name_taken(session, segment.account_id, name):
            n += 1
            name = f"{base} {n}"
    copy = Segment(
        account_id=segment.account_id,
        name=_check_name(session, segment.account_id, name),
        definition=segment.definition,
        version=segment.version,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    session.add(copy)
    session.flush()
    details = {"name": copy.name, "definition": copy.definition, "duplicate_of": segment.id}
    _audit(session, actor, "segment.created", copy, details)
    return copy
