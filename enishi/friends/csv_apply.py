"""The writing half of the CSV import: what each row would change, computed for a chunk of
rows with a handful of queries, and written with bulk statements (a few per chunk, not per
row). Every real change is recorded as friend activity, as a PATCH would record it, and
published as a domain event (one per friend and change, stored by one multi-row insert)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from enishi.db.base import utcnow
from enishi.events.service import Event, publish_many
from enishi.friends.models import (
    UNKNOWN,
    AttributeDef,
    Friend,
    FriendActivity,
    FriendAttribute,
    FriendTag,
    Tag,
)
from enishi.friends.queries import tags_of
from enishi.friends.references import link_members
from enishi.friends.service import typed_value
from enishi.kit.errors import ApiError

UNSET: Any = object()
# the activity kinds that are also domain events (a new friend's are published too)
PUBLISHED = {
    "tag_added": "friend.tag_added",
    "tag_removed": "friend.tag_removed",
    "attribute_set": "friend.attribute_changed",
}
_VALUES = ("value_text", "value_number", "value_date")


@dataclass(eq=False)
class Row:
    """One valid data row. None / UNSET mean "leave as it is"; tags and attributes, when
    their column is present, are the friend's whole set of them."""

    row: int
    line_user_id: str
    display_name: str | None = None
    member_id: str | None = None
    tags: list[str] | None = None
    notes: Any = UNSET
    attributes: list[tuple[AttributeDef, dict[str, Any]]] = field(default_factory=list)


@dataclass(eq=False)
class Plan:
    row: Row
    friend_id: int | None
    created: bool
    display_name: str | None = None
    member_id: str | None = None  # to link
    replaces_member: bool = False  # the friend has another member ID now
    notes: Any = UNSET
    tags_add: list[str] = field(default_factory=list)
    tags_remove: list[str] = field(default_factory=list)
    # (definition, new value columns or None to clear, old value columns or None)
    attributes: list[tuple[AttributeDef, tuple | None, tuple | None]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.created
            or self.display_name
            or self.member_id
            or self.tags_add
            or self.tags_remove
            or self.attributes
            or self.notes is not UNSET
        )


def _plans(
    session: Session, account_id: int, rows: list[Row]
) -> tuple[list[Plan], list[tuple[Row, ApiError]]]:
    """What each row changes, and the rows whose member ID another friend holds."""
    friends = {
        f.line_user_id: f
        for f in session.execute(
            select(
                Friend.id, Friend.line_user_id, Friend.display_name, Friend.member_id, Friend.notes
            ).where(
                Friend.account_id == account_id,
                Friend.line_user_id.in_([r.line_user_id for r in rows]),
            )
        )
    }
    wanted = [r.member_id for r in rows if r.member_id]
    holders = (
        dict(
            session.execute(
                select(Friend.member_id, Friend.line_user_id).where(
                    Friend.account_id == account_id, Friend.member_id.in_(wanted)
                )
            ).all()
        )
        if wanted
        else {}
    )
    ids = [f.id for f in friends.values()]
    tags = tags_of(session, ids) if ids else {}
    values: dict[tuple[int, int], tuple] = {}
    if ids and any(r.attributes for r in rows):
        for friend_id, def_id, *stored in session.execute(
            select(
                FriendAttribute.friend_id,
                FriendAttribute.attribute_def_id,
                *(getattr(FriendAttribute, c) for c in _VALUES),
            ).where(FriendAttribute.friend_id.in_(ids))
        ):
            values[(friend_id, def_id)] = tuple(stored)
    plans: list[Plan] = []
    conflicts: list[tuple[Row, ApiError]] = []
    for row in rows:
        holder = holders.get(row.member_id) if row.member_id else None
        if holder is not None and holder != row.line_user_id:
            conflicts.append(
                (
                    row,
                    ApiError(
                        409,
                        "conflict",
                        f"member ID {row.member_id} is linked to {holder} already "
                        "(a member ID is one friend's)",
                        "member_id",
                        reason="member_id_taken",
                        params={"member_id": row.member_id, "holder": holder},
                    ),
                )
            )
            continue
        friend = friends.get(row.line_user_id)
        plan = Plan(row, friend.id if friend else None, created=friend is None)
        if row.display_name and (friend is None or not friend.display_name):
            plan.display_name = row.display_name
        if row.member_id and (friend is None or friend.member_id != row.member_id):
            plan.member_id = row.member_id
            plan.replaces_member = bool(friend and friend.member_id)
        if row.notes is not UNSET and row.notes != (friend.notes if friend else None):
            plan.notes = row.notes
        if row.tags is not None:
            current = tags.get(plan.friend_id, []) if friend else []
            plan.tags_add = [t for t in row.tags if t not in current]
            plan.tags_remove = [t for t in current if t not in row.tags]
        for definition, parsed in row.attributes:
            old = values.get((plan.friend_id, definition.id)) if friend else None
            new = tuple(parsed[c] for c in _VALUES)
            new = None if all(v is None for v in new) else new
            if new != old:
                plan.attributes.append((definition, new, old))
        plans.append(plan)
    return plans, conflicts


def _count(plans: list[Plan], report: Any) -> None:
    for plan in plans:
        if plan.created:
            report.created += 1
        elif plan.changed:
            report.updated += 1
        else:
            report.unchanged += 1


def plan_rows(
    session: Session, account_id: int, rows: list[Row], report: Any
) -> list[tuple[Row, ApiError]]:
    """Dry run of a chunk: counts what would be created/updated/unchanged into `report`;
    the rows that cannot be applied, with why."""
    if not rows:
        return []
    plans, conflicts = _plans(session, account_id, rows)
    _count(plans, report)
    return conflicts


def apply_rows(
    session: Session, account_id: int, rows: list[Row], report: Any
) -> list[tuple[Row, ApiError]]:
    """Write a chunk of rows in the caller's transaction; like plan_rows, but for real."""
    if not rows:
        return []
    plans, conflicts = _plans(session, account_id, rows)
    now = utcnow()
    conn = session.connection()
    created = [p for p in plans if p.created]
    if created:
        insert_rows(
            conn,
            Friend.__table__,
            [
                {
                    "account_id": account_id,
                    "line_user_id": p.row.line_user_id,
                    "display_name": p.display_name,
                    "member_id": p.member_id,
                    "notes": None if p.notes is UNSET else p.notes,
                    "status": UNKNOWN,
                    "created_at": now,
                    "click_count": 0,
                    "purchase_count": 0,
                    "revenue_jpy": 0,
                }
                for p in created
            ],
            ["account_id", "line_user_id"],
        )
        ids = dict(
            session.execute(
                select(Friend.line_user_id, Friend.id).where(
                    Friend.account_id == account_id,
                    Friend.line_user_id.in_([p.row.line_user_id for p in created]),
                )
            ).all()
        )
        for plan in created:
            plan.friend_id = ids[plan.row.line_user_id]
    activity: list[dict[str, Any]] = []
    conflicts += link_members(session, conn, account_id, plans, now, activity)
    failed = {id(row) for row, _ in conflicts}
    plans = [p for p in plans if id(p.row) not in failed]

    events: list[Event] = []

    def record(plan: Plan, kind: str, **data: Any) -> None:
        name = PUBLISHED.get(kind)
        if name:
            events.append(
                Event(
                    name,
                    now,
                    account_id=account_id,
                    friend_id=plan.friend_id,
                    payload={**data, "source": "import"},
                )
            )
        if not plan.created:  # a new friend's one "friend_imported" entry says it all
            activity.append(
                {
                    "account_id": account_id,
                    "friend_id": plan.friend_id,
                    "kind": kind,
                    "at": now,
                    "data": {**data, "source": "import"},
                }
            )

    for plan in plans:
        if plan.created:
            activity.append(
                {
                    "account_id": account_id,
                    "friend_id": plan.friend_id,
                    "kind": "friend_imported",
                    "at": now,
                    "data": {
                        "source": "import",
                        "tags": plan.tags_add,
                        "attributes": {
                            d.key: typed_value(d.type, *new) for d, new, _ in plan.attributes if new
                        },
                        "member_id": plan.member_id,
                    },
                }
            )
        if plan.notes is not UNSET:
            record(plan, "notes_set", length=len(plan.notes or ""))
    update_column(
        conn,
        "display_name",
        [(p.friend_id, p.display_name) for p in plans if p.display_name and not p.created],
    )
    update_column(
        conn,
        "notes",
        [(p.friend_id, p.notes) for p in plans if p.notes is not UNSET and not p.created],
    )
    _write_tags(session, conn, account_id, plans, now, record)
    _write_attributes(conn, plans, now, record)
    insert_rows(conn, FriendActivity.__table__, activity)
    publish_many(session, events)
    _count(plans, report)
    return conflicts


def insert_rows(
    conn: Connection, table: Any, rows: list[dict[str, Any]], conflict: list[str] | None = None
) -> None:
    """INSERT many rows, the fastest way each backend offers through SQLAlchemy (measured):
    psycopg's pipelined executemany on PostgreSQL; on SQLite, multi-row VALUES batches
    ("insertmanyvalues"), which SQLAlchemy only uses when RETURNING is asked for."""
    if not rows:
        return
    postgres = conn.dialect.name == "postgresql"
    statement = (pg_insert if postgres else sqlite_insert)(table)
    if conflict:
        statement = statement.on_conflict_do_nothing(index_elements=conflict)
    if not postgres:
        statement = statement.returning(*table.primary_key.columns)
    conn.execute(statement, rows)


def update_column(conn: Connection, column: str, changes: list[tuple[int, Any]]) -> None:
    if changes:
        table = Friend.__table__
        conn.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values({column: bindparam("b_value")}),
            [{"b_id": friend_id, "b_value": value} for friend_id, value in changes],
        )


def _write_tags(
    session: Session, conn: Connection, account_id: int, plans: list[Plan], now, record
) -> None:
    names = {t for p in plans for t in (*p.tags_add, *p.tags_remove)}
    if not names:
        return
    insert_rows(
        conn,
        Tag.__table__,
        [{"account_id": account_id, "name": name, "created_at": now} for name in names],
        ["account_id", "name"],
    )
    ids = dict(
        session.execute(
            select(Tag.name, Tag.id).where(Tag.account_id == account_id, Tag.name.in_(names))
        ).all()
    )
    added = [
        {"friend_id": p.friend_id, "tag_id": ids[t], "tagged_at": now}
        for p in plans
        for t in p.tags_add
    ]
    removed = [(p.friend_id, ids[t]) for p in plans for t in p.tags_remove]
    if added:
        insert_rows(conn, FriendTag.__table__, added, ["friend_id", "tag_id"])
    if removed:
        conn.execute(
            delete(FriendTag.__table__).where(
                tuple_(FriendTag.friend_id, FriendTag.tag_id).in_(removed)
            )
        )
    for plan in plans:
        for name in plan.tags_add:
            record(plan, "tag_added", tag=name)
        for name in plan.tags_remove:
            record(plan, "tag_removed", tag=name)


def _write_attributes(conn: Connection, plans: list[Plan], now, record) -> None:
    table = FriendAttribute.__table__
    inserts, updates, deletes = [], [], []
    for plan in plans:
        for definition, new, old in plan.attributes:
            if new is None:
                deletes.append((plan.friend_id, definition.id))
            elif old is None:
                inserts.append(
                    {
                        "friend_id": plan.friend_id,
                        "attribute_def_id": definition.id,
                        **dict(zip(_VALUES, new, strict=True)),
                        "updated_at": now,
                    }
                )
            else:
                updates.append(
                    {
                        "b_f": plan.friend_id,
                        "b_d": definition.id,
                        **{f"b_{c}": v for c, v in zip(_VALUES, new, strict=True)},
                        "b_at": now,
                    }
                )
            record(
                plan,
                "attribute_set",
                key=definition.key,
                old=typed_value(definition.type, *old) if old else None,
                new=typed_value(definition.type, *new) if new else None,
            )
    if inserts:
        insert_rows(conn, table, inserts)
    if updates:
        conn.execute(
            update(table)
            .where(
                table.c.friend_id == bindparam("b_f"), table.c.attribute_def_id == bindparam("b_d")
            )
            .values({**{c: bindparam(f"b_{c}") for c in _VALUES}, "updated_at": bindparam("b_at")}),
            updates,
        )
    if deletes:
        conn.execute(
            delete(table).where(tuple_(table.c.friend_id, table.c.attribute_def_id).in_(deletes))
        )
