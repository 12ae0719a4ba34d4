"""Recording clicks on the `/c/{token}` hot path.

A click is answered only once it is stored, yet thousands arrive each second. So the path
is lean: the token is checked in memory, the link's redirect target comes from an in-process
LRU cache (links never change once created), and clicks that arrive together share one
batch: the first click of a batch hands the batch to the group writer, later ones join it
until the writer starts it, and the whole batch is stored by a fixed number of statements
(insert the clicks, bump the friends' rollups: two on SQLite, one on PostgreSQL) in the
group-committed transaction. Every waiting request is released after that commit.
The batch's tracking.click events (clicks of known friends) are one more insert in that
transaction, read back from the clicks just stored (docs/decisions/0202).

The insert reads the link and the friend inside the statement, so a link or friend deleted
since the token was made costs that click its friend (or the click), never the batch.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Connection, select, text

from enishi.db.base import UTCDateTime, utcnow
from enishi.deps import AppState
from enishi.events.models import DONE
from enishi.events.registry import subscribers_of
from enishi.events.service import bulk_status
from enishi.tracking.links import redirect_location
from enishi.tracking.models import Link
from enishi.tracking.tokens import TokenCodec, codec_for

log = logging.getLogger(__name__)

CACHE_SIZE = 100_000
MISSING_TTL = 30.0  # seconds an unknown link id is remembered as unknown
USER_AGENT_MAX = 500
SIM_TIME_MIN, SIM_TIME_MAX = 946_684_800.0, 4_102_444_800.0  # 2000-01-01 .. 2100-01-01

# Link-preview fetchers and crawlers: LINE's own (`facebookexternalhit/1.1;line-poker/1.0`),
# Facebook, X, Slack, Discord, WhatsApp and anything calling itself a bot, crawler or spider.
_CRAWLER = re.compile(
    r"bot|crawl|spider|slurp|facebookexternalhit|line-poker|whatsapp|embedly|"
    r"pinterest|preview|bitlybot|metainspector|iframely",
    re.IGNORECASE,
)
_PREFETCH_HEADERS = (b"purpose", b"sec-purpose", b"x-purpose", b"x-moz")


class Target(NamedTuple):
    account_id: int
    delivery_id: int | None
    location: bytes  # the Location header, ASCII


class RequestFacts(NamedTuple):
    user_agent: str
    prefetch: bool
    sim_time: str | None


def request_facts(headers: list[tuple[bytes, bytes]]) -> RequestFacts:
    """One pass over the raw ASGI headers for what a click needs."""
    user_agent, prefetch, sim_time = "", False, None
    for name, value in headers:
        if name == b"user-agent":
            user_agent = value.decode("latin-1")
        elif name == b"x-emulator-sim-time":
            sim_time = value.decode("latin-1")
        elif name in _PREFETCH_HEADERS:
            lowered = value.lower()
            prefetch = prefetch or b"prefetch" in lowered or b"preview" in lowered
    return RequestFacts(user_agent, prefetch, sim_time)


def is_crawler(facts: RequestFacts) -> bool:
    """Requests that are not a person opening the link: prefetches and preview fetchers."""
    return facts.prefetch or bool(_CRAWLER.search(facts.user_agent))


def click_time(facts: RequestFacts, trust_sim_time: bool) -> datetime:
    """Now; or, when the emulator's headers are trusted, the simulated time it sent."""
    if trust_sim_time and facts.sim_time:
        try:
            seconds = float(facts.sim_time)
        except ValueError:
            seconds = math.nan
        if math.isfinite(seconds) and SIM_TIME_MIN < seconds < SIM_TIME_MAX:
            return datetime.fromtimestamp(seconds, UTC)
    return datetime.now(UTC)


# --- statements ----------------------------------------------------------------------------
# One statement per batch for the clicks and one for the rollups, whatever the batch size:
# the rows travel as one JSON (SQLite) or array (PostgreSQL) parameter. The writer thread
# then crosses into SQLite/PostgreSQL a handful of times per batch instead of twice per
# click, which matters because each crossing may wait for the GIL held by the event loop.
_SQLITE_INSERT = text(
    """
    INSERT INTO clicks (account_id, link_id, friend_id, delivery_id, clicked_at, user_agent)
    SELECT l.account_id, l.id, f.id, l.delivery_id,
           json_extract(r.value, '$[2]'), json_extract(r.value, '$[3]')
    FROM json_each(:rows) AS r
    JOIN links AS l ON l.id = json_extract(r.value, '$[0]')
    LEFT JOIN friends AS f
           ON f.id = json_extract(r.value, '$[1]') AND f.account_id = l.account_id
    ORDER BY r.key
    """
)
# the clicks the insert above stored are the rowids (first, last]: one statement under the
# write lock takes consecutive rowids
_SQLITE_PUBLISH = text(
    """
    INSERT INTO domain_events (name, account_id, friend_id, payload, occurred_at,
                               published_at, status, attempts, processed_at)
    SELECT 'tracking.click', account_id, friend_id,
           json_object('click_id', id, 'link_id', link_id, 'delivery_id', delivery_id),
           clicked_at, :now, :status, 0, :processed
    FROM clicks WHERE id > :first AND id <= :last AND friend_id IS NOT NULL
    ORDER BY id
    """
)
_SQLITE_BUMP = text(
    """
    UPDATE friends
    SET click_count = click_count + r.n,
        last_click_at = CASE WHEN last_click_at IS NULL OR last_click_at < r.t
                             THEN r.t ELSE last_click_at END
    FROM (SELECT json_extract(value, '$[0]') AS f, json_extract(value, '$[1]') AS a,
                 json_extract(value, '$[2]') AS n, json_extract(value, '$[3]') AS t
          FROM json_each(:rows)) AS r
    WHERE friends.id = r.f AND friends.account_id = r.a
    """
)
# PostgreSQL: one round trip; the rollups come from the clicks actually inserted, so a
# friend is bumped only when the click was credited to them. The friend is joined by
# primary key alone and the account compared in the select list: with the account in the
# join, the generic plan psycopg's prepared statement settles on (made while a new
# installation's tables have no statistics) walked the account's index, every friend of
# the account once per click — 25 ms per batch at 10,000 friends.
_PG_STORE = text(
    """
    WITH inserted AS (
        INSERT INTO clicks (account_id, link_id, friend_id, delivery_id, clicked_at, user_agent)
        SELECT l.account_id, l.id, CASE WHEN f.account_id = l.account_id THEN f.id END,
               l.delivery_id, r.t, r.ua
        FROM unnest(CAST(:ls AS bigint[]), CAST(:fs AS bigint[]), CAST(:ts AS timestamptz[]),
                    CAST(:uas AS text[])) WITH ORDINALITY AS r(l, f, t, ua, n)
        JOIN links AS l ON l.id = r.l
        LEFT JOIN friends AS f ON f.id = r.f
        ORDER BY r.n
        RETURNING id, account_id, link_id, friend_id, delivery_id, clicked_at
    ), published AS (
        INSERT INTO domain_events (name, account_id, friend_id, payload, occurred_at,
                                   published_at, status, attempts, processed_at)
        SELECT 'tracking.click', account_id, friend_id,
               jsonb_build_object('click_id', id, 'link_id', link_id, 'delivery_id', delivery_id),
               clicked_at, CAST(:now AS timestamptz), CAST(:status AS text), 0,
               CAST(:processed AS timestamptz)
        FROM inserted WHERE friend_id IS NOT NULL ORDER BY id
    )
    UPDATE friends
    SET click_count = friends.click_count + per_friend.n,
        last_click_at = GREATEST(friends.last_click_at, per_friend.t)
    FROM (SELECT friend_id, count(*) AS n, max(clicked_at) AS t FROM inserted
          WHERE friend_id IS NOT NULL GROUP BY friend_id ORDER BY friend_id) AS per_friend
    WHERE friends.id = per_friend.friend_id
    """
)
_UTC = UTCDateTime()


_time_formats: dict[type, Any] = {}


def _sqlite_time(conn: Connection) -> Any:
    """Times exactly as the ORM stores them on SQLite, so comparisons stay consistent."""
    dialect = conn.dialect
    process = _time_formats.get(type(dialect))
    if process is None:
        process = _time_formats[type(dialect)] = _UTC.dialect_impl(dialect).bind_processor(dialect)
    return process


CLICK_EVENT = "tracking.click"


def event_columns() -> dict[str, Any]:
    """The batch's tracking.click rows are written by SQL, not publish(): a subscriber
    that must run inside the transaction cannot listen to them."""
    if subscribers_of(CLICK_EVENT, "transaction"):
        raise RuntimeError(f"{CLICK_EVENT} is stored by the click batch's SQL: subscribe queued")
    status, now = bulk_status(CLICK_EVENT), utcnow()
    return {"now": now, "status": status, "processed": now if status == DONE else None}


def store_clicks(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert clicks ({l, f, a, t, ua}), publish tracking.click for those of a friend and
    bump those friends' rollups. A link that no longer exists loses its click; a friend
    that does not (or is not the link's account's) leaves the click without a friend."""
    if not rows:
        return
    events = event_columns()
    if conn.dialect.name == "postgresql":
        conn.execute(
            _PG_STORE,
            {
                "ls": [r["l"] for r in rows],
                "fs": [r["f"] for r in rows],
                "ts": [r["t"] for r in rows],
                "uas": [r["ua"] for r in rows],
                **events,
            },
        )
        return
    per_friend: dict[tuple[int, int], list] = {}
    for row in rows:
        if row["f"] is None:
            continue
        entry = per_friend.get((row["f"], row["a"]))
        if entry is None:
            per_friend[(row["f"], row["a"])] = [1, row["t"]]
        else:
            entry[0] += 1
            entry[1] = max(entry[1], row["t"])
    friends = sorted(per_friend.items())  # one lock order
    when = _sqlite_time(conn)
    payload = [[r["l"], r["f"], when(r["t"]), r["ua"]] for r in rows]
    stored = conn.execute(_SQLITE_INSERT, {"rows": orjson.dumps(payload).decode()})
    if friends and stored.rowcount:
        last = stored.lastrowid
        conn.execute(
            _SQLITE_PUBLISH,
            {
                "first": last - stored.rowcount,
                "last": last,
                "now": when(events["now"]),
                "status": events["status"],
                "processed": when(events["processed"]) if events["processed"] else None,
            },
        )
    if friends:
        bumps = [[f, a, n, when(t)] for (f, a), (n, t) in friends]
        conn.execute(_SQLITE_BUMP, {"rows": orjson.dumps(bumps).decode()})


# --- the recorder --------------------------------------------------------------------------
class _Batch:
    """Clicks that will be stored in one transaction."""

    __slots__ = ("rows", "sealed", "task", "_lock")

    def __init__(self, lock: threading.Lock) -> None:
        self.rows: list[dict[str, Any]] = []
        self.sealed = False
        self.task: asyncio.Future | None = None
        self._lock = lock

    def write(self, conn: Connection) -> int:
        # runs on the writer's thread; may run twice if the group transaction is retried,
        # which is harmless: the first attempt was rolled back
        with self._lock:
            self.sealed = True
        store_clicks(conn, self.rows)
        return len(self.rows)


class ClickRecorder:
    """Per app: the link cache and the batch being filled."""

    def __init__(self, state: AppState, cache_size: int = CACHE_SIZE) -> None:
        self.state = state
        self.codec: TokenCodec = codec_for(state.secret_key)
        self.trust_sim_time = state.settings.trust_emulator_headers
        self._cache: OrderedDict[int, Target | float] = OrderedDict()
        self._cache_size = cache_size
        self._loading: dict[int, asyncio.Task] = {}
        self._lock = threading.Lock()
        self._open: _Batch | None = None

    # links
    async def target(self, link_id: int) -> Target | None:
        hit = self._cache.get(link_id)
        if hit is not None:
            if type(hit) is Target:
                self._cache.move_to_end(link_id)
                return hit
            if hit > time.monotonic():
                return None
        task = self._loading.get(link_id)
        if task is None:
            task = asyncio.ensure_future(self._fetch(link_id))
            self._loading[link_id] = task
        return await asyncio.shield(task)

    async def _fetch(self, link_id: int) -> Target | None:
        try:
            target = await asyncio.to_thread(self._load, link_id)
        finally:
            self._loading.pop(link_id, None)
        self._cache[link_id] = target if target is not None else time.monotonic() + MISSING_TTL
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return target

    def _load(self, link_id: int) -> Target | None:
        with self.state.engine.connect() as conn:
            row = conn.execute(
                select(Link.account_id, Link.delivery_id, Link.url, Link.utm).where(
                    Link.id == link_id
                )
            ).first()
        if row is None:
            return None
        location = redirect_location(row.url, row.utm).encode("ascii")
        return Target(row.account_id, row.delivery_id, location)

    # clicks
    async def record(
        self,
        link_id: int,
        friend_id: int | None,
        account_id: int,
        clicked_at: datetime,
        user_agent: str,
    ) -> None:
        """Store one click durably (with everything that arrived alongside it)."""
        row = {
            "l": link_id,
            "f": friend_id,
            "a": account_id,
            "t": clicked_at,
            "ua": user_agent[:USER_AGENT_MAX] or None,
        }
        with self._lock:
            batch = self._open
            if batch is None or batch.sealed:
                batch = self._open = _Batch(self._lock)
                batch.task = asyncio.ensure_future(self.state.writer.write(batch.write))
                batch.task.add_done_callback(_consume)
            batch.rows.append(row)
        await asyncio.shield(batch.task)


def _consume(task: asyncio.Future) -> None:
    """Every waiter sees the batch's error; this keeps asyncio from reporting it again."""
    if not task.cancelled() and task.exception() is not None:
        log.error("storing a batch of clicks failed: %s", task.exception())


def recorder_for(app: Any) -> ClickRecorder:
    recorder = getattr(app.state, "click_recorder", None)
    if recorder is None:
        recorder = app.state.click_recorder = ClickRecorder(app.state.enishi)
    return recorder
