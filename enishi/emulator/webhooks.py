"""Sending signed webhooks to each channel's endpoint, with LINE's redelivery.

Events that happen together go out in one request; a backlog is coalesced into requests of
up to `max_batch` events. A request that fails (non-2xx, over 2 s, connection error) is
resent later, when redelivery is on, with `deliveryContext.isRedelivery: true` and the same
`webhookEventId`s. Every attempt is logged on the channel for inspection.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from enishi.emulator.state import Channel, EmulatorState, WebhookAttempt

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S = 2.0
LOG_LIMIT = 20000


def sign(secret: str, body: bytes) -> str:
    """x-line-signature: base64(HMAC-SHA256(channel secret, raw body))."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass
class _Batch:
    events: list[dict[str, Any]]
    attempt: int = 0  # how many times it has been sent


@dataclass
class _ChannelQueue:
    batches: deque[_Batch] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    busy: bool = False
    task: asyncio.Task | None = None


class WebhookSender:
    """One per emulator server; a sending task per channel keeps each channel's order."""

    def __init__(
        self,
        state: EmulatorState,
        *,
        retry_delays: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0),
        max_batch: int = 100,
        timeout: float = WEBHOOK_TIMEOUT_S,
    ) -> None:
        self.state = state
        self.retry_delays = retry_delays
        self.max_batch = max_batch
        self.timeout = timeout
        self._queues: dict[str, _ChannelQueue] = {}
        self._scheduled: set[asyncio.Task] = set()
        self._client: httpx.AsyncClient | None = None
        self._attempt_ids = 0

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            timeout=self.timeout, limits=httpx.Limits(max_connections=20)
        )

    async def stop(self) -> None:
        for task in list(self._scheduled):
            task.cancel()
        for queue in self._queues.values():
            if queue.task:
                queue.task.cancel()
        if self._client:
            await self._client.aclose()

    # --- sending -------------------------------------------------------------------------
    def enqueue(self, channel: Channel, events: list[dict[str, Any]]) -> None:
        """Queue events that happened together; they are sent in one request if possible."""
        if not events:
            return
        if not channel.webhook_url or not channel.webhook_active:
            channel.count("webhook_events_not_sent", len(events))
            return
        queue = self._queue(channel)
        queue.batches.append(_Batch(list(events)))
        queue.wake.set()

    async def drain(self, timeout: float = 60.0) -> None:
        """Wait until every queued batch has been sent (redeliveries still pending excluded)."""
        deadline = time.monotonic() + timeout
        while any(q.batches or q.busy for q in self._queues.values()):
            if time.monotonic() > deadline:
                raise TimeoutError("webhooks still queued")
            await asyncio.sleep(0.005)

    def pending_redeliveries(self) -> int:
        return len(self._scheduled)

    async def send_test(self, channel: Channel, url: str) -> dict[str, Any]:
        """What POST /v2/bot/channel/webhook/test answers: an empty events array sent now."""
        body = orjson.dumps({"destination": channel.bot_user_id, "events": []})
        attempt = await self._post(channel, url, body, [], False)
        reason, detail = _TEST_RESULTS.get(attempt.outcome, ("UNCLASSIFIED", "N/A"))
        return {
            "success": attempt.outcome == "ok",
            "timestamp": _iso(self.state.clock.now()),
            "statusCode": attempt.status_code or 0,
            "reason": reason,
            "detail": detail or str(attempt.status_code),  # the status code for OK and errors
        }

    def _queue(self, channel: Channel) -> _ChannelQueue:
        queue = self._queues.get(channel.channel_id)
        if queue is None:
            queue = self._queues[channel.channel_id] = _ChannelQueue()
        if queue.task is None or queue.task.done():
            queue.task = asyncio.get_running_loop().create_task(self._run(channel, queue))
        return queue

    async def _run(self, channel: Channel, queue: _ChannelQueue) -> None:
        while True:
            if not queue.batches:
                queue.wake.clear()
                await queue.wake.wait()
                continue
            queue.busy = True
            try:
                batch = queue.batches.popleft()
                # coalesce a backlog of fresh events into one request
                while (
                    queue.batches
                    and batch.attempt == 0
                    and queue.batches[0].attempt == 0
                    and len(batch.events) + len(queue.batches[0].events) <= self.max_batch
                ):
                    batch.events.extend(queue.batches.popleft().events)
                await self._deliver(channel, batch)
            except Exception:  # a bug must not stop the channel's webhooks for good
                log.exception("webhook sender failed")
            finally:
                queue.busy = False

    async def _deliver(self, channel: Channel, batch: _Batch) -> None:
        url = channel.webhook_url
        if not url or not channel.webhook_active:
            channel.count("webhook_events_not_sent", len(batch.events))
            return
        redelivery = batch.attempt > 0
        now = self.state.clock.now()
        events = []
        for event in batch.events:
            if redelivery:
                event = {**event, "deliveryContext": {"isRedelivery": True}}
                token = channel.reply_tokens.get(event.get("replyToken", ""))
                if token is not None:
                    token.delivered_at = now
            events.append(event)
        body = orjson.dumps({"destination": channel.bot_user_id, "events": events})
        ids = [e["webhookEventId"] for e in events]
        attempt = await self._post(channel, url, body, ids, redelivery)
        batch.attempt += 1
        if (
            attempt.outcome != "ok"
            and channel.redelivery
            and batch.attempt <= len(self.retry_delays)
        ):
            self._schedule_redelivery(channel, batch, self.retry_delays[batch.attempt - 1])

    def _schedule_redelivery(self, channel: Channel, batch: _Batch, delay: float) -> None:
        async def later() -> None:
            await asyncio.sleep(delay)
            queue = self._queue(channel)
            queue.batches.append(batch)
            queue.wake.set()

        task = asyncio.get_running_loop().create_task(later())
        self._scheduled.add(task)
        task.add_done_callback(self._scheduled.discard)

    async def _post(
        self, channel: Channel, url: str, body: bytes, ids: list[str], redelivery: bool
    ) -> WebhookAttempt:
        assert self._client is not None, "WebhookSender.start() was not awaited"
        headers = {
            "content-type": "application/json; charset=utf-8",
            "x-line-signature": sign(channel.channel_secret, body),
            "user-agent": "LineBotWebhook/2.0",
        }
        self._attempt_ids += 1
        started = time.monotonic()
        status: int | None = None
        detail = ""
        try:
            response = await self._client.post(
                url, content=body, headers=headers, timeout=self.timeout
            )
            status = response.status_code
            outcome = "ok" if 200 <= status < 300 else "http_error"
            if outcome != "ok":
                detail = response.text[:200]
        except httpx.TimeoutException:
            outcome, detail = "timeout", "request_timeout"
        except httpx.HTTPError as exc:
            outcome, detail = "connection_error", type(exc).__name__
        attempt = WebhookAttempt(
            attempt_id=self._attempt_ids,
            at=self.state.clock.now(),
            url=url,
            event_ids=ids,
            is_redelivery=redelivery,
            status_code=status,
            outcome=outcome,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
            detail=detail,
        )
        channel.webhook_log.append(attempt)
        if len(channel.webhook_log) > LOG_LIMIT:
            del channel.webhook_log[: len(channel.webhook_log) - LOG_LIMIT]
        channel.count(f"webhook_{outcome}")
        return attempt


def _iso(sim_seconds: float) -> str:
    return datetime.fromtimestamp(sim_seconds, UTC).isoformat().replace("+00:00", "Z")


# attempt outcome -> the webhook test's (reason, detail); an empty detail means the status code
_TEST_RESULTS = {
    "ok": ("OK", ""),
    "http_error": ("ERROR_STATUS_CODE", ""),
    "timeout": ("REQUEST_TIMEOUT", "Request timeout"),
    "connection_error": ("COULD_NOT_CONNECT", "Failure to connect"),
}
