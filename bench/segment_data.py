"""A seeded account of friends with clicks, purchases, attributes, tags and events, for the
segment benchmark: 1,000,000 friends, 30,000,000 clicks, 2,000,000 purchases at scale 1.

The data is generated in blocks of friends (the same rows for a seed, on either backend) and
bulk loaded: SQLite with executemany in big transactions, PostgreSQL with COPY. Secondary
indexes are dropped before loading and rebuilt after (a sort is faster than 30M inserts
into a B-tree), then ANALYZE. Everything happens before `NOW` (2025-06-01 UTC).

    python -m bench.segment_data --scale 0.1 --backend sqlite
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from enishi.db.engine import make_engine
from enishi.db.migrate import upgrade

NOW = datetime(2025, 6, 1, tzinfo=UTC)
HISTORY_DAYS = 730
ACCOUNT_ID = 1
FRIENDS, CLICKS, PURCHASES = 1_000_000, 30_000_000, 2_000_000
BLOCK = 20_000
LINKS, DELIVERIES, SKUS = 200, 100, 50
GENDERS = ("female", "male", "other")
PREFECTURES = ("東京都", "大阪府", "神奈川県", "愛知県", "福岡県", "北海道", "京都府", "兵庫県")
ROUTES = ("shop_qr", "instagram", "web_banner", "flyer", "event")
TAGS = ("VIP", "セール好き", "新規")
DAY = 86_400
BASE = NOW - timedelta(days=HISTORY_DAYS + 1)  # second 0 of the timestamps below

# what each table gets, in column order (the order rows are generated in)
COLUMNS = {
    "friends": (
        "id",
        "account_id",
        "line_user_id",
        "display_name",
        "status",
        "first_followed_at",
        "last_followed_at",
        "blocked_at",
        "inflow_route_id",
        "member_id",
        "created_at",
        "last_click_at",
        "click_count",
        "last_purchase_at",
        "purchase_count",
        "revenue_jpy",
    ),
    "friend_attributes": (
        "friend_id",
        "attribute_def_id",
        "value_text",
        "value_number",
        "updated_at",
    ),
    "friend_tags": ("friend_id", "tag_id", "tagged_at"),
    "clicks": ("id", "account_id", "link_id", "friend_id", "delivery_id", "clicked_at"),
    "conversions": (
        "id",
        "account_id",
        "order_id",
        "friend_id",
        "amount_jpy",
        "occurred_at",
        "received_at",
    ),
    "conversion_items": ("id", "conversion_id", "sku", "unit_price_jpy", "quantity"),
    "custom_events": (
        "id",
        "account_id",
        "event_id",
        "name",
        "friend_id",
        "properties",
        "occurred_at",
        "received_at",
    ),
}
BIG_TABLES = tuple(COLUMNS)
ATTRIBUTES = (
    (1, "gender", "性別", "choice", list(GENDERS)),
    (2, "age", "年齢", "number", None),
    (3, "prefecture", "都道府県", "text", None),
)


class Stamps:
    """Seconds since BASE → the backend's timestamp text, from cached day and time parts."""

    def __init__(self, suffix: str) -> None:
        self.days = [
            (BASE + timedelta(days=d)).strftime("%Y-%m-%d ") for d in range(HISTORY_DAYS + 3)
        ]
        self.times = [
            f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}{suffix}" for s in range(DAY)
        ]

    def __call__(self, seconds: int | None) -> str | None:
        return None if seconds is None else self.days[seconds // DAY] + self.times[seconds % DAY]


def sizes(scale: float) -> tuple[int, int, int]:
    return max(100, round(FRIENDS * scale)), round(CLICKS * scale), round(PURCHASES * scale)


def generate(scale: float, seed: int, stamp: Stamps) -> Iterator[dict[str, list[tuple]]]:
    """Blocks of rows per table. Click and purchase counts per friend come from skewed
    weights scaled so the totals land on the targets; rollups are computed from the rows."""
    n_friends, n_clicks, n_purchases = sizes(scale)
    rng = random.Random(seed)
    now_s = HISTORY_DAYS * DAY + DAY
    # per-friend weights first (cheap), so the totals can be scaled to the targets
    click_w = [0.0 if rng.random() < 0.35 else rng.expovariate(1.0) for _ in range(n_friends)]
    click_scale = n_clicks / sum(click_w)
    buy_w = [0.0 if rng.random() < 0.45 else (0.3 + w) * rng.expovariate(1.0) for w in click_w]
    buy_scale = n_purchases / sum(buy_w)
    click_id = conversion_id = event_id = 1
    for start in range(0, n_friends, BLOCK):
        block = {name: [] for name in COLUMNS}
        for index in range(start, min(start + BLOCK, n_friends)):
            fid = index + 1
            followed = now_s - int(rng.random() * HISTORY_DAYS * DAY) - 1
            roll = rng.random()
            status = "following" if roll < 0.82 else "blocked" if roll < 0.97 else "unknown"
            blocked = (
                followed + int((now_s - followed) * rng.random()) if status == "blocked" else None
            )
            route = 1 + int(rng.random() * len(ROUTES)) if rng.random() < 0.4 else None
            member = f"M{fid:09d}" if rng.random() < 0.2 else None
            # clicks: spread from the follow to the friend's last active moment
            clicks = math.floor(click_w[index] * click_scale + rng.random())
            last_click = None
            if clicks:
                idle = min(int(rng.expovariate(1 / 45) * DAY), now_s - followed - 1)
                last_click = now_s - idle - 1
                span = last_click - followed
                times = sorted(followed + int(rng.random() * span) for _ in range(clicks - 1))
                times.append(last_click)
                for at in times:
                    link = int(rng.random() * LINKS)
                    block["clicks"].append(
                        (click_id, ACCOUNT_ID, link + 1, fid, link % DELIVERIES + 1, stamp(at))
                    )
                    click_id += 1
            # purchases, more likely for friends who click
            buys = math.floor(buy_w[index] * buy_scale + rng.random())
            last_buy, revenue = None, 0
            if buys:
                idle = min(int(rng.expovariate(1 / 90) * DAY), now_s - followed - 1)
                last_buy = now_s - idle - 1
                span = last_buy - followed
                times = sorted(followed + int(rng.random() * span) for _ in range(buys - 1))
                times.append(last_buy)
                for at in times:
                    amount = int(math.exp(rng.gauss(8.4, 0.7))) // 10 * 10 + 100
                    revenue += amount
                    block["conversions"].append(
                        (
                            conversion_id,
                            ACCOUNT_ID,
                            f"o{conversion_id:010d}",
                            fid,
                            amount,
                            stamp(at),
                            stamp(at),
                        )
                    )
                    block["conversion_items"].append(
                        (
                            conversion_id,
                            conversion_id,
                            f"SKU-{int(rng.random() * SKUS):03d}",
                            amount,
                            1,
                        )
                    )
                    conversion_id += 1
            if rng.random() < 0.08:  # a cart left in the last 10 days
                at = now_s - int(rng.random() * 10 * DAY) - 1
                block["custom_events"].append(
                    (
                        event_id,
                        ACCOUNT_ID,
                        f"e{event_id:010d}",
                        "cart_abandoned",
                        fid,
                        "{}",
                        stamp(at),
                        stamp(at),
                    )
                )
                event_id += 1
            block["friends"].append(
                (
                    fid,
                    ACCOUNT_ID,
                    f"U{fid:032x}",
                    f"友だち{fid}",
                    status,
                    stamp(followed),
                    stamp(followed),
                    stamp(blocked),
                    route,
                    member,
                    stamp(followed),
                    stamp(last_click),
                    clicks,
                    stamp(last_buy),
                    buys,
                    revenue,
                )
            )
            updated = stamp(followed)
            if rng.random() < 0.9:
                gender = GENDERS[0 if rng.random() < 0.55 else 1 if rng.random() < 0.9 else 2]
                block["friend_attributes"].append((fid, 1, gender, None, updated))
            if rng.random() < 0.8:
                block["friend_attributes"].append(
                    (fid, 2, None, float(15 + int(rng.random() * 56)), updated)
                )
            if rng.random() < 0.7:
                block["friend_attributes"].append(
                    (fid, 3, PREFECTURES[int(rng.random() * len(PREFECTURES))], None, updated)
                )
            for tag_id, share in ((1, 0.03), (2, 0.2), (3, 0.1)):
                if rng.random() < share:
                    block["friend_tags"].append((fid, tag_id, updated))
        yield block


def small_tables(stamp: Stamps) -> dict[str, tuple[tuple[str, ...], list[tuple]]]:
    created = stamp(0)
    return {
        "accounts": (
            (
                "id",
                "name",
                "channel_id",
                "channel_secret_sealed",
                "access_token_sealed",
                "timezone",
                "cost_per_message_jpy",
                "attribution_window_days",
                "created_at",
            ),
            [(ACCOUNT_ID, "bench", "2000000001", "-", "-", "Asia/Tokyo", 3, 7, created)],
        ),
        "attribute_defs": (
            ("id", "account_id", "key", "label", "type", "choices", "created_at"),
            [
                (
                    i,
                    ACCOUNT_ID,
                    key,
                    label,
                    kind,
                    None if choices is None else _json(choices),
                    created,
                )
                for i, key, label, kind, choices in ATTRIBUTES
            ],
        ),
        "tags": (
            ("id", "account_id", "name", "created_at"),
            [(i + 1, ACCOUNT_ID, name, created) for i, name in enumerate(TAGS)],
        ),
        "inflow_routes": (
            ("id", "account_id", "code", "name", "created_at"),
            [(i + 1, ACCOUNT_ID, code, code, created) for i, code in enumerate(ROUTES)],
        ),
        "links": (
            ("id", "account_id", "url", "delivery_id", "created_at"),
            [
                (i + 1, ACCOUNT_ID, f"https://shop.example/p/{i + 1}", i % DELIVERIES + 1, created)
                for i in range(LINKS)
            ],
        ),
    }


def _json(value) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


# --- loading ---------------------------------------------------------------------------------
def load_sqlite(path: Path, scale: float, seed: int, log=print) -> dict[str, int]:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-2000000")
    conn.execute("PRAGMA foreign_keys=OFF")
    indexes = [
        sql
        for (sql,) in conn.execute(
            "SELECT sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL AND tbl_name IN "
            f"({','.join('?' * len(BIG_TABLES))})",
            BIG_TABLES,
        )
    ]
    for sql in indexes:
        conn.execute("DROP INDEX " + sql.split(" ON ")[0].split()[-1])
    stamp = Stamps(".000000")
    conn.execute("BEGIN")
    for table, (columns, rows) in small_tables(stamp).items():
        conn.executemany(_insert(table, columns), rows)
    counts = dict.fromkeys(COLUMNS, 0)
    for block in generate(scale, seed, stamp):
        for table, rows in block.items():
            conn.executemany(_insert(table, COLUMNS[table]), rows)
            counts[table] += len(rows)
        if counts["friends"] % 200_000 == 0:
            conn.execute("COMMIT")
            conn.execute("BEGIN")
            log(f"  sqlite: {counts['friends']:,} friends, {counts['clicks']:,} clicks")
    conn.execute("COMMIT")
    for sql in indexes:
        conn.execute(sql)
    conn.execute("ANALYZE")
    conn.close()
    return counts


def load_postgres(url: str, scale: float, seed: int, log=print) -> dict[str, int]:
    engine = make_engine(url)
    upgrade(engine)
    stamp = Stamps("+00")
    counts = dict.fromkeys(COLUMNS, 0)
    with engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND "
                "tablename = ANY(:t) AND indexname NOT IN (SELECT conname FROM pg_constraint)"
            ),
            {"t": list(BIG_TABLES)},
        ).all()
        for name, _ in rows:
            conn.execute(text(f'DROP INDEX "{name}"'))
        conn.execute(text("SET session_replication_role = replica"))  # no FK triggers per row
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor:
            for table, (columns, data) in small_tables(stamp).items():
                _copy(cursor, table, columns, data)
            for block in generate(scale, seed, stamp):
                for table, data in block.items():
                    _copy(cursor, table, COLUMNS[table], data)
                    counts[table] += len(data)
                if counts["friends"] % 200_000 == 0:
                    log(f"  postgresql: {counts['friends']:,} friends, {counts['clicks']:,} clicks")
        conn.execute(text("SET maintenance_work_mem = '1GB'"))
        for _, definition in rows:
            conn.execute(text(definition))
        for table in (
            "accounts",
            "attribute_defs",
            "tags",
            "inflow_routes",
            "links",
            "friends",
            "clicks",
            "conversions",
            "conversion_items",
            "custom_events",
        ):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return counts


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _field(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return str(value)


def _copy(cursor, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    if not rows:
        return
    body = "".join("\t".join(map(_field, row)) + "\n" for row in rows)
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("segments-bench.db"))
    args = parser.parse_args()
    started = time.perf_counter()
    counts = load_sqlite(args.out, args.scale, args.seed)
    print(counts, f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
