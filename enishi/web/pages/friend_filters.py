"""The friends list's filters, shared by the list and the CSV export of the same friends,
and the tag names the pages offer (names only: counting friends per tag is not needed)."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from enishi.friends.models import Tag
from enishi.friends.queries import STATUSES, FriendFilter


def list_filters(request: Request) -> FriendFilter:
    """The list's filters from the query string; values that are not filters are ignored."""
    params = request.query_params
    status = params.get("status") or None
    route = params.get("route_id", "")
    member = params.get("has_member", "")
    return FriendFilter(
        q=(params.get("q") or "").strip()[:200] or None,
        status=status if status in STATUSES else None,
        tag=(params.get("tag") or "").strip()[:100] or None,
        route_id=int(route) if route.isdigit() and len(route) < 16 else None,
        has_member={"yes": True, "no": False}.get(member),
    )


def tag_names(session: Session, account_id: int) -> list[str]:
    return list(
        session.scalars(select(Tag.name).where(Tag.account_id == account_id).order_by(Tag.name))
    )
