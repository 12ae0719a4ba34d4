"""What every emulated LINE endpoint does around its own work.

`line_api` wraps a handler with, in LINE's order: a request id on every response,
Bearer-token authentication, injected faults, the endpoint's rate limit, the retry key
(only where LINE accepts one), and LINE's error bodies.
"""

from __future__ import annotations

import asyncio
import functools
import random
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from enishi.emulator.errors import (
    AUTH_FAILED,
    RATE_LIMITED,
    RETRY_KEY_ACCEPTED,
    LineError,
    invalid_parameter,
    validation_error,
)
from enishi.emulator.runtime import Emulator
from enishi.emulator.state import Channel, FaultRule, RetryRecord

MAX_BODY_BYTES = 2 * 1024 * 1024
RETRY_KEY_TTL_S = 24 * 3600
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_uuid(value: str) -> bool:
    """The form of request IDs and retry keys."""
    return _UUID.match(value) is not None


def progress_request_id(request: Request) -> str:
    """The `requestId` a progress query asks about (narrowcast, rich-menu batch): required,
    and a UUID."""
    request_id = request.query_params.get("requestId", "")
    if not request_id:
        require([("requestId", "must be specified")])
    if not is_uuid(request_id):
        raise invalid_parameter("requestId")
    return request_id


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class DroppedResponse(Response):
    """Starts the response, then breaks the connection: the client never sees an answer,
    though the request took effect (what a retry key is for)."""

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[override]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise ConnectionAbortedError("fault injection: connection dropped")


@dataclass
class Call:
    """One authenticated call: the emulator, the caller's channel and this request's id."""

    emulator: Emulator
    channel: Channel
    request_id: str
    retry_key: str | None = None

    @property
    def now(self) -> float:
        return self.emulator.state.clock.now()

    def accept_retry_key(self, sent_messages: list[dict[str, str]] | None = None) -> None:
        """Remember an accepted retry key for 24 h (only successful requests consume one)."""
        if self.retry_key is None:
            return
        keys = self.channel.retry_keys
        keys[self.retry_key] = RetryRecord(self.request_id, self.now, sent_messages)
        if len(keys) % 10000 == 0:
            _forget_expired(keys, self.now)


Handler = Callable[[Request, Call], Awaitable[Response]]


def line_api(
    operation: str, limit: str = "default", *, retry_key: bool = False
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Make `handler(request, call)` a LINE endpoint named `operation` (its rate-limit key)."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            emulator: Emulator = request.app.state.emulator
            request_id = str(uuid.uuid4())
            drop = False
            try:
                channel = authenticate(emulator, request)
                channel.count(operation)
                rule = channel.faults.get(operation) or channel.faults.get("*")
                if rule is not None:
                    drop = await _apply_faults(rule)
                if not emulator.limiter.allow(channel.channel_id, operation, limit):
                    channel.count("rate_limited")
                    raise LineError(429, RATE_LIMITED)
                key = _retry_key(request, channel, emulator, allowed=retry_key)
                response = await handler(request, Call(emulator, channel, request_id, key))
            except LineError as error:
                response = JSONResponse(
                    error.body(), status_code=error.status, headers=error.headers
                )
            if drop:
                return DroppedResponse()
            response.headers["x-line-request-id"] = request_id
            return response

        return endpoint

    return wrap


def authenticate(emulator: Emulator, request: Request) -> Channel:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    channel = None
    if scheme.lower() == "bearer" and token:
        channel = emulator.state.channel_by_token(token.strip())
    if channel is None:
        raise LineError(401, AUTH_FAILED)
    return channel


async def json_body(request: Request) -> Any:
    """The parsed body, with LINE's answers to an oversized or unparsable one."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise LineError(413, "Request Entity Too Large")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise LineError(413, "Request Entity Too Large")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise LineError(
            400,
            f"The request body could not be parsed as JSON (line: {exc.lineno}, "
            f"column: {exc.colno})",
        ) from None


async def json_object(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise LineError(400, "The request body could not be parsed as JSON (line: 1, column: 1)")
    return body


def require(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise validation_error(problems)


def _retry_key(request: Request, channel: Channel, emulator: Emulator, *, allowed: bool):
    key = request.headers.get("x-line-retry-key")
    if key is None:
        return None
    if not allowed:
        raise LineError(400, "The retry key is not supported for this API")
    if not is_uuid(key):
        raise LineError(400, "The retry key must be a UUID")
    key = key.lower()
    record = channel.retry_keys.get(key)
    now = emulator.state.clock.now()
    if record is not None and now - record.accepted_at < RETRY_KEY_TTL_S:
        extra = {"sentMessages": record.sent_messages} if record.sent_messages else {}
        channel.count("retry_key_conflicts")
        raise LineError(
            409,
            RETRY_KEY_ACCEPTED,
            headers={"x-line-accepted-request-id": record.request_id},
            extra=extra,
        )
    return key


def _forget_expired(keys: dict[str, RetryRecord], now: float) -> None:
    for key in [k for k, r in keys.items() if now - r.accepted_at >= RETRY_KEY_TTL_S]:
        del keys[key]


async def _apply_faults(rule: FaultRule) -> bool:
    """Inject the configured faults; True means drop the connection after handling."""
    if rule.latency_ms > 0:
        await asyncio.sleep(rule.latency_ms / 1000)
    if rule.force_count > 0 and rule.force_status is not None:
        rule.force_count -= 1
        raise _fault_error(rule.force_status)
    if rule.error_rate > 0 and random.random() < rule.error_rate:
        raise _fault_error(rule.error_status)
    return rule.drop_rate > 0 and random.random() < rule.drop_rate


def _fault_error(status: int) -> LineError:
    if status == 429:
        return LineError(429, RATE_LIMITED)
    return LineError(status, "Internal server error" if status >= 500 else "Bad request")
