"""How long a delivery report takes for a delivery of 1,000,000 recipients.

Data (seeded, bulk loaded like bench/segment_data.py): 1,000,000 friends with their follow
history and 2% blocks; delivery 1 sent to all of them (10% held out, arms A and B), ~8% of
its recipients clicking and a fifth of those buying; deliveries 2 and 3 to two disjoint
halves (seed 000's two segments); 1,000,000 other clicks and 2,000,000 orders over two years.
Then, per backend: `GET /deliveries/1/report` (its service), compare arm A vs B of delivery
1, and compare delivery 2 vs 3 — wall-clock median of 5 runs after one warm run, and the
database's CPU time.

    python -m bench.delivery_report [--recipients 1000000] [--backend sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from bench.segment_data import BASE, DAY, HISTORY_DAYS, Stamps, _copy, _insert
from bench.support import drop_database, fresh_database, postgres_available
from enishi.accounts.models import Account
from enishi.db.engine import make_engine
from enishi.db.migrate import upgrade
from enishi.delivery.analysis import compare, delivery_report
from enishi.delivery.models import Delivery

SEND = (HISTORY_DAYS - 10) * DAY  # seconds after BASE: the deliveries went out 10 days ago
ARMS = [{"name": "A", "share": 0.5, "messages": []}, {"name": "B", "share": 0.5, "messages": []}]
OTHER_CLICKS, ORDERS = 1.0, 2.0  # per recipient of delivery 1
COLUMNS = {
    "friends": (
        "id",
        "account_id",
        "line_user_id",
        "status",
        "created_at",
        "click_count",
        "purchase_count",
        "revenue_jpy",
    ),
    "follow_history": ("friend_id", "kind", "at"),
    "delivery_recipients": ("delivery_id", "friend_id", "arm", "status", "request_id", "sent_at"),
    "clicks": ("account_id", "link_id", "friend_id", "delivery_id", "clicked_at"),
    "conversions": (
        "account_id",
        "order_id",
        "friend_id",
        "amount_jpy",
        "occurred_at",
        "received_at",
        "attributed_delivery_id",
    ),
}


def generate(n: int, stamp: Stamps, seed: int = 7) -> Iterator[tuple[str, list[tuple]]]:
    rng = random.Random(seed)
    yield "friends", [(i, 1, f"U{i:032x}", "following", stamp(0), 0, 0, 0) for i in range(1, n + 1)]
    yield (
        "follow_history",
        [(i, "follow", stamp(rng.randrange(SEND))) for i in range(1, n + 1)]
        + [
            (rng.randrange(1, n + 1), "block", stamp(SEND + rng.randrange(4 * DAY)))
            for _ in range(n // 50)
        ],
    )
    recipients, clicks, orders = [], [], []
    half = n // 2
    for delivery, friends in (
        (1, range(1, n + 1)),
        (2, range(1, half + 1)),
        (3, range(half + 1, n + 1)),
    ):
        for friend in friends:
            draw = rng.random()
            if delivery == 1 and draw < 0.1:
                recipients.append((1, friend, "holdout", "held_out", None, None))
                continue
            arm = "A" if delivery != 1 or draw < 0.55 else "B"
            sent = SEND + 60 + friend % 600
            recipients.append((delivery, friend, arm, "sent", friend // 500 + 1, stamp(sent)))
            if rng.random() < 0.08:
                clicked = sent + rng.randrange(2 * DAY)
                for _ in range(1 + (rng.random() < 0.3)):
                    clicks.append((1, delivery, friend, delivery, stamp(clicked)))
                if rng.random() < 0.2:
                    orders.append((friend, clicked + 600, delivery))
    yield "delivery_recipients", recipients
    other = [
        (1, 4, rng.randrange(1, n + 1), None, stamp(rng.randrange(SEND)))
        for _ in range(round(n * OTHER_CLICKS))
    ]
    yield "clicks", clicks + other
    orders += [
        (rng.randrange(1, n + 1), rng.randrange(HISTORY_DAYS * DAY), None)
        for _ in range(round(n * ORDERS))
    ]
    yield (
        "conversions",
        [
            (1, f"O{k}", friend, 500 + 100 * rng.randrange(100), stamp(at), stamp(at), delivery)
            for k, (friend, at, delivery) in enumerate(orders)
        ],
    )


def load(url: str, n: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session, session.begin():
        session.add(
            Account(
                id=1,
                name="bench",
                channel_id="2000000001",
                channel_secret_sealed="-",
                access_token_sealed="-",
            )
        )
        session.flush()
        started = BASE + timedelta(seconds=SEND)
        for delivery_id, name, holdout in (
            (1, "A/B", 0.1),
            (2, "50日以内", 0.0),
            (3, "51日以上", 0.0),
        ):
            session.add(
                Delivery(
                    id=delivery_id,
                    account_id=1,
                    name=name,
                    status="done",
                    audience={"type": "all"},
                    arms=ARMS if delivery_id == 1 else ARMS[:1],
                    holdout_share=holdout,
                    seed=1,
                    started_at=started,
                    finished_at=started + timedelta(minutes=15),
                )
            )
        session.execute(
            text(
                "INSERT INTO links (id, account_id, url, created_at) VALUES "
                "(1, 1, 'https://shop.example/1', :t), (2, 1, 'https://shop.example/2', :t), "
                "(3, 1, 'https://shop.example/3', :t), (4, 1, 'https://shop.example/4', :t)"
            ),
            {"t": started},
        )
    if url.startswith("sqlite"):
        stamp = Stamps(".000000")
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        for table, rows in generate(n, stamp):
            conn.executemany(_insert(table, COLUMNS[table]), rows)
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        conn.close()
    else:
        stamp = Stamps("+00")
        with engine.begin() as conn:
            conn.execute(text("SET session_replication_role = replica"))
            with conn.connection.driver_connection.cursor() as cursor:
                for table, rows in generate(n, stamp):
                    _copy(cursor, table, COLUMNS[table], rows)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def timed(fn: Callable[[], object], cpu: Callable[[], float], runs: int = 5) -> dict:
    fn()
    walls, cpus = [], []
    for _ in range(runs):
        started, used = time.perf_counter(), cpu()
        fn()
        walls.append(time.perf_counter() - started)
        cpus.append(cpu() - used)
    return {
        "median_s": round(statistics.median(walls), 3),
        "runs_s": [round(w, 3) for w in walls],
        "db_cpu_median_s": round(statistics.median(cpus), 3),
    }


def cpu_meter(session: Session, backend: str) -> Callable[[], float]:
    """This process's CPU for SQLite; the PostgreSQL backend's for PostgreSQL."""
    if backend == "sqlite":
        return time.process_time
    pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
    stat = Path(f"/proc/{pid}/stat")
    tick = os.sysconf("SC_CLK_TCK")

    def read() -> float:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    return read


def run(backend: str, n: int, workdir: Path) -> dict:
    url = fresh_database(backend, workdir)
    try:
        started = time.perf_counter()
        load(url, n)
        out: dict = {"backend": backend, "load_s": round(time.perf_counter() - started, 1)}
        engine = make_engine(url)
        with Session(engine) as session:
            account = session.get(Account, 1)
            delivery = session.get(Delivery, 1)
            cpu = cpu_meter(session, backend)
            body = delivery_report(session, account, delivery)
            out["recipients"] = body.totals.targeted
            out["report"] = timed(lambda: delivery_report(session, account, delivery), cpu)
            out["compare_arms"] = timed(lambda: compare(session, account, 1, 1, "A", "B"), cpu)
            out["compare_deliveries"] = timed(lambda: compare(session, account, 2, 3), cpu)
            out["check"] = {
                "sent": body.totals.sent,
                "unique_clicks": body.totals.unique_clicks,
                "converters": body.totals.converters,
                "blocks_48h": body.totals.blocks_48h,
                "holdout_status": body.holdout_comparison.status,
            }
        engine.dispose()
        return out
    finally:
        drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends and not postgres_available():
        backends.remove("postgresql")
    with tempfile.TemporaryDirectory() as workdir:
        for backend in backends:
            print(json.dumps(run(backend, args.recipients, Path(workdir)), ensure_ascii=False))
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
