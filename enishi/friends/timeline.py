"""A friend's timeline: one newest-first stream merged from every table that records
something about them.

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

from enishi.delivery.models import Delivery, DeliveryRecipient
from enishi.friends.models import FollowHistory, Friend, FriendActivity
from enishi.kit.errors import ApiError
from enishi.kit.pagination import decode_cursor, encode_cursor
from enishi.members.models import MemberLink
from enishi.tracking.models import Click, Conversion, CustomEvent, Link

# The members service records links as activity too; the member_links table is the
# authoritative history, so those activity kinds are taken from it and not shown twice.
_LINK_ACTIVITY = ("member_linked", "member_unlinked")


@dataclass(frozen=True)
class Source:
    rank: int  # breaks ties between sources at the same instant; part of the cursor
    name: str
    at: Any  # the time column
    id: Any  # the unique id column
    query: Callable[[int], Select]  # friend id -> select(at, id, ...)
    item: Callable[[Any], tuple[str, dict[str, Any]]]  # row -> (kind, data)


SOURCES = (
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
    Source(
        3,
        "clicks",
        Click.clicked_at,
        Click.id,
        lambda fid: (
            select(
                Click.clicked_at.label("at"), Click.id, Click.link_id, Click.delivery_id, Link.url
            )
            .outerjoin(Link, Link.id == Click.link_id)
            .where(Click.friend_id == fid)
        ),
        lambda r: ("click", {"link_id": r.link_id, "url": r.url, "delivery_id": r.delivery_id}),
    ),
    Source(
        4,
        "conversions",
        Conversion.occurred_at,
        Conversion.id,
        lambda fid: select(
            Conversion.occurred_at.label("at"),
            Conversion.id,
            Conversion.order_id,
            Conversion.amount_jpy,
            Conversion.attributed_delivery_id,
        ).where(Conversion.friend_id == fid),
        lambda r: (
            "conversion",
            {
                "order_id": r.order_id,
                "amount_jpy": r.amount_jpy,
                "attributed_delivery_id": r.attributed_delivery_id,
            },
        ),
    ),
    Source(
        5,
        "custom_events",
        CustomEvent.occurred_at,
        CustomEvent.id,
        lambda fid: select(
            CustomEvent.occurred_at.label("at"),
            CustomEvent.id,
            CustomEvent.name,
            CustomEvent.event_id,
            CustomEvent.properties,
        ).where(CustomEvent.friend_id == fid),
        lambda r: (
            "event",
            {"name": r.name, "event_id": r.event_id, "properties": dict(r.properties or {})},
        ),
    ),
    Source(
        8,
        "delivery_recipients",
        DeliveryRecipient.sent_at,
        DeliveryRecipient.delivery_id,  # unique per friend: (delivery, friend) is the key
        lambda fid: (
            select(
                DeliveryRecipient.sent_at.label("at"),
                DeliveryRecipient.delivery_id.label("id"),
                DeliveryRecipient.arm,
                Delivery.name,
            )
            .join(Delivery, Delivery.id == DeliveryRecipient.delivery_id)
            .where(DeliveryRecipient.friend_id == fid, DeliveryRecipient.sent_at.is_not(None))
        ),
        lambda r: ("delivered", {"delivery_id": r.id, "name": r.name, "arm": r.arm}),
    ),
    # at one instant an unlink comes before a link (a member ID replaced): ranks 6 < 7
    Source(
        7,
        "member_links",
        MemberLink.linked_at,
        MemberLink.id,
        lambda fid: select(
            MemberLink.linked_at.label("at"), MemberLink.id, MemberLink.member_id, MemberLink.method
        ).where(MemberLink.friend_id == fid),
        lambda r: ("member_linked", {"member_id": r.member_id, "method": r.method}),
    ),
    Source(
        6,
        "member_links",
        MemberLink.unlinked_at,
        MemberLink.id,
        lambda fid: select(
            MemberLink.unlinked_at.label("at"),
            MemberLink.id,
            MemberLink.member_id,
            MemberLink.method,
            MemberLink.unlinked_by,
        ).where(MemberLink.friend_id == fid, MemberLink.unlinked_at.is_not(None)),
        lambda r: (
            "member_unlinked",
            {"member_id": r.member_id, "method": r.method, "reason": r.unlinked_by},
        ),
    ),
)


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
    for source in SOURCES:
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
