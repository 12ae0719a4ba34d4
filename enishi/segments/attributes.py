"""Attribute conditions, checked against the account's AttributeDef types.

number: eq ne gt gte lt lte in between (JSON numbers); date: the same with "YYYY-MM-DD";
text: eq ne in; choice: eq ne in with values from the definition's choices. Every
comparison matches only friends that have a value (so `ne` excludes the empty ones; use
`not` + `eq` to include them); `is_empty: true` matches friends without a value.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, false, not_

from enishi.friends.models import AttributeDef, Friend, FriendAttribute
from enishi.segments.language import Attribute

ORDERED = ("gt", "gte", "lt", "lte", "between")
OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in_", "between")


def _name(op: str) -> str:
    return "in" if op == "in_" else op


def _column(definition: AttributeDef):
    if definition.type == "number":
        return FriendAttribute.value_number
    if definition.type == "date":
        return FriendAttribute.value_date
    return FriendAttribute.value_text


def _typed(compiler, definition: AttributeDef, value: Any, path: str) -> Any:
    """The value as the attribute's type, or None after recording an error at `path`."""
    kind = definition.type
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            compiler.error(
                path, "type_mismatch", f"{definition.key} is a number attribute: give a number"
            )
            return None
        return float(value)
    if kind == "date":
        try:
            if not isinstance(value, str) or len(value) != 10:
                raise ValueError
            return date.fromisoformat(value)
        except ValueError:
            compiler.error(
                path, "type_mismatch", f"{definition.key} is a date attribute: give YYYY-MM-DD"
            )
            return None
    if not isinstance(value, str):
        compiler.error(
            path, "type_mismatch", f"{definition.key} is a {kind} attribute: give a string"
        )
        return None
    if kind == "choice" and value not in (definition.choices or []):
        compiler.error(
            path,
            "invalid_choice",
            f"{value!r} is not a choice of {definition.key}: {definition.choices}",
        )
        return None
    return value


def attribute_clause(
    compiler, definition: AttributeDef, node: Attribute, path: str
) -> ColumnElement[bool]:
    column = _column(definition)
    has_row = [
        FriendAttribute.friend_id == Friend.id,
        FriendAttribute.attribute_def_id == definition.id,
        column.is_not(None),
    ]
    if node.is_empty is not None:
        present = compiler.lookup(*has_row)
        return not_(present) if node.is_empty else present
    parts: list[ColumnElement[bool]] = []
    ok = True
    for op in OPS:
        raw = getattr(node, op)
        if raw is None:
            continue
        here = f"{path}.{_name(op)}"
        if op in ORDERED and definition.type in ("text", "choice"):
            compiler.error(
                here,
                "invalid_operator",
                f"{definition.key} is a {definition.type} "
                "attribute: compare it with eq, ne, in or is_empty",
            )
            ok = False
            continue
        if op in ("in_", "between"):
            values = [_typed(compiler, definition, v, f"{here}[{i}]") for i, v in enumerate(raw)]
            if any(v is None for v in values):
                ok = False
                continue
            if op == "in_":
                parts.append(column.in_(values))
            else:
                low, high = values
                if low > high:
                    compiler.error(here, "invalid", "between takes [low, high] with low <= high")
                    ok = False
                    continue
                parts.append(column.between(low, high))
            continue
        value = _typed(compiler, definition, raw, here)
        if value is None:
            ok = False
            continue
        parts.append(
            {
                "eq": column == value,
                "ne": column != value,
                "gt": column > value,
                "gte": column >= value,
                "lt": column < value,
                "lte": column <= value,
            }[op]
        )
    if not ok:
        return false()
    return compiler.lookup(*has_row, and_(*parts))
