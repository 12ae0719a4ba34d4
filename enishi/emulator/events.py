"""Build webhook event objects exactly as webhook.yml defines them."""

from __future__ import annotations

import secrets
from typing import Any

from ulid import ULID

from enishi.emulator.state import Channel, EmulatorState, ReplyToken

# Event types that carry a replyToken (webhook.yml; accountLink only when result is ok).
_REPLYABLE = {
    "message",
    "follow",
    "join",
    "memberJoined",
    "postback",
    "beacon",
    "videoPlayComplete",
    "membership",
    "accountLink",
}


def new_event_id(at_seconds: float) -> str:
    """webhookEventId is a ULID whose time part is when the event happened."""
    return str(ULID.from_timestamp(at_seconds))


def make_event(
    state: EmulatorState,
    channel: Channel,
    event_type: str,
    user_id: str | None,
    payload: dict[str, Any] | None = None,
    *,
    at: float | None = None,
) -> dict[str, Any]:
    """One event from a user in a 1:1 chat, registering its reply token if it has one."""
    at = state.clock.now() if at is None else at
    event: dict[str, Any] = {"type": event_type, "timestamp": int(at * 1000), "mode": "active"}
    if user_id is not None:
        event["source"] = {"type": "user", "userId": user_id}
    event["webhookEventId"] = new_event_id(at)
    event["deliveryContext"] = {"isRedelivery": False}
    replyable = event_type in _REPLYABLE and user_id is not None
    if event_type == "accountLink" and (payload or {}).get("link", {}).get("result") != "ok":
        replyable = False
    if replyable:
        token = secrets.token_hex(16)
        channel.reply_tokens[token] = ReplyToken(user_id=user_id, event_at=at, delivered_at=at)
        event["replyToken"] = token
    if payload:
        event.update(payload)
    return event


def text_message(state: EmulatorState, text: str) -> dict[str, Any]:
    return {
        "id": state.next_message_id(),
        "type": "text",
        "text": text,
        "quoteToken": secrets.token_urlsafe(24),
    }


def sticker_message(state: EmulatorState, package_id: str, sticker_id: str) -> dict[str, Any]:
    return {
        "id": state.next_message_id(),
        "type": "sticker",
        "packageId": package_id,
        "stickerId": sticker_id,
        "stickerResourceType": "STATIC",
        "quoteToken": secrets.token_urlsafe(24),
    }
