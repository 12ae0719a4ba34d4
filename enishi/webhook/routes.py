"""`POST /webhooks/line/{channel_id}`: LINE's webhook intake.

Order matters: size limit, channel, signature over the raw bytes, then parsing, then a
durable, idempotent store through the group writer. The 200 goes out only after the
events are committed; when they cannot be stored the answer is 503 so LINE redelivers.
The worker (processor.py) turns stored events into friend state later.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

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


def _directory(request: Request, state: AppState) -> ChannelDirectory:
    """One ChannelDirectory per app, made on first use."""
    directory = getattr(request.app.state, "channel_directory", None)
    if directory is None:
        directory = request.app.state.channel_directory = ChannelDirectory(state.box)
    return directory


def _batcher(request: Request, state: AppState) -> RowBatcher:
    """One RowBatcher per app (per group writer), made on first use."""
    batcher = getattr(request.app.state, "webhook_batcher", None)
    if batcher is None:
        batcher = request.app.state.webhook_batcher = RowBatcher(state.writer)
    return batcher


async def _channel(request: Request, state: AppState, channel_id: str) -> ChannelKeys | None:
    if not channel_id.isdigit() or len(channel_id) > CHANNEL_ID_MAX:
        return None
    directory = _directory(request, state)
    hit, keys = directory.peek(channel_id)
    if hit:
        return keys

    def lookup() -> ChannelKeys | None:
        with state.sessions() as session:
            return directory.lookup(session, channel_id)

    return await asyncio.to_thread(lookup)


def _declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is None:
        return
    if not declared.isdigit():
        raise _Reject(400, "invalid", "Content-Length is not a number")
    if int(declared) > limit:
        raise _Reject(413, "too_large", f"the body is larger than {limit} bytes")


async def _read_body(request: Request, limit: int) -> bytes:
    """The raw body, read in chunks and abandoned as soon as it passes `limit`."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Reject(413, "too_large", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def line_webhook(request: Request) -> Response:
    """A plain Starlette endpoint: FastAPI's parameter machinery would cost more than the
    rest of the request, and this one reads nothing but the path and the raw body."""
    channel_id: str = request.path_params["channel_id"]
    state: AppState = request.app.state.enishi
    limit = state.settings.webhook_max_body_bytes
    try:
        _declared_length(request, limit)
        try:
            keys = await _channel(request, state, channel_id)
        except Exception:
            log.exception("channel lookup failed for webhook of channel %s", channel_id)
            raise _Reject(503, "unavailable", "the database is unavailable") from None
        if keys is None:
            raise _Reject(404, "not_found", "no account is connected to this channel")
        body = await _read_body(request, limit)
        if not verify_signature(keys.channel_secret, body, request.headers.get("x-line-signature")):
            raise _Reject(401, "invalid_signature", "x-line-signature does not match the body")
        try:
            events = parse_events(body)
        except BadPayload as error:
            raise _Reject(400, "invalid", str(error)) from None
        if not events:
            return _ok()  # the console's Verify button, connectivity checks
        rows = event_rows(keys.account_id, events, utcnow())
        try:
            await _batcher(request, state).store(rows)
        except Exception as error:
            # the driver's message only: SQLAlchemy's would repeat the events' contents
            reason = str(getattr(error, "orig", None) or error)[:300]
            log.error(
                "webhook events of channel %s not stored (%s: %s); answering 503 so LINE "
                "redelivers",
                channel_id,
                type(error).__name__,
                reason,
            )
            raise _Reject(503, "unavailable", "the events could not be stored") from None
    except _Reject as reject:
        return JSONResponse(error_body(reject.code, reject.message), status_code=reject.status)
    return _ok()


def _ok() -> Response:
    return Response(b"{}", media_type="application/json")


router.add_route(
    "/webhooks/line/{channel_id}", line_webhook, methods=["POST"], include_in_schema=False
)
