"""Putting requests in the outbox, inside the caller's transaction.

Nothing here talks to LINE: a request is a row written with the producer's own changes
and sent after commit by the dispatcher, so a rolled-back transaction sends nothing and a
committed one is sent exactly once (its retry key is generated here, before any attempt).
`enqueue_many` is the planner's hot path for a million recipients: it goes to the driver
directly (still parameterized: the only SQL text built is from the constant column names).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

from enishi.db.base import utcnow
from enishi.sending.kinds import ENDPOINTS, RETRY_KEY_KINDS
from enishi.sending.models import PENDING, SOURCES, OutboundRequest

REQUEST_COLUMNS = (
    "account_id",
    "kind",
    "source",
    "source_id",
    "retry_key",
    "payload",
    "recipient_count",
    "friend_lo",
    "friend_hi",
    "status",
    "due_at",
    "expires_at",
    "attempts",
    "recorded",
)
_COLUMNS = ", ".join(REQUEST_COLUMNS)
_PG_MARKS = ", ".join("%s::jsonb" if c == "payload" else "%s" for c in REQUEST_COLUMNS)
_SQLITE_MARKS = ", ".join("?" * len(REQUEST_COLUMNS))
# built once from the constant names above; every value is a bound parameter
PG_INSERT = f"INSERT INTO outbound_requests ({_COLUMNS}) VALUES ({_PG_MARKS}) RETURNING id"  # noqa: S608
SQLITE_INSERT = f"INSERT INTO outbound_requests ({_COLUMNS}) VALUES ({_SQLITE_MARKS})"  # noqa: S608


def enqueue(
    session: Session,
    *,
    account_id: int,
    kind: str,
    source: str,
    payload: dict[str, Any],
    source_id: int | None = None,
    recipient_count: int | None = None,
    due_at: datetime | None = None,
    expires_at: datetime | None = None,
    friend_lo: int | None = None,
    friend_hi: int | None = None,
) -> OutboundRequest:
    """One request, sent after the caller commits. A reply needs `expires_at` (its token's
    life): it is never sent, nor retried, past that."""
    _check(kind, source, expires_at)
    request = OutboundRequest(
        account_id=account_id,
        kind=kind,
        source=source,
        source_id=source_id,
        retry_key=str(uuid.uuid4()) if kind in RETRY_KEY_KINDS else None,
        payload=payload,
        recipient_count=reach(kind, payload) if recipient_count is None else recipient_count,
        friend_lo=friend_lo,
        friend_hi=friend_hi,
        status=PENDING,
        due_at=due_at or utcnow(),
        expires_at=expires_at,
        attempts=0,
        recorded=False,
    )
    session.add(request)
    session.flush()
    return request


def enqueue_many(session: Session, *, requests: list[dict[str, Any]]) -> list[int]:
    """Insert many requests (dicts with account_id, kind, source, source_id, payload,
    recipient_count, due_at, and optionally friend_lo/hi and expires_at) and return their
    ids, in order. SQLAlchemy's INSERT ... RETURNING of thousands of rows costs more than
    the database: one statement per row on SQLite, a 13,000-placeholder statement that
    psycopg parses again for every batch on PostgreSQL."""
    if not requests:
        return []
    checked: set[tuple[str, str]] = set()
    for row in requests:
        for column, value in _DEFAULT.items():
            row.setdefault(column, value)
        if (row["kind"], row["source"]) not in checked or row["kind"] == "reply":
            _check(row["kind"], row["source"], row["expires_at"])
            checked.add((row["kind"], row["source"]))
        row["retry_key"] = str(uuid.uuid4()) if row["kind"] in RETRY_KEY_KINDS else None
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        values = [
            tuple(
                orjson.dumps(r["payload"]).decode() if c == "payload" else r[c]
                for c in REQUEST_COLUMNS
            )
            for r in requests
        ]
        cursor = connection.connection.driver_connection.cursor()
        cursor.executemany(PG_INSERT, values, returning=True)
        ids = []
        while True:
            ids.append(cursor.fetchone()[0])
            if not cursor.nextset():
                return ids
    values = [tuple(_sqlite_value(c, r[c]) for c in REQUEST_COLUMNS) for r in requests]
    connection.exec_driver_sql(SQLITE_INSERT, values)
    # one writer, one transaction: the rows took consecutive rowids ending here
    last = connection.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
    return list(range(last - len(requests) + 1, last + 1))


def reach(kind: str, payload: dict[str, Any]) -> int:
    """People a request reaches, read from its body (a narrowcast's must be given)."""
    if kind == "multicast":
        return len(payload["to"])
    if kind in ("richmenu_bulk_link", "richmenu_bulk_unlink"):
        return len(payload["userIds"])
    if kind == "narrowcast":
        raise ValueError("a narrowcast's recipient_count (its estimated reach) must be given")
    return 1


_DEFAULT: dict[str, Any] = {
    "friend_lo": None,
    "friend_hi": None,
    "expires_at": None,
    "status": PENDING,
    "attempts": 0,
    "recorded": False,
}


def _check(kind: str, source: str, expires_at: Any) -> None:
    if kind not in ENDPOINTS:
        raise ValueError(f"unknown request kind {kind!r}")
    if source not in SOURCES:
        raise ValueError(f"unknown request source {source!r}")
    if kind == "reply" and expires_at is None:
        raise ValueError("a reply needs expires_at: its token's life")


def _sqlite_value(column: str, value: Any) -> Any:
    if column == "payload":
        return orjson.dumps(value).decode()
    if column in ("due_at", "expires_at") and value is not None:
        # UTCDateTime on SQLite: naive UTC in SQLAlchemy's text format
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if column == "recorded":
        return int(value)
    return value
