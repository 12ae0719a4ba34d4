"""Attribute definitions: the typed custom fields an account keeps on its friends (text,
number, date, choice), created, changed and deleted with every friend's value."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from enishi.db.base import utcnow
from enishi.events.service import Event, publish_many
from enishi.friends.models import AttributeDef, FriendAttribute
from enishi.friends.service import ATTRIBUTE_TYPES, VALUE_COLUMNS, typed_value
from enishi.kit.errors import ApiError

ATTRIBUTE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
CHOICE_MAX, CHOICES_MAX = 200, 200


def list_attribute_defs(session: Session, account_id: int) -> list[AttributeDef]:
    return list(
        session.scalars(
            select(AttributeDef)
            .where(AttributeDef.account_id == account_id)
            .order_by(AttributeDef.key)
        )
    )


def find_attribute_def(session: Session, account_id: int, key: str) -> AttributeDef:
    """The definition for the REST resource /attributes/{key}: 404 when there is none."""
    definition = session.scalar(
        select(AttributeDef).where(AttributeDef.account_id == account_id, AttributeDef.key == key)
    )
    if definition is None:
        raise ApiError(404, "not_found", f"no attribute is defined with key {key!r}", "key")
    return definition


def _clean_choices(kind: str, choices: list[Any] | None) -> list[str] | None:
    if kind not in ATTRIBUTE_TYPES:
        raise ApiError(422, "invalid", f"type must be one of {', '.join(ATTRIBUTE_TYPES)}", "type")
    if kind != "choice":
        if choices:
            raise ApiError(
                422, "invalid", "choices are only for attributes of type choice", "choices"
            )
        return None
    if not choices:
        raise ApiError(422, "invalid", "an attribute of type choice needs its choices", "choices")
    if len(choices) > CHOICES_MAX:
        raise ApiError(422, "invalid", f"at most {CHOICES_MAX} choices", "choices")
    cleaned: list[str] = []
    for index, choice in enumerate(choices):
        text = choice.strip() if isinstance(choice, str) else ""
        if not text or len(text) > CHOICE_MAX:
            raise ApiError(
                422, "invalid", f"a choice is 1-{CHOICE_MAX} characters of text", f"choices.{index}"
            )
        if text in cleaned:
            raise ApiError(422, "invalid", f"choice {text!r} is listed twice", f"choices.{index}")
        cleaned.append(text)
    return cleaned


def _clean_label(label: Any) -> str:
    text = label.strip() if isinstance(label, str) else ""
    if not text or len(text) > 200:
        raise ApiError(422, "invalid", "a label is 1-200 characters", "label")
    return text


def create_attribute_def(
    session: Session,
    account_id: int,
    *,
    key: str,
    label: str,
    type: str,
    choices: list[str] | None = None,
) -> AttributeDef:
    if not isinstance(key, str) or not ATTRIBUTE_KEY.match(key):
        raise ApiError(
            422, "invalid", "a key is a lowercase letter then up to 63 of a-z, 0-9, _", "key"
        )
    label = _clean_label(label)
    cleaned = _clean_choices(type, choices)
    if session.scalar(
        select(AttributeDef.id).where(
            AttributeDef.account_id == account_id, AttributeDef.key == key
        )
    ):
        raise ApiError(409, "conflict", f"an attribute with key {key!r} exists already", "key")
    definition = AttributeDef(
        account_id=account_id, key=key, label=label, type=type, choices=cleaned, created_at=utcnow()
    )
    session.add(definition)
    session.flush()
    return definition


def attribute_value_count(session: Session, definition_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(FriendAttribute)
            .where(FriendAttribute.attribute_def_id == definition_id)
        )
        or 0
    )


def update_attribute_def(
    session: Session,
    account_id: int,
    key: str,
    *,
    label: str | None = None,
    type: str | None = None,
    choices: list[str] | None = None,
) -> AttributeDef:
    """Change a definition's label, type or choices. Friends' values are never converted or
    dropped silently: a type change is refused while values exist, and so is removing a
    choice that friends hold."""
    definition = find_attribute_def(session, account_id, key)
    new_type = type or definition.type
    if new_type != definition.type:
        held = attribute_value_count(session, definition.id)
        if held:
            raise ApiError(
                409,
                "type_change_refused",
                f"{key} has values for {held} friend(s); its type cannot change "
                f"from {definition.type} to {new_type}. Clear those values or "
                "define a new attribute instead",
                "type",
            )
    if choices is None and new_type == "choice" and definition.type == "choice":
        choices = definition.choices
    cleaned = _clean_choices(new_type, choices)
    if cleaned is not None and definition.type == "choice":
        in_use = sorted(
            set(
                session.scalars(
                    select(FriendAttribute.value_text).where(
                        FriendAttribute.attribute_def_id == definition.id,
                        FriendAttribute.value_text.not_in(cleaned),
                    )
                )
            )
        )
        if in_use:
            raise ApiError(
                409,
                "choices_in_use",
                f"friends hold {key} = {', '.join(map(repr, in_use[:10]))}; keep "
                "those choices or change the friends' values first",
                "choices",
            )
    if label is not None:
        definition.label = _clean_label(label)
    definition.type, definition.choices = new_type, cleaned
    session.flush()
    return definition


def delete_attribute_def(session: Session, account_id: int, key: str) -> int:
    """Delete a definition and every friend's value of it (each friend's value changes to
    none: friend.attribute_changed); how many values went with it."""
    definition = find_attribute_def(session, account_id, key)
    held = session.execute(
        select(FriendAttribute.friend_id, *(getattr(FriendAttribute, c) for c in VALUE_COLUMNS))
        .where(FriendAttribute.attribute_def_id == definition.id)
        .order_by(FriendAttribute.friend_id)
    ).all()
    now = utcnow()
    publish_many(
        session,
        [
            Event(
                "friend.attribute_changed",
                now,
                account_id=account_id,
                friend_id=friend_id,
                payload={
                    "key": key,
                    "old": typed_value(definition.type, *stored),
                    "new": None,
                    "source": "attribute_deleted",
                },
            )
            for friend_id, *stored in held
        ],
    )
    session.execute(
        delete(FriendAttribute).where(FriendAttribute.attribute_def_id == definition.id)
    )
    session.delete(definition)
    session.flush()
    return len(held)
