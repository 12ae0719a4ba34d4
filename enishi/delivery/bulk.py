"""Bulk writes and reads on the planner's hot path, below SQLAlchemy's per-row costs.

Planning a million recipients must outrun LINE's 100,000 multicast recipients a second
on a 2-core machine, next to the dispatcher and the database. SQLAlchemy's row objects and
parameter processing cost more than the database itself at that rate, so these few
statements go to the driver directly: still parameterized (values are never formatted
into SQL; the only text built is from the constant column names below), with the same
conversions the model's column types make.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

# built once from the constant names below; every value is a bound parameter
RECIPIENT_COLUMNS = ("delivery_id", "friend_id", "arm", "status", "request_id", "error")
_RECIPIENTS = ", ".join(RECIPIENT_COLUMNS)
_RECIPIENT_MARKS = ", ".join("?" * len(RECIPIENT_COLUMNS))
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
