"""Engines for SQLite (the embedded default) and PostgreSQL (production)."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def make_engine(url: str, *, sqlite_synchronous: str = "FULL", echo: bool = False) -> Engine:
    """An engine with the settings each backend needs to be durable and concurrent.

    SQLite: WAL (readers never block the writer), a busy timeout instead of "database is
    locked" errors, foreign keys on. PostgreSQL through psycopg 3.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30}
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={_synchronous(sqlite_synchronous)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "savepoint")
        def _take_the_write_lock(connection, _name) -> None:
            """A SAVEPOINT outside a transaction opens a deferred one whose reads pin a
            snapshot; its first write then fails at once with "database is locked" when
            another writer committed meanwhile, busy timeout or not. Savepoints wrap
            read-then-write stores (orders, events, friends), so take the lock first."""
            dbapi_connection = connection.connection.dbapi_connection
            if not dbapi_connection.in_transaction:
                dbapi_connection.execute("BEGIN IMMEDIATE")

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, echo=echo, pool_size=10, max_overflow=20, pool_pre_ping=True)


def _synchronous(value: str) -> str:
    value = value.upper()
    if value not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
        raise ValueError("ENISHI_SQLITE_SYNCHRONOUS must be OFF, NORMAL, FULL or EXTRA")
    return value


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
