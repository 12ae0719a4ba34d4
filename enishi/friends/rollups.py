"""Friend rollups rebuilt from the event log, and checked against it.

The writers of clicks, conversions and messages keep the rollups up to date as they go (the
tables above friends register theirs: tracking/rollups.py); this
is the ground truth they can be repaired from. Everything is set-based SQL that reads the
same on SQLite (3.33+, UPDATE ... FROM) and PostgreSQL, so a million friends take seconds,
not a Python loop: per rollup, one UPDATE ... FROM an aggregate subquery sets the friends
that have events, and one UPDATE resets those that have none. Rows already right are not
rewritten (no table bloat on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, cast, exists, func, or_, select, update
from sqlalchemy.orm import Session

from enishi.friends.models import Friend, FriendActivity


@dataclass(frozen=True)
class Rollup:
    """Friend columns derived from one event table: `last` is max(time), `count` count(*),
    `total` sum(amount)."""

    name: str
    table: Any
    time: Any
    last: str
    count: str | None = None
    total: tuple[str, Any] | None = None  # (friend column, amount column)
    where: tuple[Any, ...] = ()


_rollups: dict[str, Rollup] = {}


def register_rollup(rollup: Rollup) -> None:
    """Derive friend columns from a table of a domain above friends (enishi/wiring.py)."""
    _rollups[rollup.name] = rollup


register_rollup(
    Rollup(
        "messages",
        FriendActivity,
        FriendActivity.at,
        "last_message_at",
        where=(FriendActivity.kind == "message",),
    )
)


@dataclass(frozen=True)
class RollupMismatch:
    friend_id: int
    line_user_id: str
    field: str
    stored: Any
    expected: Any


def _aggregate(rollup: Rollup, account_id: int, friend_ids: Sequence[int] | None):
    table = rollup.table
    columns = [table.friend_id.label("friend_id"), func.max(rollup.time).label("last")]
    if rollup.count:
        columns.append(func.count().label("n"))
    if rollup.total:
        columns.append(cast(func.sum(rollup.total[1]), BigInteger).label("total"))
    query = select(*columns).where(
        table.account_id == account_id, table.friend_id.is_not(None), *rollup.where
    )
    if friend_ids is not None:
        query = query.where(table.friend_id.in_(friend_ids))
    return query.group_by(table.friend_id).subquery()


def _pairs(rollup: Rollup, agg) -> list[tuple[str, Any, Any]]:
    """(friend column, expected value, value when the friend has no events)."""
    pairs = [(rollup.last, agg.c.last, None)]
    if rollup.count:
        pairs.append((rollup.count, agg.c.n, 0))
    if rollup.total:
        pairs.append((rollup.total[0], agg.c.total, 0))
    return pairs


def _rebuild_one(
    session: Session, account_id: int, rollup: Rollup, friend_ids: Sequence[int] | None
) -> int:
    scope = [Friend.account_id == account_id]
    if friend_ids is not None:
        scope.append(Friend.id.in_(friend_ids))
    agg = _aggregate(rollup, account_id, friend_ids)
    pairs = _pairs(rollup, agg)
    changed = session.execute(
        update(Friend)
        .where(
            *scope,
            Friend.id == agg.c.friend_id,
            or_(*(getattr(Friend, col).is_distinct_from(value) for col, value, _ in pairs)),
        )
        .values({col: value for col, value, _ in pairs})
        .execution_options(synchronize_session=False)
    ).rowcount
    table = rollup.table
    none = ~exists().where(
        table.friend_id == Friend.id, table.account_id == account_id, *rollup.where
    )
    stale = [
        getattr(Friend, col).is_distinct_from(empty)
        if empty is None
        else getattr(Friend, col) != empty
        for col, _, empty in pairs
    ]
    changed += session.execute(
        update(Friend)
        .where(*scope, none, or_(*stale))
        .values({col: empty for col, _, empty in pairs})
        .execution_options(synchronize_session=False)
    ).rowcount
    return changed


def _chunks(ids: Iterable[int], size: int = 1000) -> Iterable[list[int]]:
    batch: list[int] = []
    for friend_id in ids:
        batch.append(friend_id)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def rebuild_rollups(
    session: Session, account_id: int, friend_ids: Iterable[int] | None = None
) -> int:
    """Recompute the rollups of the account's friends (or only of `friend_ids`) from clicks,
    conversions and message activity. Returns how many friend rows were corrected, counted
    once per rollup group (clicks, purchases, messages) that was wrong. Never commits."""
    scopes: Iterable[Sequence[int] | None] = [None] if friend_ids is None else _chunks(friend_ids)
    changed = 0
    for scope in scopes:
        for rollup in _rollups.values():
            changed += _rebuild_one(session, account_id, rollup, scope)
    session.expire_all()  # ORM objects loaded before now hold the old values
    return changed


def check_rollups(session: Session, account_id: int) -> list[RollupMismatch]:
    """Every rollup value that differs from what the event log says, friend by friend."""
    query = select(Friend.id, Friend.line_user_id)
    expected: list[tuple[str, Any]] = []
    differs = []
    for rollup in _rollups.values():
        agg = _aggregate(rollup, account_id, None)
        query = query.outerjoin(agg, agg.c.friend_id == Friend.id)
        for col, value, empty in _pairs(rollup, agg):
            value = value if empty is None else func.coalesce(value, empty)
            expected.append((col, value))
            query = query.add_columns(getattr(Friend, col), value.label(f"expected_{col}"))
            differs.append(getattr(Friend, col).is_distinct_from(value))
    rows = session.execute(
        query.where(Friend.account_id == account_id, or_(*differs)).order_by(Friend.id)
    )
    mismatches: list[RollupMismatch] = []
    for row in rows:
        values = row._mapping
        for col, _ in expected:
            stored, want = values[col], values[f"expected_{col}"]
            if stored != want:
                mismatches.append(RollupMismatch(row.id, row.line_user_id, col, stored, want))
    return mismatches
