"""A friend's timeline: one newest-first stream merged from every table that records
something about them. Friends' own tables are sources here; the domains above friends
register theirs (tracking, members, delivery: their timeline.py, via enishi/wiring.py).

Each source is read through its (friend_id, time) index, at most `limit + 1` rows past the
cursor, and the sources are merged in Python. The order is the total order
(time, source rank, row id) descending, and the cursor is the key of the last entry shown, so
entries with equal times — even across tables — are neither repeated nor skipped between
pages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select, true
from sqlalchemy.orm import Session

from enishi.friends.models import FollowHistory, Friend, FriendActivity
from enishi.kit.errors import ApiError
from enishi.kit.pagination import decode_cursor, encode_cursor

# The members service records links as activity too; the member_links table (members'
# timeline source) is the authoritative history, so those kinds are not shown twice.
_LINK_ACTIVITY = ("member_linked", "member_unlinked")


@dataclass(frozen=True)
class Source:
    rank: int  # breaks ties between sources at the same instant; part of the cursor
    name: str
    at: Any  # the time column
    id: Any  # the unique id column
    query: Callable[[int], Select]  # friend id -> select(at, id, ...)
    item: Callable[[Any], tuple[str, dict[str, Any]]]  # row -> (kind, data)


_sources: dict[tuple[str, int], Source] = {}


def register_source(source: Source) -> None:
    """Add a table to every friend's timeline (enishi/wiring.py registers each domain's);
    ranks are unique, as the cursor names a source by its rank."""
    taken = next((s for s in _sources.values() if s.rank == source.rank), None)
    if taken is not None and taken != source:
        raise ValueError(f"timeline rank {source.rank} is taken by {taken.name}")
    _sources[(source.name, source.rank)] = source


FRIEND_SOURCES = (
    Source(
        1,
        "follow_history",
        FollowHistory.at,
        FollowHistory.id,
        lambda fid: select(FollowHistory.at, FollowHistory.id, FollowHistory.kind).where(
            FollowHistory.friend_id == fid
        ),
        lambda r: (r.kind, {}),
    ),
    Source(
        2,
        "friend_activity",
        FriendActivity.at,
        FriendActivity.id,
        lambda fid: select(
            FriendActivity.at, FriendActivity.id, FriendActivity.kind, FriendActivity.data
        ).where(FriendActivity.friend_id == fid, FriendActivity.kind.not_in(_LINK_ACTIVITY)),
        lambda r: (r.kind, dict(r.data or {})),
    ),
)
for _source in FRIEND_SOURCES:
    register_source(_source)


def _decode(cursor: str | None) -> tuple[datetime, int, int] | None:
    value = decode_cursor(cursor)
    if value is None:
        return None
    try:
        at, rank, row_id = value
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None or not isinstance(rank, int) or not isinstance(row_id, int):
            raise ValueError
    except (TypeError, ValueError):
        raise ApiError(400, "invalid_cursor", "the cursor is not valid", "cursor") from None
    return moment, rank, row_id


def _before(source: Source, cursor: tuple[datetime, int, int] | None) -> ColumnElement[bool]:
    """Rows whose key (at, rank, id) sorts after the cursor in the newest-first order."""
    if cursor is None:
        return true()
    at, rank, row_id = cursor
    if source.rank < rank:
        return source.at <= at
    if source.rank > rank:
        return source.at < at
    return or_(source.at < at, and_(source.at == at, source.id < row_id))


def timeline(
    session: Session, friend: Friend, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the friend's timeline, newest first, and the next page's cursor."""
    position = _decode(cursor)
    entries: list[tuple[tuple[datetime, int, int], dict[str, Any]]] = []
    for source in _sources.values():
        rows = session.execute(
            source.query(friend.id)
            .where(_before(source, position))
            .order_by(source.at.desc(), source.id.desc())
            .limit(limit + 1)
        )
        for row in rows:
            kind, data = source.item(row)
            entries.append(
                (
                    (row.at, source.rank, row.id),
                    {"kind": kind, "at": row.at, "source": source.name, "id": row.id, "data": data},
                )
            )
    entries.sort(key=lambda entry: entry[0], reverse=True)
    page = entries[:limit]
    if len(entries) <= limit:
        return [item for _, item in page], None
    at, rank, row_id = page[-1][0]
    return [item for _, item in page], encode_cursor([at.isoformat(), rank, row_id])
