"""Friends: finding or creating them, tags, typed attributes, activity. Services never
commit; the caller's transaction (a request, a worker batch) does."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from enishi.db.base import utcnow
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
TAG_MAX = 100


def get_friend(session: Session, account_id: int, line_user_id: str) -> Friend | None:
    return session.scalar(
        select(Friend).where(Friend.account_id == account_id,
                             Friend.line_user_id == line_user_id)
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


def record_activity(session: Session, friend: Friend, kind: str, at: datetime,
                    data: dict[str, Any] | None = None) -> FriendActivity:
    activity = FriendActivity(account_id=friend.account_id, friend_id=friend.id, kind=kind,
                              at=at, data=data or {})
    session.add(activity)
    return activity


# --- tags ----------------------------------------------------------------------------------
def get_or_create_tag(session: Session, account_id: int, name: str) -> Tag:
    name = name.strip()
    if not name or len(name) > TAG_MAX:
        raise ApiError(422, "invalid", f"a tag name is 1-{TAG_MAX} characters", "tag")
    tag = session.scalar(select(Tag).where(Tag.account_id == account_id, Tag.name == name))
    if tag is None:
        tag = Tag(account_id=account_id, name=name)
        session.add(tag)
        session.flush()
    return tag


def add_tag(session: Session, friend: Friend, name: str) -> bool:
    """True when the friend did not have the tag before."""
    tag = get_or_create_tag(session, friend.account_id, name)
    if session.get(FriendTag, (friend.id, tag.id)) is not None:
        return False
    session.add(FriendTag(friend_id=friend.id, tag_id=tag.id, tagged_at=utcnow()))
    return True


def remove_tag(session: Session, friend: Friend, name: str) -> bool:
    tag = session.scalar(select(Tag).where(Tag.account_id == friend.account_id,
                                           Tag.name == name.strip()))
    if tag is None:
        return False
    result = session.execute(delete(FriendTag).where(FriendTag.friend_id == friend.id,
                                                     FriendTag.tag_id == tag.id))
    return bool(result.rowcount)


def friend_tags(session: Session, friend_id: int) -> list[str]:
    return list(session.scalars(
        select(Tag.name).join(FriendTag, FriendTag.tag_id == Tag.id)
        .where(FriendTag.friend_id == friend_id).order_by(Tag.name)
    ))


# --- typed attributes ----------------------------------------------------------------------
def attribute_def(session: Session, account_id: int, key: str) -> AttributeDef:
    definition = session.scalar(select(AttributeDef).where(AttributeDef.account_id == account_id,
                                                           AttributeDef.key == key))
    if definition is None:
        raise ApiError(422, "unknown_attribute", f"no attribute is defined with key {key!r}",
                       f"attributes.{key}")
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
            raise ApiError(422, "invalid", f"{definition.key} must be a number", field) from None
        return {"value_text": None, "value_number": number, "value_date": None}
    if definition.type == "date":
        try:
            value = raw if isinstance(raw, date) else date.fromisoformat(str(raw).strip())
        except ValueError:
            raise ApiError(422, "invalid", f"{definition.key} must be a date (YYYY-MM-DD)",
                           field) from None
        return {"value_text": None, "value_number": None, "value_date": value}
    text = str(raw).strip()
    if definition.type == "choice" and text not in (definition.choices or []):
        raise ApiError(422, "invalid",
                       f"{definition.key} must be one of {definition.choices}", field)
    if len(text) > 1000:
        raise ApiError(422, "invalid", f"{definition.key} is longer than 1000 characters", field)
    return {"value_text": text, "value_number": None, "value_date": None}


def set_attribute(session: Session, friend: Friend, key: str, raw: Any) -> None:
    """Set (or, with an empty value, clear) a typed attribute of the friend."""
    definition = attribute_def(session, friend.account_id, key)
    values = parse_attribute(definition, raw)
    current = session.get(FriendAttribute, (friend.id, definition.id))
    if all(v is None for v in values.values()):
        if current is not None:
            session.delete(current)
        return
    if current is None:
        session.add(FriendAttribute(friend_id=friend.id, attribute_def_id=definition.id,
                                    updated_at=utcnow(), **values))
    else:
        for column, value in values.items():
            setattr(current, column, value)
        current.updated_at = utcnow()


def friend_attributes(session: Session, friend_id: int) -> dict[str, Any]:
    rows = session.execute(
        select(AttributeDef.key, AttributeDef.type, FriendAttribute.value_text,
               FriendAttribute.value_number, FriendAttribute.value_date)
        .join(FriendAttribute, FriendAttribute.attribute_def_id == AttributeDef.id)
        .where(FriendAttribute.friend_id == friend_id)
    )
    out: dict[str, Any] = {}
    for key, kind, text, number, day in rows:
        out[key] = number if kind == "number" else day.isoformat() if kind == "date" else text
    return out
