"""Friends as CSV, for marketers who work in Excel: the file's columns and the export.

UTF-8 with a BOM (so Excel shows Japanese correctly), streamed a chunk at a time. Cells that
Excel would run as formulas (=, +, -, @ …; display names come from strangers) are prefixed
with an apostrophe, which the import (csv_read.py) takes off again."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from enishi.audit.actor import Actor
from enishi.audit.service import record
from enishi.friends.attribute_defs import list_attribute_defs
from enishi.friends.models import AttributeDef
from enishi.friends.queries import (
    FriendFilter,
    attributes_of,
    filter_query,
    iter_friend_chunks,
    tags_of,
)
from enishi.friends.references import routes as routes_of

BASE_COLUMNS = ("line_user_id", "display_name", "status", "member_id", "tags", "notes")
READONLY_COLUMNS = ("inflow_route", "first_followed_at", "last_followed_at", "blocked_at")
READONLY_COLUMNS += ("last_click_at", "click_count", "last_purchase_at", "purchase_count")
READONLY_COLUMNS += ("revenue_jpy", "last_message_at")
ATTR_PREFIX = "attr:"
BOM = "\ufeff".encode()
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_TIMES = ("first_followed_at", "last_followed_at", "blocked_at", "last_click_at")
_TIMES += ("last_purchase_at", "last_message_at")


def guard(text: str | None) -> str:
    """Text as a cell Excel will not evaluate: a leading apostrophe before formula starts
    (and before a leading apostrophe, so the import can always take exactly one off)."""
    if not text:
        return ""
    return "'" + text if text.startswith(_FORMULA) or text.startswith("'") else text


def unguard(text: str) -> str:
    if text.startswith("'") and text[1:].startswith((*_FORMULA, "'")):
        return text[1:]
    return text


def export_header(defs: list[AttributeDef]) -> list[str]:
    return [*BASE_COLUMNS, *(ATTR_PREFIX + d.key for d in defs), *READONLY_COLUMNS]


def record_export(
    session: Session, *, actor: Actor, account_id: int, filters: FriendFilter
) -> None:
    """Audit an export before its first byte: the caller commits it at once, so the entry
    stands whether or not the download completes."""
    record(
        session,
        actor=actor,
        action="friends.exported",
        target=f"account:{account_id}",
        account_id=account_id,
        details={"filters": filter_query(filters)},
    )


def export_csv(
    session: Session,
    account_id: int,
    timezone: str,
    filters: FriendFilter,
    progress: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    """The CSV file as byte chunks (one per 2,000 friends); memory stays flat however many
    friends match. Times are in the account's timezone, as YYYY-MM-DD HH:MM:SS."""
    tz = ZoneInfo(timezone or "Asia/Tokyo")
    defs = list_attribute_defs(session, account_id)
    routes = {i: route["code"] for i, route in routes_of(session, account_id).items()}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(export_header(defs))
    yield BOM + buffer.getvalue().encode()

    def when(moment: datetime | None) -> str:
        return moment.astimezone(tz).isoformat(" ", "seconds")[:19] if moment else ""

    for rows, ids in iter_friend_chunks(session, account_id, filters):
        buffer.seek(0)
        buffer.truncate()
        tags, attrs = tags_of(session, ids), attributes_of(session, ids)
        for row in rows:
            values = attrs.get(row.id, {})
            times = [when(getattr(row, c)) for c in _TIMES]
            writer.writerow(
                [
                    row.line_user_id,
                    guard(row.display_name),
                    row.status,
                    guard(row.member_id),
                    guard(";".join(tags.get(row.id, []))),
                    guard(row.notes),
                    *(_attr_cell(d, values.get(d.key)) for d in defs),
                    routes.get(row.inflow_route_id, ""),
                    *times[:4],
                    row.click_count,
                    times[4],
                    row.purchase_count,
                    row.revenue_jpy,
                    times[5],
                ]
            )
        yield buffer.getvalue().encode()
        if progress is not None:
            progress(len(rows))


def _attr_cell(definition: AttributeDef, value: Any) -> str:
    if value is None:
        return ""
    return str(value) if definition.type in ("number", "date") else guard(str(value))
