"""Sending messages: reply, push, multicast, broadcast, validate, quota and delivery counts."""

from __future__ import annotations

import re
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from enishi.emulator.api.base import Call, JSONResponse, json_object, line_api, require
from enishi.emulator.clock import is_date, jst_date, jst_month
from enishi.emulator.delivery import check_quota, deliver, reachable
from enishi.emulator.errors import (
    INVALID_REPLY_TOKEN,
    LineError,
    invalid_parameter,
    invalid_property,
)
from enishi.emulator.validation import (
    validate_custom_aggregation_units,
    validate_messages,
    validate_user_id,
)

REPLY_TOKEN_TTL_S = 60
REDELIVERED_REPLY_LIMIT_S = 20 * 60
MULTICAST_MAX = 500
DELIVERY_COUNTS_SINCE = "20180331"  # when LINE started counting sent messages
_TARGET = re.compile(r"^[UCR][0-9a-f]{32}$")  # a user, group or room ID


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    require(validate_messages(body.get("messages")))
    return body["messages"]


def _units(body: dict[str, Any]) -> list[str] | None:
    units = body.get("customAggregationUnits")
    if units is None:
        return None
    require(validate_custom_aggregation_units(units))
    return units


def _sent(message_ids: list[str], messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    sent = []
    for mid, message in zip(message_ids, messages, strict=True):
        item = {"id": mid}
        if message.get("type") in ("text", "textV2", "sticker", "image", "video"):
            item["quoteToken"] = secrets.token_urlsafe(24)
        sent.append(item)
    return sent


@line_api("reply")
async def reply(request: Request, call: Call) -> Response:
    body = await json_object(request)
    token = body.get("replyToken")
    if not isinstance(token, str) or not token:
        require([("replyToken", "must be specified")])
    messages = _messages(body)
    record = call.channel.reply_tokens.get(token)
    now = call.now
    if (
        record is None
        or record.used
        or now - record.delivered_at > REPLY_TOKEN_TTL_S
        or now - record.event_at > REDELIVERED_REPLY_LIMIT_S
    ):
        raise LineError(400, INVALID_REPLY_TOKEN)
    record.used = True
    friend = call.channel.friends.get(record.user_id)
    ids = [call.emulator.state.next_message_id() for _ in messages]
    if friend is not None and friend.is_friend:
        ids = deliver(
            call.emulator.state, call.channel, [record.user_id], messages, "reply", call.request_id
        )
    return JSONResponse({"sentMessages": _sent(ids, messages)})


@line_api("push", retry_key=True)
async def push(request: Request, call: Call) -> Response:
    body = await json_object(request)
    to = body.get("to")
    problems = []
    if not isinstance(to, str) or not to:
        problems.append(("to", "must be specified"))
    elif not _TARGET.match(to):
        raise invalid_property("'to'")
    problems += validate_messages(body.get("messages"))
    require(problems)
    messages = body["messages"]
    units = _units(body)
    channel = call.channel
    friend = channel.friends.get(to)
    if friend is None:
        # LINE answers 400 for an ID that is no user of this provider
        raise LineError(400, "Failed to send messages")
    targets = [to] if friend.is_friend else []
    check_quota(channel, call.now, len(targets))
    ids = deliver(
        call.emulator.state,
        channel,
        targets,
        messages,
        "push",
        call.request_id,
        retry_key=call.retry_key,
        custom_aggregation_units=units,
    )
    if not ids:  # blocked: accepted and answered, but nothing arrives and nothing is billed
        ids = [call.emulator.state.next_message_id() for _ in messages]
    sent = _sent(ids, messages)
    call.accept_retry_key(sent)
    return JSONResponse({"sentMessages": sent})


@line_api("multicast", limit="multicast", retry_key=True)
async def multicast(request: Request, call: Call) -> Response:
    body = await json_object(request)
    to = body.get("to")
    problems = []
    if not isinstance(to, list) or not 1 <= len(to) <= MULTICAST_MAX:
        problems.append(("to", f"Size must be between 1 and {MULTICAST_MAX}"))
    else:
        for i, uid in enumerate(to):
            if not validate_user_id(uid):  # only user IDs: no group or room IDs
                raise invalid_property(f"to[{i}]")
    problems += validate_messages(body.get("messages"))
    require(problems)
    messages = body["messages"]
    units = _units(body)
    channel = call.channel
    targets = reachable(channel, dict.fromkeys(to))  # a repeated ID receives one copy
    check_quota(channel, call.now, len(targets))
    deliver(
        call.emulator.state,
        channel,
        targets,
        messages,
        "multicast",
        call.request_id,
        retry_key=call.retry_key,
        custom_aggregation_units=units,
    )
    call.accept_retry_key()
    return JSONResponse({})


@line_api("broadcast", limit="hourly60", retry_key=True)
async def broadcast(request: Request, call: Call) -> Response:
    body = await json_object(request)
    messages = _messages(body)
    channel = call.channel
    targets = [f.user_id for f in channel.following()]
    check_quota(channel, call.now, len(targets))
    deliver(
        call.emulator.state,
        channel,
        targets,
        messages,
        "broadcast",
        call.request_id,
        retry_key=call.retry_key,
    )
    channel.broadcast_requests[call.request_id] = {
        "kind": "broadcast",
        "at": call.now,
        "delivered": len(targets),
        "messages": messages,
    }
    call.accept_retry_key()
    return JSONResponse({})


def _validator(kind: str):
    @line_api(f"validate_{kind}")
    async def validate(request: Request, call: Call) -> Response:
        body = await json_object(request)
        _messages(body)
        return JSONResponse({})

    return validate


@line_api("quota")
async def quota(request: Request, call: Call) -> Response:
    limit = call.channel.quota_limit
    if limit is None:
        return JSONResponse({"type": "none"})
    return JSONResponse({"type": "limited", "value": limit})


@line_api("quota_consumption")
async def quota_consumption(request: Request, call: Call) -> Response:
    used = call.channel.usage_by_month.get(jst_month(call.now), 0)
    return JSONResponse({"totalUsage": used})


def _delivery_count(kind: str):
    @line_api(f"delivery_{kind}")
    async def count(request: Request, call: Call) -> Response:
        date = request.query_params.get("date", "")
        if not is_date(date):
            raise invalid_parameter("date")
        if date < DELIVERY_COUNTS_SINCE:
            return JSONResponse({"status": "out_of_service"})
        if date >= jst_date(call.now):  # today's figures are not aggregated yet
            return JSONResponse({"status": "unready"})
        return JSONResponse(
            {"status": "ready", "success": call.channel.delivery_counts.get((kind, date), 0)}
        )

    return count


@line_api("aggregation_info")
async def aggregation_info(request: Request, call: Call) -> Response:
    return JSONResponse({"numOfCustomAggregationUnits": len(_units_this_month(call))})


@line_api("aggregation_list")
async def aggregation_list(request: Request, call: Call) -> Response:
    names = sorted(_units_this_month(call))
    try:
        limit = int(request.query_params.get("limit", "100"))
        start = int(request.query_params.get("start", "0") or 0)
    except ValueError:
        raise LineError(400, "Invalid start param") from None
    if not 1 <= limit <= 100:
        require([("limit", "must be between 1 and 100")])
    page = names[start : start + limit]
    out: dict[str, Any] = {"customAggregationUnits": page}
    if start + limit < len(names):
        out["next"] = str(start + limit)
    return JSONResponse(out)


def _units_this_month(call: Call) -> set[str]:
    return call.channel.aggregation_units.get(jst_month(call.now), set())


routes = [
    Route("/v2/bot/message/reply", reply, methods=["POST"]),
    Route("/v2/bot/message/push", push, methods=["POST"]),
    Route("/v2/bot/message/multicast", multicast, methods=["POST"]),
    Route("/v2/bot/message/broadcast", broadcast, methods=["POST"]),
    *[
        Route(f"/v2/bot/message/validate/{kind}", _validator(kind), methods=["POST"])
        for kind in ("reply", "push", "multicast", "narrowcast", "broadcast")
    ],
    Route("/v2/bot/message/quota", quota, methods=["GET"]),
    Route("/v2/bot/message/quota/consumption", quota_consumption, methods=["GET"]),
    *[
        Route(f"/v2/bot/message/delivery/{kind}", _delivery_count(kind), methods=["GET"])
        for kind in ("reply", "push", "multicast", "broadcast")
    ],
    Route("/v2/bot/message/aggregation/info", aggregation_info, methods=["GET"]),
    Route("/v2/bot/message/aggregation/list", aggregation_list, methods=["GET"]),
]
