"""Friends: finding or creating them, tags, typed attributes, activity. Services never
commit; the caller's transaction (a request, a worker batch) does."""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from enishi.audit.actor import Actor
from enishi.audit.service import record
from enishi.db.base import Json, UTCDateTime, utcnow
from enishi.events.service import Event, publish, publish_many
from enishi.friends.models import (
    UNKNOWN,
    AttributeDef,
    Friend,
    FriendActivity,
    FriendAttribute,
    FriendTag,
    Tag,
)
from enishi.kit.errors import ApiError

LINE_USER_ID = re.compile(r"^U[0-9a-f]{32}$")
ATTRIBUTE_TYPES = ("text", "number", "date", "choice")
VALUE_COLUMNS = ("value_text", "value_number", "value_date")
TAG_MAX = 100
NOTES_MAX = 10_000
UNCHANGED: Any = object()  # update_friend: a field left as it is


def _invalid(message: str, field: str, reason: str, **params: Any) -> ApiError:
    """A 422 "invalid" (the API's code) with the finer reason the dashboard words."""
    return ApiError(422, "invalid", message, field, reason=reason, params=params)


def get_friend(session: Session, account_id: int, line_user_id: str) -> Friend | None:
    return session.scalar(
        select(Friend).where(Friend.account_id == account_id, Friend.line_user_id == line_user_id)
    )


def get_or_create_friend(session: Session, account_id: int, line_user_id: str) -> Friend:
    """The friend record for a LINE user, created (status unknown) on first sight."""
    friend = get_friend(session, account_id, line_user_id)
    if friend is not None:
        return friend
    if not LINE_USER_ID.match(line_user_id):
        raise ApiError(422, "invalid", "not a LINE user ID (U + 32 hex)", "line_user_id")
    friend = Friend(account_id=account_id, line_user_id=line_user_id, status=UNKNOWN)
    try:
        with session.begin_nested():
            session.add(friend)
            session.flush()
    except IntegrityError:  # a concurrent transaction created it first: use theirs
        existing = get_friend(session, account_id, line_user_id)
        if existing is None:
            raise
        return existing
    return friend


def record_activity(
    session: Session, friend: Friend, kind: str, at: datetime, data: dict[str, Any] | None = None
) -> FriendActivity:
    activity = FriendActivity(
        account_id=friend.account_id, friend_id=friend.id, kind=kind, at=at, data=data or {}
    )
    session.add(activity)
    return activity


def announce(session: Session, friend: Friend, name: str, at: datetime, **payload: Any) -> None:
    """Publish a friend's change (friend.tag_added, …) with the change, for scenarios."""
    publish(
        session,
        Event(name, at, account_id=friend.account_id, friend_id=friend.id, payload=payload),
    )


# --- tags ----------------------------------------------------------------------------------
def get_or_create_tag(session: Session, account_id: int, name: str) -> Tag:
    name = name.strip()
    if not name or len(name) > TAG_MAX:
        raise _invalid(f"a tag name is 1-{TAG_MAX} characters", "tag", "tag_length", max=TAG_MAX)
    tag = session.scalar(select(Tag).where(Tag.account_id == account_id, Tag.name == name))
    if tag is None:
        tag = Tag(account_id=account_id, name=name)
        session.add(tag)
        session.flush()
    return tag


def add_tag(
    session: Session, friend: Friend, name: str, *, source: str = "api", at: datetime | None = None
) -> bool:
    """True when the friend did not have the tag before (then friend.tag_added is published)."""
    tag = get_or_create_tag(session, friend.account_id, name)
    if session.get(FriendTag, (friend.id, tag.id)) is not None:
        return False
    at = at or utcnow()
    session.add(FriendTag(friend_id=friend.id, tag_id=tag.id, tagged_at=at))
    announce(session, friend, "friend.tag_added", at, tag=tag.name, source=source)
    return True


def remove_tag(
    session: Session, friend: Friend, name: str, *, source: str = "api", at: datetime | None = None
) -> bool:
    """True when the friend had the tag (then friend.tag_removed is published)."""
    tag = session.scalar(
        select(Tag).where(Tag.account_id == friend.account_id, Tag.name == name.strip())
    )
    if tag is None:
        return False
    result = session.execute(
        delete(FriendTag).where(FriendTag.friend_id == friend.id, FriendTag.tag_id == tag.id)
    )
    if not result.rowcount:
        return False
    announce(session, friend, "friend.tag_removed", at or utcnow(), tag=tag.name, source=source)
    return True


def friend_tags(session: Session, friend_id: int) -> list[str]:
    return list(
        session.scalars(
            select(Tag.name)
            .join(FriendTag, FriendTag.tag_id == Tag.id)
            .where(FriendTag.friend_id == friend_id)
            .order_by(Tag.name)
        )
    )


# --- typed attributes ----------------------------------------------------------------------
def attribute_def(session: Session, account_id: int, key: str) -> AttributeDef:
    definition = session.scalar(
        select(AttributeDef).where(AttributeDef.account_id == account_id, AttributeDef.key == key)
    )
    if definition is None:
        raise ApiError(
            422,
            "unknown_attribute",
            f"no attribute is defined with key {key!r}",
            f"attributes.{key}",
            params={"key": key},
        )
    return definition


def parse_attribute(definition: AttributeDef, raw: Any) -> dict[str, Any]:
    """The value columns for `raw` under the definition's type, or a clear error."""
    field = f"attributes.{definition.key}"
    if raw is None or raw == "":
        return {"value_text": None, "value_number": None, "value_date": None}
    if definition.type == "number":
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise _invalid(f"{definition.key} must be a number", field, "not_a_number") from None
        if not math.isfinite(number):  # "nan"/"inf" parse as floats but are no numbers to JSON
            raise _invalid(f"{definition.key} must be a finite number", field, "not_a_number")
        return {"value_text": None, "value_number": number, "value_date": None}
    if definition.type == "date":
        try:
            value = raw if isinstance(raw, date) else date.fromisoformat(str(raw).strip())
        except ValueError:
            raise _invalid(
                f"{definition.key} must be a date (YYYY-MM-DD)", field, "not_a_date"
            ) from None
        return {"value_text": None, "value_number": None, "value_date": value}
    text = str(raw).strip()
    if definition.type == "choice" and text not in (definition.choices or []):
        choices = "、".join(definition.choices or [])
        message = f"{definition.key} must be one of {definition.choices}"
        raise _invalid(message, field, "not_a_choice", choices=choices)
    if len(text) > 1000:
        message = f"{definition.key} is longer than 1000 characters"
        raise _invalid(message, field, "too_long", max=1000)
    return {"value_text": text, "value_number": None, "value_date": None}


def set_attribute(
    session: Session,
    friend: Friend,
    key: str,
    raw: Any,
    *,
    source: str = "api",
    at: datetime | None = None,
) -> bool:
    """Set (or, with an empty value, clear) a typed attribute of the friend. True when the
    value changed (then friend.attribute_changed is published with the old and new value)."""
    definition = attribute_def(session, friend.account_id, key)
    values = parse_attribute(definition, raw)
    current = session.get(FriendAttribute, (friend.id, definition.id))
    old = (
        typed_value(definition.type, *(getattr(current, c) for c in VALUE_COLUMNS))
        if current
        else None
    )
    new = typed_value(definition.type, *(values[c] for c in VALUE_COLUMNS))
    if old == new:
        return False
    at = at or utcnow()
    if new is None:
        session.delete(current)
    elif current is None:
        session.add(
            FriendAttribute(
                friend_id=friend.id, attribute_def_id=definition.id, updated_at=at, **values
            )
        )
    else:
        for column, value in values.items():
            setattr(current, column, value)
        current.updated_at = at
    announce(
        session, friend, "friend.attribute_changed", at, key=key, old=old, new=new, source=source
    )
    return True


def friend_attributes(session: Session, friend_id: int) -> dict[str, Any]:
    rows = session.execute(
        select(
            AttributeDef.key,
            AttributeDef.type,
            FriendAttribute.value_text,
            FriendAttribute.value_number,
            FriendAttribute.value_date,
        )
        .join(FriendAttribute, FriendAttribute.attribute_def_id == AttributeDef.id)
        .where(FriendAttribute.friend_id == friend_id)
    )
    out: dict[str, Any] = {}
    for key, kind, text, number, day in rows:
        out[key] = number if kind == "number" else day.isoformat() if kind == "date" else text
    return out


# --- attribute definitions -----------------------------------------------------------------
def typed_value(kind: str, text: str | None, number: float | None, day: date | None) -> Any:
    """A stored value as JSON shows it: whole numbers as integers, dates as YYYY-MM-DD."""
    if kind == "number":
        return int(number) if number is not None and number.is_integer() else number
    if kind == "date":
        return day.isoformat() if day is not None else None
    return text


# --- one friend's edit: PATCH /friends/{id} and anything else that edits like it ---------------
def clean_tag_names(names: Any, field: str) -> list[str]:
    """Tag names as given, trimmed and de-duplicated; ';' is refused because CSV files list a
    friend's tags separated by it."""
    if not isinstance(names, list | tuple):
        raise ApiError(422, "invalid", "a list of tag names is expected", field)
    cleaned: list[str] = []
    for index, name in enumerate(names):
        text = name.strip() if isinstance(name, str) else ""
        if not text or len(text) > TAG_MAX:
            message = f"a tag name is 1-{TAG_MAX} characters"
            raise _invalid(message, f"{field}.{index}", "tag_length", max=TAG_MAX)
        if ";" in text:
            raise _invalid("a tag name cannot contain ';'", f"{field}.{index}", "tag_semicolon")
        if text not in cleaned:
            cleaned.append(text)
    return cleaned


def update_friend(
    session: Session,
    friend: Friend,
    *,
    attributes: dict[str, Any] | None = None,
    tags_add: list[str] = (),
    tags_remove: list[str] = (),
    notes: Any = UNCHANGED,
    source: str = "api",
    at: datetime | None = None,
    actor: Actor,
) -> list[dict[str, Any]]:
    """Set attributes (None clears one), add and remove tags, replace notes. Everything is
    checked before anything changes, so a bad value changes nothing (the first error names
    its field). Each real change is recorded as activity for the timeline; the changes are
    returned as [{"kind", **data}] and audited (no change: no entry)."""
    at = at or utcnow()
    parsed: list[tuple[AttributeDef, dict[str, Any]]] = []
    for key, raw in (attributes or {}).items():
        if isinstance(raw, bool | list | dict):
            raise ApiError(
                422, "invalid", f"{key} must be text, a number or a date", f"attributes.{key}"
            )
        definition = attribute_def(session, friend.account_id, key)
        parsed.append((definition, parse_attribute(definition, raw)))
    adding = clean_tag_names(list(tags_add), "tags_add")
    removing = clean_tag_names(list(tags_remove), "tags_remove")
    for index, name in enumerate(removing):
        if name in adding:
            raise ApiError(
                422, "invalid", f"tag {name!r} is both added and removed", f"tags_remove.{index}"
            )
    if (
        notes is not UNCHANGED
        and notes is not None
        and (not isinstance(notes, str) or len(notes) > NOTES_MAX)
    ):
        message = f"notes are text of at most {NOTES_MAX} characters"
        raise _invalid(message, "notes", "too_long", max=NOTES_MAX)
    changes: list[dict[str, Any]] = []

    def change(kind: str, **data: Any) -> None:
        record_activity(session, friend, kind, at, {**data, "source": source})
        changes.append({"kind": kind, **data})

    before = friend_attributes(session, friend.id)
    for definition, values in parsed:
        old = before.get(definition.key)
        old = int(old) if isinstance(old, float) and old.is_integer() else old
        new = typed_value(
            definition.type, values["value_text"], values["value_number"], values["value_date"]
        )
        if old != new:
            raw = {"number": values["value_number"], "date": values["value_date"]}.get(
                definition.type, values["value_text"]
            )
            set_attribute(session, friend, definition.key, raw, source=source, at=at)
            change("attribute_set", key=definition.key, old=old, new=new)
    for name in adding:
        if add_tag(session, friend, name, source=source, at=at):
            change("tag_added", tag=name)
    for name in removing:
        if remove_tag(session, friend, name, source=source, at=at):
            change("tag_removed", tag=name)
    if notes is not UNCHANGED and (notes or None) != friend.notes:
        friend.notes = notes or None
        change("notes_set", length=len(notes or ""))
    session.flush()
    if changes:
        record(
            session,
            actor=actor,
            action="friend.updated",
            account_id=friend.account_id,
            target=f"friend:{friend.id}",
            details={"line_user_id": friend.line_user_id, "changes": changes},
        )
    return changes


# --- tags ----------------------------------------------------------------------------------
def delete_tag(session: Session, account_id: int, name: str) -> int:
    """Delete a tag from the account and from every friend; each friend's timeline records
    the removal. How many friends had it."""
    tag = session.scalar(select(Tag).where(Tag.account_id == account_id, Tag.name == name))
    if tag is None:
        raise ApiError(404, "not_found", f"no tag named {name!r}", "name")
    data = {"tag": tag.name, "source": "tag_deleted"}
    now = utcnow()
    untagged = session.scalars(
        select(FriendTag.friend_id).where(FriendTag.tag_id == tag.id).order_by(FriendTag.friend_id)
    ).all()
    publish_many(
        session,
        [
            Event("friend.tag_removed", now, account_id=account_id, friend_id=f, payload=data)
            for f in untagged
        ],
    )
    session.execute(
        insert(FriendActivity).from_select(
            ["account_id", "friend_id", "kind", "at", "data"],
            select(
                literal(account_id),
                FriendTag.friend_id,
                literal("tag_removed"),
                literal(now, UTCDateTime()),
                literal(data, Json()),
            ).where(FriendTag.tag_id == tag.id),
        )
    )
    session.execute(delete(FriendTag).where(FriendTag.tag_id == tag.id))
    session.delete(tag)
    session.flush()
    return len(untagged)
