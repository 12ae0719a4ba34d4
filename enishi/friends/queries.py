"""Reading friends: search and filters (shared by the list, the count and the CSV export),
a friend's full record, tags with their counts.

Lists page by id (keyset), never by OFFSET and never with a COUNT: a page costs the same on
the first and the ten-thousandth page of a million friends. Counting is its own request.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, false, func, select
from sqlalchemy.orm import Session

from enishi.friends.models import (
    AttributeDef,
    Friend,
    FriendAttribute,
    FriendTag,
    Tag,
)
from enishi.friends.references import routes
from enishi.friends.service import LINE_USER_ID, friend_tags, typed_value
from enishi.kit.errors import ApiError
from enishi.kit.pagination import decode_cursor, encode_cursor

STATUSES = ("following", "blocked", "unknown")


@dataclass(frozen=True)
class FriendFilter:
    """The filters of GET /friends, /friends/count and /friends/export.csv."""

    q: str | None = None
    status: str | None = None
    tag: str | None = None
    route_id: int | None = None
    has_member: bool | None = None


def filter_query(filters: FriendFilter) -> dict[str, str]:
    """The filters as query parameters (for the next page, the export link and
    the export's audit entry)."""
    values = {
        "q": filters.q,
        "status": filters.status,
        "tag": filters.tag,
        "route_id": filters.route_id,
        "has_member": {True: "yes", False: "no"}.get(filters.has_member),
    }
    return {k: str(v) for k, v in values.items() if v is not None}


def filter_conditions(
    session: Session, account_id: int, filters: FriendFilter
) -> list[ColumnElement[bool]]:
    """WHERE clauses for the filters. An unknown tag matches nobody (not an error: the list
    of a tag that nobody has yet is empty)."""
    conditions: list[ColumnElement[bool]] = [Friend.account_id == account_id]
    q = (filters.q or "").strip()
    if q:
        member = (
            None
            if LINE_USER_ID.match(q)
            else session.scalar(
                select(Friend.id).where(Friend.account_id == account_id, Friend.member_id == q)
            )
        )
        if LINE_USER_ID.match(q):  # an exact ID: one index lookup
            conditions.append(Friend.line_user_id == q)
        elif member is not None:  # an exact member ID wins over names that contain it
            conditions.append(Friend.id == member)
        elif q.lower() == q.upper():  # nothing to fold (Japanese, digits): plain LIKE is faster
            conditions.append(Friend.display_name.contains(q, autoescape=True))
        else:
            conditions.append(Friend.display_name.icontains(q, autoescape=True))
    if filters.status is not None:
        if filters.status not in STATUSES:
            raise ApiError(422, "invalid", f"status is one of {', '.join(STATUSES)}", "status")
        conditions.append(Friend.status == filters.status)
    if filters.tag is not None:
        tag_id = session.scalar(
            select(Tag.id).where(Tag.account_id == account_id, Tag.name == filters.tag.strip())
        )
        if tag_id is None:
            conditions.append(false())
        else:
            conditions.append(
                Friend.id.in_(select(FriendTag.friend_id).where(FriendTag.tag_id == tag_id))
            )
    if filters.route_id is not None:
        conditions.append(Friend.inflow_route_id == filters.route_id)
    if filters.has_member is not None:
        conditions.append(
            Friend.member_id.is_not(None) if filters.has_member else Friend.member_id.is_(None)
        )
    return conditions


def _after_id(cursor: str | None) -> int:
    value = decode_cursor(cursor)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ApiError(400, "invalid_cursor", "the cursor is not valid", "cursor")
    return value


def search_friends(
    session: Session, account_id: int, filters: FriendFilter, cursor: str | None, limit: int
) -> tuple[list[Friend], str | None]:
    """One page of friends in id order and the cursor of the next page (None at the end)."""
    after = _after_id(cursor)
    rows = list(
        session.scalars(
            select(Friend)
            .where(*filter_conditions(session, account_id, filters), Friend.id > after)
            .order_by(Friend.id)
            .limit(limit + 1)
        )
    )
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1].id)
    return rows, None


def count_friends(session: Session, account_id: int, filters: FriendFilter) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Friend)
            .where(*filter_conditions(session, account_id, filters))
        )
        or 0
    )


EXPORT_COLUMNS = (
    Friend.id,
    Friend.line_user_id,
    Friend.display_name,
    Friend.status,
    Friend.member_id,
    Friend.notes,
    Friend.inflow_route_id,
    Friend.first_followed_at,
    Friend.last_followed_at,
    Friend.blocked_at,
    Friend.last_click_at,
    Friend.click_count,
    Friend.last_purchase_at,
    Friend.purchase_count,
    Friend.revenue_jpy,
    Friend.last_message_at,
)


def iter_friend_chunks(
    session: Session, account_id: int, filters: FriendFilter, chunk: int = 2000
) -> Iterator[tuple[Sequence[Row[Any]], IdRange]]:
    """Every matching friend as plain rows (EXPORT_COLUMNS), a chunk at a time, so a million
    friends stream in constant memory. With each chunk, a SELECT of exactly its friend ids
    (the filters over the chunk's id range) to fetch its tags and attributes with: cheaper
    than binding thousands of ids."""
    conditions = filter_conditions(session, account_id, filters)
    after = 0
    while True:
        rows = (
            session.connection()
            .execute(  # Core rows: no ORM bookkeeping per row
                select(*EXPORT_COLUMNS)
                .where(*conditions, Friend.id > after)
                .order_by(Friend.id)
                .limit(chunk)
            )
            .all()
        )
        if not rows:
            return
        yield (
            rows,
            IdRange(
                rows[0].id,
                rows[-1].id,
                select(Friend.id).where(*conditions, Friend.id.between(rows[0].id, rows[-1].id)),
            ),
        )
        after = rows[-1].id
        if len(rows) < chunk:
            return


@dataclass(frozen=True)
class IdRange:
    """The ids of one chunk: within [first, last] (an index range on any friend_id key) and
    among `ids` (the chunk's filters)."""

    first: int
    last: int
    ids: Select


def _among(column: Any, friend_ids: Sequence[int] | IdRange) -> list[ColumnElement[bool]]:
    if isinstance(friend_ids, IdRange):
        return [column.between(friend_ids.first, friend_ids.last), column.in_(friend_ids.ids)]
    return [column.in_(friend_ids)]


def tags_of(session: Session, friend_ids: Sequence[int] | IdRange) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for friend_id, name in session.execute(
        select(FriendTag.friend_id, Tag.name)
        .join(Tag, Tag.id == FriendTag.tag_id)
        .where(*_among(FriendTag.friend_id, friend_ids))
        .order_by(FriendTag.friend_id, Tag.name)
    ):
        out.setdefault(friend_id, []).append(name)
    return out


def attributes_of(
    session: Session, friend_ids: Sequence[int] | IdRange
) -> dict[int, dict[str, Any]]:
    """friend id → {key: typed value} for many friends in one query."""
    out: dict[int, dict[str, Any]] = {}
    for friend_id, key, kind, text, number, day in session.execute(
        select(
            FriendAttribute.friend_id,
            AttributeDef.key,
            AttributeDef.type,
            FriendAttribute.value_text,
            FriendAttribute.value_number,
            FriendAttribute.value_date,
        )
        .join(AttributeDef, AttributeDef.id == FriendAttribute.attribute_def_id)
        .where(*_among(FriendAttribute.friend_id, friend_ids))
    ):
        out.setdefault(friend_id, {})[key] = typed_value(kind, text, number, day)
    return out


def friend_detail(session: Session, friend: Friend) -> dict[str, Any]:
    """Everything GET /friends/{line_user_id} shows."""
    route_id = friend.inflow_route_id
    route = routes(session, friend.account_id, [route_id]).get(route_id) if route_id else None
    return {
        **{
            column: getattr(friend, column)
            for column in (
                "id",
                "line_user_id",
                "display_name",
                "picture_url",
                "status_message",
                "language",
                "status",
                "member_id",
                "inflow_route_id",
                "first_followed_at",
                "last_followed_at",
                "blocked_at",
                "profile_fetched_at",
                "notes",
                "created_at",
            )
        },
        "inflow_route": route,
        "tags": friend_tags(session, friend.id),
        "attributes": attributes_of(session, [friend.id]).get(friend.id, {}),
        "rollups": {
            column: getattr(friend, column)
            for column in (
                "last_click_at",
                "click_count",
                "last_purchase_at",
                "purchase_count",
                "revenue_jpy",
                "last_message_at",
            )
        },
    }


def tag_counts(session: Session, account_id: int) -> list[dict[str, Any]]:
    """Every tag of the account with how many friends have it, by name."""
    counts = (
        select(FriendTag.tag_id, func.count().label("n"))
        .join(Tag, Tag.id == FriendTag.tag_id)
        .where(Tag.account_id == account_id)
        .group_by(FriendTag.tag_id)
        .subquery()
    )
    rows = session.execute(
        select(Tag.name, func.coalesce(counts.c.n, 0), Tag.created_at)
        .outerjoin(counts, counts.c.tag_id == Tag.id)
        .where(Tag.account_id == account_id)
        .order_by(Tag.name)
    )
    return [{"name": name, "friend_count": n, "created_at": created} for name, n, created in rows]
