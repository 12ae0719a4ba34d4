"""Bulk writes and reads on the planner's hot path, below SQLAlchemy's per-row costs.

Planning a million recipients must outrun LINE's 100,000 multicast recipients a second
on a 2-core machine, next to the dispatcher and the database. SQLAlchemy's row objects and
parameter processing cost more than the database itself at that rate, so these few
statements go to the driver directly: still parameterized (values are never formatted
into SQL; the only text built is from the constant column names below), with the same
conversions the model's column types make.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import orjson
from sqlalchemy.orm import Session

RECIPIENT_COLUMNS = ("delivery_id", "friend_id", "arm", "status", "request_id", "error")
REQUEST_COLUMNS = (
    "delivery_id",
    "account_id",
    "kind",
    "retry_key",
    "payload",
    "recipient_count",
    "friend_lo",
    "friend_hi",
    "status",
    "due_at",
    "attempts",
    "recorded",
)
_RECIPIENTS = ", ".join(RECIPIENT_COLUMNS)
_REQUESTS = ", ".join(REQUEST_COLUMNS)
_PG_MARKS = ", ".join("%s::jsonb" if c == "payload" else "%s" for c in REQUEST_COLUMNS)
_RECIPIENT_MARKS = ", ".join("?" * len(RECIPIENT_COLUMNS))
_REQUEST_MARKS = ", ".join("?" * len(REQUEST_COLUMNS))
# built once from the constant names above; every value is a bound parameter
PG_INSERT_REQUESTS = (
    f"INSERT INTO delivery_requests ({_REQUESTS}) VALUES ({_PG_MARKS}) RETURNING id"  # noqa: S608, E501
)
SQLITE_INSERT_REQUESTS = f"INSERT INTO delivery_requests ({_REQUESTS}) VALUES ({_REQUEST_MARKS})"  # noqa: S608
PG_COPY_RECIPIENTS = f"COPY delivery_recipients ({_RECIPIENTS}) FROM STDIN"
SQLITE_INSERT_RECIPIENTS = (
    f"INSERT INTO delivery_recipients ({_RECIPIENTS}) VALUES ({_RECIPIENT_MARKS})"  # noqa: S608, E501
)
NULL = "\\N"  # COPY's text format


def fetch_tuples(session: Session, query) -> list[tuple]:
    """Plain tuples straight from the driver: SQLAlchemy's Row objects cost more than the
    query itself for 20,000 rows (the columns here need no result processing)."""
    result = session.connection().execute(query)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def insert_requests(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert requests and return their ids, in order. SQLAlchemy's INSERT ... RETURNING
    of thousands of rows costs more than the database: one statement per row on SQLite, a
    13,000-placeholder statement that psycopg parses again for every batch on PostgreSQL."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        values = [
            tuple(orjson.dumps(r[c]).decode() if c == "payload" else r[c] for c in REQUEST_COLUMNS)
            for r in rows
        ]
        cursor = connection.connection.driver_connection.cursor()
        cursor.executemany(PG_INSERT_REQUESTS, values, returning=True)
        ids = []
        while True:
            ids.append(cursor.fetchone()[0])
            if not cursor.nextset():
                return ids
    values = [tuple(_sqlite_value(c, r[c]) for c in REQUEST_COLUMNS) for r in rows]
    connection.exec_driver_sql(SQLITE_INSERT_REQUESTS, values)
    # one writer, one transaction: the rows took consecutive rowids ending here
    last = connection.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
    return list(range(last - len(rows) + 1, last + 1))


def _sqlite_value(column: str, value: Any) -> Any:
    if column == "payload":
        return orjson.dumps(value).decode()
    if column == "due_at":  # UTCDateTime on SQLite: naive UTC in SQLAlchemy's text format
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if column == "recorded":
        return int(value)
    return value


def bulk_insert_recipients(session: Session, rows: list[tuple]) -> None:
    """COPY on PostgreSQL (several times faster than INSERT for a million rows), one
    executemany on SQLite. Values are ids, arm names ([A-Za-z0-9_-]), statuses and
    "quota": nothing COPY's text format would need to escape."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        lines = "".join(
            f"{d}\t{f}\t{arm}\t{status}\t{r if r is not None else NULL}\t{e or NULL}\n"
            for d, f, arm, status, r, e in rows
        )
        cursor = connection.connection.driver_connection.cursor()
        with cursor.copy(PG_COPY_RECIPIENTS) as copy:
            copy.write(lines.encode())
        return
    connection.exec_driver_sql(SQLITE_INSERT_RECIPIENTS, rows)
