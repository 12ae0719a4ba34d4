"""Member links in a friend's timeline, from member_links, the authoritative history
(registered in enishi/wiring.py)."""

from __future__ import annotations

from sqlalchemy import select

from enishi.friends.timeline import Source
from enishi.members.models import MemberLink

TIMELINE_SOURCES = (
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
