"""`POST /webhooks/line/{channel_id}`: LINE's webhook intake.

Order matters: size limit, channel, signature over the raw bytes, then parsing, then a
durable, idempotent store through the group writer. The 200 goes out only after the
events are committed; when they cannot be stored the answer is 503 so LINE redelivers.
The worker (processor.py) turns stored events into friend state later.

A raw ASGI endpoint, like `/c/{token}`: it reads nothing but the path, two headers and the
raw body, so Request/Response objects and FastAPI's parameter machinery would cost more
than the rest of the request. `enishi.hot_paths` calls it before the framework.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse

from enishi.accounts.service import ChannelDirectory, ChannelKeys
from enishi.db.base import utcnow
from enishi.deps import AppState
from enishi.kit.errors import error_body
from enishi.line.signature import verify_signature
from enishi.webhook.intake import BadPayload, RowBatcher, event_rows, parse_events

log = logging.getLogger(__name__)
router = APIRouter()

CHANNEL_ID_MAX = 32


class _Reject(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _directory(app: Any, state: AppState) -> ChannelDirectory:
    """One ChannelDirectory per app, made on first use."""
    directory = getattr(app.state, "channel_directory", None)
    if directory is None:
        directory = app.state.channel_directory = ChannelDirectory(state.box)
    return directory


def _batcher(app: Any, state: AppState) -> RowBatcher:
    """One RowBatcher per app (per group writer), made on first use."""
    batcher = getattr(app.state, "webhook_batcher", None)
    if batcher is None:
        batcher = app.state.webhook_batcher = RowBatcher(state.writer)
    return batcher


async def _channel(app: Any, state: AppState, channel_id: str) -> ChannelKeys | None:
    if not channel_id.isdigit() or len(channel_id) > CHANNEL_ID_MAX:
        return None
    directory = _directory(app, state)
    hit, keys = directory.peek(channel_id)
    if hit:
        return keys

    def lookup() -> ChannelKeys | None:
        with state.sessions() as session:
            return directory.lookup(session, channel_id)

    return await asyncio.to_thread(lookup)


def _headers(scope: dict) -> tuple[str | None, str | None]:
    """(Content-Length, x-line-signature), the first of each, as Starlette's Headers.get
    would give them."""
    length = signature = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            if length is None:
                length = value.decode("latin-1")
        elif name == b"x-line-signature" and signature is None:
            signature = value.decode("latin-1")
    return length, signature


def _declared_length(declared: str | None, limit: int) -> None:
    if declared is None:
        return
    if not declared.isdigit():
        raise _Reject(400, "invalid", "Content-Length is not a number")
    if int(declared) > limit:
        raise _Reject(413, "too_large", f"the body is larger than {limit} bytes")


async def _read_body(receive: Any, limit: int) -> bytes:
    """The raw body, read in chunks and abandoned as soon as it passes `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _Reject(413, "too_large", f"the body is larger than {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()


async def _intake(scope: dict, receive: Any, channel_id: str) -> None:
    """Store the request's events; raises _Reject with the answer when it must not be 200."""
    app = scope["app"]
    state: AppState = app.state.enishi
    limit = state.settings.webhook_max_body_bytes
    declared, signature = _headers(scope)
    _declared_length(declared, limit)
    try:
        keys = await _channel(app, state, channel_id)
    except Exception:
        log.exception("channel lookup failed for webhook of channel %s", channel_id)
        raise _Reject(503, "unavailable", "the database is unavailable") from None
    if keys is None:
        raise _Reject(404, "not_found", "no account is connected to this channel")
    body = await _read_body(receive, limit)
    if not verify_signature(keys.channel_secret, body, signature):
        raise _Reject(401, "invalid_signature", "x-line-signature does not match the body")
    try:
        events = parse_events(body)
    except BadPayload as error:
        raise _Reject(400, "invalid", str(error)) from None
    if not events:
        return  # the console's Verify button, connectivity checks
    rows = event_rows(keys.account_id, events, utcnow())
    try:
        await _batcher(app, state).store(rows)
    except Exception as error:
        # the driver's message only: SQLAlchemy's would repeat the events' contents
        reason = str(getattr(error, "orig", None) or error)[:300]
        log.error(
            "webhook events of channel %s not stored (%s: %s); answering 503 so LINE redelivers",
            channel_id,
            type(error).__name__,
            reason,
        )
        raise _Reject(503, "unavailable", "the events could not be stored") from None


async def _ok(send: Any) -> None:
    """`{}` with the headers Starlette's Response(b"{}", media_type="application/json")
    sends; new messages every time, since middleware may edit a message's headers."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"2"), (b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": b"{}"})


class WebhookEndpoint:
    """The ASGI app behind the route (Starlette calls a non-function endpoint as ASGI)."""

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        try:
            await _intake(scope, receive, scope["path_params"]["channel_id"])
        except _Reject as reject:
            response = JSONResponse(
                error_body(reject.code, reject.message), status_code=reject.status
            )
            return await response(scope, receive, send)
        await _ok(send)


line_webhook = WebhookEndpoint()
router.add_route(
    "/webhooks/line/{channel_id}", line_webhook, methods=["POST"], include_in_schema=False
)
