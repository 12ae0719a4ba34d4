"""Who a delivery targets: everyone following, a saved segment, an uploaded list, or one
friend (a test send). Blocked friends are never targeted; the audience is evaluated when
the delivery starts (a segment as of its start time), not when it is created."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from enishi.db.upsert import insert_ignore
from enishi.delivery.models import Delivery, DeliveryListMember
from enishi.friends.models import FOLLOWING, Friend
from enishi.kit.errors import ApiError
from enishi.messages.validation import Problem, Problems
from enishi.segments.compiler import audience_clause
from enishi.segments.models import Segment

TYPES = ("all", "segment", "list", "friend")
LIST_MAX = 500_000  # IDs per upload call; a list can be uploaded in several calls
LINE_USER_ID = re.compile(r"^U[0-9a-f]{32}$")


def check_audience(session: Session, account_id: int, raw: Any) -> tuple[dict, Problems]:
    """The audience as stored, and problems. Lists keep only a summary here: their friends
    go to delivery_list_members (`add_list`)."""
    if not isinstance(raw, dict) or raw.get("type") not in TYPES:
        choices = ", ".join(TYPES)
        return {}, [
            Problem("audience.type", f"must be one of {choices}", "one_of", {"choices": choices})
        ]
    kind = raw["type"]
    if kind == "all":
        return {"type": "all"}, []
    if kind == "segment":
        segment_id = raw.get("segment_id")
        segment = session.get(Segment, segment_id) if isinstance(segment_id, int) else None
        if segment is None or segment.account_id != account_id:
            return {}, [
                Problem("audience.segment_id", "no such segment in this account", "no_segment")
            ]
        return {"type": "segment", "segment_id": segment.id, "segment_name": segment.name}, []
    if kind == "list":
        id_type = "member_id" if "member_ids" in raw else "line_user_id"
        ids = raw.get(f"{id_type}s")
        if not isinstance(ids, list) or not ids:
            return {}, [
                Problem(
                    "audience.line_user_ids",
                    "give line_user_ids or member_ids (a list)",
                    "list_empty",
                )
            ]
        return {"type": "list", "id_type": id_type, "uploaded": 0, "matched": 0}, []
    friend = _one_friend(session, account_id, raw)
    if friend is None:
        return {}, [
            Problem(
                "audience.line_user_id",
                "no friend of this account with that LINE user "
                "ID (a test send goes to a friend who follows the account)",
                "no_friend",
            )
        ]
    out = {"type": "friend", "friend_id": friend.id, "line_user_id": friend.line_user_id}
    if raw.get("arm") is not None:
        out["arm"] = raw["arm"]
    return out, []


def _one_friend(session: Session, account_id: int, raw: dict) -> Friend | None:
    if isinstance(raw.get("friend_id"), int):
        friend = session.get(Friend, raw["friend_id"])
        return friend if friend is not None and friend.account_id == account_id else None
    user_id = raw.get("line_user_id")
    if not isinstance(user_id, str):
        return None
    return session.scalar(
        select(Friend).where(Friend.account_id == account_id, Friend.line_user_id == user_id)
    )


def add_list(session: Session, delivery: Delivery, id_type: str, ids: list[Any]) -> dict:
    """Resolve uploaded IDs to friends of the account and add them to the delivery's list;
    returns {uploaded, matched, unmatched, unmatched_sample}."""
    if id_type not in ("line_user_id", "member_id"):
        raise ApiError(422, "invalid", "id_type must be line_user_id or member_id", "id_type")
    if len(ids) > LIST_MAX:
        raise ApiError(
            413,
            "too_large",
            f"upload at most {LIST_MAX:,} IDs per call",
            "ids",
            reason="list_too_large",
            params={"max": LIST_MAX},
        )
    wanted = list(dict.fromkeys(str(i).strip() for i in ids if isinstance(i, str | int)))
    if id_type == "line_user_id":
        bad = [i for i in wanted if not LINE_USER_ID.match(i)]
        if bad:
            raise ApiError(
                422,
                "invalid",
                f"not a LINE user ID (U + 32 hex): {bad[0]!r}",
                "line_user_ids",
                reason="not_line_user_id",
                params={"value": bad[0]},
            )
    column = Friend.line_user_id if id_type == "line_user_id" else Friend.member_id
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 1000):
        part = wanted[start : start + 1000]
        found.update(
            session.execute(
                select(column, Friend.id).where(
                    Friend.account_id == delivery.account_id, column.in_(part)
                )
            ).all()
        )
    conn = session.connection()
    rows = [{"delivery_id": delivery.id, "friend_id": fid} for fid in found.values()]
    for start in range(0, len(rows), 5000):
        insert_ignore(
            conn,
            DeliveryListMember.__table__,
            rows[start : start + 5000],
            ["delivery_id", "friend_id"],
        )
    unmatched = [i for i in wanted if i not in found]
    matched = (
        session.scalar(select(func.count()).where(DeliveryListMember.delivery_id == delivery.id))
        or 0
    )
    delivery.audience = {
        **delivery.audience,
        "id_type": id_type,
        "uploaded": int(delivery.audience.get("uploaded", 0)) + len(wanted),
        "matched": matched,
    }
    return {
        "uploaded": len(wanted),
        "matched": len(found),
        "unmatched": len(unmatched),
        "unmatched_sample": unmatched[:20],
    }


def audience_filter(session: Session, delivery: Delivery, now: datetime) -> ColumnElement[bool]:
    """The condition over `friends` that selects the delivery's audience (following only)."""
    audience = delivery.audience
    base = (Friend.account_id == delivery.account_id) & (Friend.status == FOLLOWING)
    kind = audience.get("type")
    if kind == "all":
        return base
    if kind == "segment":
        segment = session.get(Segment, audience.get("segment_id"))
        if segment is None or segment.account_id != delivery.account_id:
            raise ApiError(409, "segment_gone", "the delivery's segment was deleted")
        # the segment language's own "what a send targets" (following friends only)
        return audience_clause(session, delivery.account_id, segment.definition, now=now)
    if kind == "list":
        members = select(DeliveryListMember.friend_id).where(
            DeliveryListMember.delivery_id == delivery.id
        )
        return base & Friend.id.in_(members.scalar_subquery())
    if kind == "friend":
        return base & (Friend.id == audience.get("friend_id"))
    raise ApiError(409, "invalid", f"unknown audience type {kind!r}")


def audience_select(session: Session, delivery: Delivery, now: datetime, *columns: Any) -> Select:
    """SELECT `columns` (default: friends.id) of the audience, in friend-id order."""
    return (
        select(*(columns or (Friend.id,)))
        .where(audience_filter(session, delivery, now))
        .order_by(Friend.id)
    )


def audience_count(session: Session, delivery: Delivery, now: datetime) -> int:
    where = audience_filter(session, delivery, now)
    return session.scalar(select(func.count()).select_from(Friend).where(where)) or 0
