"""Member IDs linked by a friends CSV import (friends calls this through
enishi.friends.references, registered in enishi/wiring.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from enishi.events.service import publish_many
from enishi.friends.csv_apply import Plan, Row, insert_rows, update_column
from enishi.friends.models import Friend
from enishi.kit.errors import ApiError
from enishi.members.models import MemberLink
from enishi.members.service import link_member, linked_event


def link_imported_members(
    session: Session,
    *,
    conn: Connection,
    account_id: int,
    plans: list[Plan],
    now,
    activity: list[dict[str, Any]],
) -> list[tuple[Row, ApiError]]:
    """Link member IDs as the members service does (a member_links row with method "import",
    so link history and daily link counts include imports; a "member_linked" activity and
    a member.linked event).
    A friend without a member ID yet — nearly every row of a big import — is linked with
    bulk statements (its member ID was checked free in this transaction; a racing link
    trips the unique constraint and the caller retries row by row); replacing a friend's
    member ID goes through the members service, which closes the old link."""
    failed: list[tuple[Row, ApiError]] = []
    fresh = [p for p in plans if p.member_id and not p.replaces_member]
    if fresh:
        update_column(
            conn, "member_id", [(p.friend_id, p.member_id) for p in fresh if not p.created]
        )
        insert_rows(
            conn,
            MemberLink.__table__,
            [
                {
                    "account_id": account_id,
                    "friend_id": p.friend_id,
                    "member_id": p.member_id,
                    "method": "import",
                    "linked_at": now,
                }
                for p in fresh
            ],
        )
        activity.extend(
            {
                "account_id": account_id,
                "friend_id": p.friend_id,
                "kind": "member_linked",
                "at": now,
                "data": {"member_id": p.member_id, "method": "import"},
            }
            for p in fresh
        )
        publish_many(
            session,
            [linked_event(account_id, p.friend_id, p.member_id, "import", now) for p in fresh],
        )
    for plan in plans:
        if plan.member_id and plan.replaces_member:
            friend = session.get(Friend, plan.friend_id)
            try:
                link_member(session, friend, plan.member_id, method="import", at=now)
            except ApiError as error:
                failed.append((plan.row, error))
    session.flush()
    return failed
