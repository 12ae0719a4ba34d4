"""Building LINE webhook bodies by hand, signed like LINE signs them."""

from __future__ import annotations

import itertools
import json
from typing import Any

from enishi.line.signature import signature_for

_ids = itertools.count(1)
USER_A = "U" + "a" * 32
USER_B = "U" + "b" * 32
USER_C = "U" + "c" * 32


def event(
    kind: str,
    user: str | None,
    ts: int,
    *,
    event_id: str | None = None,
    redelivery: bool = False,
    source: dict | None = None,
    **payload: Any,
) -> dict:
    """One event as LINE sends it (1:1 chat source unless `source` is given)."""
    body: dict[str, Any] = {"type": kind, "timestamp": ts, "mode": "active"}
    if source is not None:
        body["source"] = source
    elif user is not None:
        body["source"] = {"type": "user", "userId": user}
    body["webhookEventId"] = event_id or f"01TEST{next(_ids):020d}"
    body["deliveryContext"] = {"isRedelivery": redelivery}
    body.update(payload)
    return body


def follow(user: str, ts: int, unblocked: bool = False, **kw: Any) -> dict:
    return event("follow", user, ts, follow={"isUnblocked": unblocked}, replyToken="r" * 32, **kw)


def unfollow(user: str, ts: int, **kw: Any) -> dict:
    return event("unfollow", user, ts, **kw)


def text(user: str, ts: int, words: str, **kw: Any) -> dict:
    message = {"id": str(ts), "type": "text", "text": words, "quoteToken": "q" * 20}
    return event("message", user, ts, message=message, replyToken="r" * 32, **kw)


def postback(user: str, ts: int, data: str, params: dict | None = None, **kw: Any) -> dict:
    body: dict[str, Any] = {"data": data}
    if params:
        body["params"] = params
    return event("postback", user, ts, postback=body, replyToken="r" * 32, **kw)


def body_of(*events: dict, indent: int | None = None) -> bytes:
    return json.dumps(
        {"destination": "U" + "0" * 32, "events": list(events)}, ensure_ascii=False, indent=indent
    ).encode()


def post(
    client,
    account,
    body: bytes,
    *,
    signature: str | None = "sign",
    channel_id: str | None = None,
    headers: dict | None = None,
):
    """POST a body to the intake, signed with the account's secret by default."""
    sent = {"content-type": "application/json"}
    if signature == "sign":
        sent["x-line-signature"] = signature_for(account.channel_secret, body)
    elif signature is not None:
        sent["x-line-signature"] = signature
    sent.update(headers or {})
    return client.post(
        f"/webhooks/line/{channel_id or account.channel_id}", content=body, headers=sent
    )


def deliver(client, account, *events: dict) -> None:
    response = post(client, account, body_of(*events))
    assert response.status_code == 200, response.text
