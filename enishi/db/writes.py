"""Which threads hold an open write transaction, so a slow outside call can refuse to run
inside one (on SQLite a write transaction holds the database's only write lock).

Tracked per DBAPI connection from the statements it runs: the first INSERT, UPDATE or
DELETE (ORM flush, Core or raw SQL) marks the connection as written by the running thread;
its commit, rollback or return to the pool clears the mark, whichever thread does it.
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine, event

_WRITES = ("INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "REPLACE")

_lock = threading.Lock()
_writers: dict[int, int] = {}  # id(DBAPI connection) -> the thread that wrote on it


def track_writes(engine: Engine) -> None:
    """Follow the engine's write transactions (idempotent)."""
    if event.contains(engine, "after_cursor_execute", _after_execute):
        return
    event.listen(engine, "after_cursor_execute", _after_execute)
    event.listen(engine, "commit", _transaction_ended)
    event.listen(engine, "rollback", _transaction_ended)
    event.listen(engine, "checkin", _checked_in)


def holds_write_transaction() -> bool:
    """True when this thread wrote in a transaction that is not committed or rolled back."""
    me = threading.get_ident()
    with _lock:
        return me in _writers.values()


def _after_execute(connection, _cursor, statement, _parameters, context, _many) -> None:
    if context is not None and (context.isinsert or context.isupdate or context.isdelete):
        written = True
    else:
        written = statement.lstrip()[:7].upper().startswith(_WRITES)
    if written:
        key, me = id(connection.connection.dbapi_connection), threading.get_ident()
        if _writers.get(key) != me:
            with _lock:
                _writers[key] = me


def _transaction_ended(connection) -> None:
    _forget(connection.connection.dbapi_connection)


def _checked_in(dbapi_connection, _record) -> None:
    _forget(dbapi_connection)


def _forget(dbapi_connection) -> None:
    if _writers:
        with _lock:
            _writers.pop(id(dbapi_connection), None)
