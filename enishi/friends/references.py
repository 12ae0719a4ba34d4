"""What a friend row points to in domains above friends — its inflow route, its member
link — read or written through functions those domains register (enishi/wiring.py), so
friends imports none of them."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

# (session, *, account_id, ids: route ids or None for all) -> {id: {"id", "code", "name"}}
RouteReader = Callable[..., dict[int, dict[str, Any]]]
# links member IDs for a CSV import: (session, *, conn, account_id, plans, now, activity:
# rows to add) -> the rows that failed, with why
MemberLinker = Callable[..., list]

_readers: dict[str, Any] = {}


def register(*, route_reader: RouteReader, member_linker: MemberLinker) -> None:
    _readers.update(route_reader=route_reader, member_linker=member_linker)


def _registered(name: str) -> Any:
    try:
        return _readers[name]
    except KeyError:
        raise RuntimeError(f"no {name} is registered: call enishi.wiring.wire()") from None


def routes(
    session: Session, account_id: int, ids: Collection[int] | None = None
) -> dict[int, dict[str, Any]]:
    return _registered("route_reader")(session, account_id=account_id, ids=ids)


def link_members(
    session: Session,
    conn: Connection,
    account_id: int,
    plans: list[Any],
    now: Any,
    activity: list[dict[str, Any]],
) -> list:
    return _registered("member_linker")(
        session, conn=conn, account_id=account_id, plans=plans, now=now, activity=activity
    )
