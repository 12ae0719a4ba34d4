"""Turning a verified webhook body into inbox rows, and storing them durably.

Kept free of the web framework so the benchmark and the tests can call it directly. Rows
are plain dicts written with Core through the group writer: no ORM objects on the hot path.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from datetime import datetime
from functools import partial
from typing import Any

import orjson
from sqlalchemy import Connection

from enishi.db.upsert import insert_ignore
from enishi.db.writer import GroupWriter
from enishi.webhook.models import PENDING, WebhookEvent

TABLE = WebhookEvent.__table__
CONFLICT = ("account_id", "webhook_event_id")
USER_ID = re.compile(r"^U[0-9a-f]{32}$")
EVENT_ID_MAX = 40
TYPE_MAX = 40
TIMESTAMP_MAX = 2**53  # ms; beyond any real date, within BIGINT


class BadPayload(ValueError):
    """A correctly signed body that is not a LINE webhook payload."""


def parse_events(body: bytes) -> list[dict[str, Any]]:
    """The `events` of a webhook body; raises BadPayload for anything else."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadPayload(f"the body is not JSON: {error}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise BadPayload("the body has no 'events' array")
    events = payload["events"]
    if not all(isinstance(event, dict) for event in events):
        raise BadPayload("every item of 'events' must be an object")
    return events


def stable_event_id(event: dict[str, Any]) -> str:
    """An id for events without `webhookEventId` (old payloads): a hash of the event, its
    delivery context left out so that a redelivery hashes the same."""
    content = {k: v for k, v in event.items() if k != "deliveryContext"}
    digest = hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return "h-" + digest[: EVENT_ID_MAX - 2]


def event_rows(
    account_id: int, events: list[dict[str, Any]], received_at: datetime
) -> list[dict[str, Any]]:
    """One row per distinct event; the fields the worker orders and filters on are copied
    out of the payload, defensively, since a row that cannot be stored would make LINE
    redeliver the whole body forever."""
    rows: dict[str, dict[str, Any]] = {}
    received_ms = int(received_at.timestamp() * 1000)
    for event in events:
        event_id = event.get("webhookEventId")
        if not isinstance(event_id, str) or not 0 < len(event_id) <= EVENT_ID_MAX:
            event_id = stable_event_id(event)
        if event_id in rows:
            continue
        source = event.get("source")
        user_id = source.get("userId") if isinstance(source, dict) else None
        timestamp = event.get("timestamp")
        if (
            isinstance(timestamp, bool)
            or not isinstance(timestamp, int)
            or not 0 <= timestamp < TIMESTAMP_MAX
        ):
            timestamp = received_ms
        context = event.get("deliveryContext")
        event_type = event.get("type")
        rows[event_id] = {
            "account_id": account_id,
            "webhook_event_id": event_id,
            "type": event_type[:TYPE_MAX] if isinstance(event_type, str) else "",
            "line_user_id": user_id
            if isinstance(user_id, str) and USER_ID.match(user_id)
            else None,
            "event_ts": timestamp,
            "is_redelivery": isinstance(context, dict) and context.get("isRedelivery") is True,
            "payload": event,
            "received_at": received_at,
            "status": PENDING,
            "attempts": 0,
        }
    return list(rows.values())


def _insert(rows: list[dict[str, Any]], conn: Connection) -> int:
    return insert_ignore(conn, TABLE, rows, CONFLICT)


def store_rows(rows: list[dict[str, Any]]):
    """The group-writer write that stores `rows` once each; returns how many were new."""
    return partial(_insert, rows)


class RowBatcher:
    """Merges the rows of requests that arrive while a write is in flight into one
    INSERT: one statement per group commit instead of one per request (fewer round trips
    on PostgreSQL, less work on SQLite). `store` returns once the rows are durable. A merged
    write that fails is retried request by request, so one request's problem is not its
    neighbours'."""

    def __init__(self, writer: GroupWriter) -> None:
        self._writer = writer
        self._pending: list[tuple[list[dict[str, Any]], asyncio.Future]] = []
        self._task: asyncio.Task | None = None

    async def store(self, rows: list[dict[str, Any]]) -> None:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((rows, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            merged = {
                (r["account_id"], r["webhook_event_id"]): r for rows, _ in batch for r in rows
            }
            try:
                await self._writer.write(store_rows(list(merged.values())))
                outcomes: list[BaseException | None] = [None] * len(batch)
            except Exception as error:
                if len(batch) == 1:
                    outcomes = [error]
                else:  # alone, each request stands or falls by its own rows
                    results = await asyncio.gather(
                        *(self._writer.write(store_rows(rows)) for rows, _ in batch),
                        return_exceptions=True,
                    )
                    outcomes = [r if isinstance(r, BaseException) else None for r in results]
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():  # the request went away; its rows are stored anyway
                    continue
                if outcome is None:
                    future.set_result(None)
                else:
                    future.set_exception(outcome)
