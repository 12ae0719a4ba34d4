"""The embedded SQLite engine under concurrent writers."""

from __future__ import annotations

import threading

from sqlalchemy import text
from sqlalchemy.orm import Session

from enishi.db.engine import make_engine


def test_a_read_then_write_savepoint_survives_a_concurrent_commit(tmp_path):
    """Conversions, events and friends are stored read-then-write inside a savepoint; a
    write committed by another connection meanwhile must make it wait, not fail."""
    engine = make_engine(f"sqlite:///{tmp_path / 'enishi.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE orders (id INTEGER PRIMARY KEY, src TEXT)")
    other_done = threading.Event()

    def other_writer() -> None:
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO orders (src) VALUES ('other')")
        other_done.set()

    with Session(engine) as session:
        with session.begin_nested():
            seen = session.execute(text("SELECT count(*) FROM orders")).scalar_one()
            writer = threading.Thread(target=other_writer)
            writer.start()
            writer.join(0.5)
            assert not other_done.is_set()  # it waits for this store's write lock
            session.execute(text("INSERT INTO orders (src) VALUES ('store')"))
        session.commit()
    writer.join(10)
    assert seen == 0 and other_done.is_set()
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT src FROM orders ORDER BY id").scalars().all()
    assert rows == ["store", "other"]
