"""`/_emulator/`: the emulator's own control API (not part of LINE; see docs/emulator.md).

Tests and the demo use it to create channels, look into friends' inboxes and the webhook
log, make a virtual friend do something, move the clock, and inject faults.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from enishi.emulator.api.base import JSONResponse
from enishi.emulator.channels import channel_from_spec, channel_summary
from enishi.emulator.population import generate_friends
from enishi.emulator.runtime import Emulator
from enishi.emulator.state import Channel, FaultRule, Friend, InboxEntry

SETTABLE = {
    "webhook_url": (str, type(None)),
    "webhook_active": bool,
    "redelivery": bool,
    "quota_limit": (int, type(None)),
    "premium": bool,
    "shop_callback_url": (str, type(None)),
    "shop_callback_headers": dict,
    "display_name": str,
    "login_channel_id": (str, type(None)),
    "friend_growth_per_day": (int, float),
    "beacon_hwids": list,
    "route_pages": dict,
}


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message


def _emulator(request: Request) -> Emulator:
    return request.app.state.emulator


def _channel(request: Request) -> Channel:
    channel = _emulator(request).state.channels.get(request.path_params["channel_id"])
    if channel is None:
        raise ControlError(404, "no such channel")
    return channel


def _friend(request: Request, channel: Channel) -> Friend:
    friend = channel.friends.get(request.path_params["user_id"])
    if friend is None:
        raise ControlError(404, "no such friend")
    return friend


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ControlError(400, f"invalid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ControlError(400, "the body must be a JSON object")
    return body


def control(handler):
    async def endpoint(request: Request) -> Response:
        try:
            return JSONResponse(await handler(request))
        except ControlError as error:
            return JSONResponse({"error": error.message}, status_code=error.status)
        except (TypeError, ValueError, KeyError) as error:
            return JSONResponse({"error": f"bad request: {error}"}, status_code=400)

    endpoint.__name__ = handler.__name__
    return endpoint


def friend_json(friend: Friend, *, traits: bool = True) -> dict[str, Any]:
    data = {
        "userId": friend.user_id,
        "displayName": friend.display_name,
        "language": friend.language,
        "pictureUrl": friend.picture_url,
        "isFriend": friend.is_friend,
        "blocked": friend.blocked,
        "followedAt": friend.followed_at,
        "blockedAt": friend.blocked_at,
        "richMenuId": friend.rich_menu_id,
        "linkedMemberId": friend.linked_member_id,
        "interest": round(friend.interest, 4),
    }
    if traits:
        data["traits"] = dataclasses.asdict(friend.traits)
    return data


def entry_json(entry: InboxEntry) -> dict[str, Any]:
    return {
        "requestId": entry.request_id,
        "kind": entry.kind,
        "sentAt": entry.sent_at,
        "messageIds": entry.message_ids,
        "messages": entry.messages,
        "retryKey": entry.retry_key,
        "customAggregationUnits": entry.custom_aggregation_units,
        "read": entry.read,
    }


def _page(request: Request, default_limit: int = 100) -> tuple[int, int]:
    offset = int(request.query_params.get("offset", 0))
    limit = int(request.query_params.get("limit", default_limit))
    if offset < 0 or not 1 <= limit <= 10000:
        raise ControlError(400, "offset must be >= 0 and limit 1..10000")
    return offset, limit


@control
async def overview(request: Request) -> dict:
    emulator = _emulator(request)
    clock = emulator.state.clock
    return {
        "clock": {"now": clock.now(), "iso": clock.now_dt().isoformat(), "speed": clock.speed},
        "rateLimitScale": emulator.limiter.scale,
        "channels": [channel_summary(c) for c in emulator.state.channels.values()],
    }


@control
async def create_channel(request: Request) -> dict:
    emulator = _emulator(request)
    spec = await _body(request)
    channel = channel_from_spec(spec, emulator.state)
    emulator.state.add_channel(channel)
    return channel_summary(channel)


@control
async def get_channel(request: Request) -> dict:
    return channel_summary(_channel(request))


@control
async def update_channel(request: Request) -> dict:
    channel = _channel(request)
    body = await _body(request)
    for key, value in body.items():
        if key not in SETTABLE:
            raise ControlError(400, f"unknown or read-only setting: {key}")
        if not isinstance(value, SETTABLE[key]):
            raise ControlError(400, f"wrong type for {key}")
        setattr(channel, key, value)
    return channel_summary(channel)


@control
async def list_friends(request: Request) -> dict:
    channel = _channel(request)
    offset, limit = _page(request)
    status = request.query_params.get("status")
    friends = channel.friends.values()
    if status == "following":
        friends = [f for f in friends if f.is_friend]
    elif status == "blocked":
        friends = [f for f in friends if f.blocked]
    friends = list(friends)
    return {
        "total": len(friends),
        "friends": [friend_json(f, traits=False) for f in friends[offset : offset + limit]],
    }


@control
async def add_friends(request: Request) -> dict:
    """Create new virtual users; with `follow` (default) they add the account now."""
    emulator = _emulator(request)
    channel = _channel(request)
    body = await _body(request)
    count = int(body.get("count", 1))
    if not 1 <= count <= 1_000_000:
        raise ControlError(400, "count must be 1..1000000")
    seed = int(body.get("seed", emulator.state.seed + len(channel.friends) + 1))
    new = generate_friends(count, seed=seed, now=emulator.state.clock.now(), following=False)
    for friend in new:
        channel.friends[friend.user_id] = friend
    if body.get("follow", True):
        for friend in new:
            await emulator.simulator.follow(channel, friend.user_id)
    return {"userIds": [f.user_id for f in new]}


@control
async def get_friend(request: Request) -> dict:
    channel = _channel(request)
    return friend_json(_friend(request, channel))


@control
async def inbox(request: Request) -> dict:
    channel = _channel(request)
    friend = _friend(request, channel)
    entries = channel.inboxes.get(friend.user_id, [])
    offset, limit = _page(request)
    return {"total": len(entries), "entries": [entry_json(e) for e in entries[offset:][:limit]]}


@control
async def friend_rich_menu(request: Request) -> dict:
    channel = _channel(request)
    friend = _friend(request, channel)
    shown = friend.rich_menu_id or channel.default_rich_menu_id
    source = "user" if friend.rich_menu_id else ("default" if shown else None)
    return {"richMenuId": shown, "source": source}


ACTIONS = {
    "follow": lambda sim, ch, uid, a: sim.follow(ch, uid),
    "unblock": lambda sim, ch, uid, a: sim.follow(ch, uid),
    "block": lambda sim, ch, uid, a: sim.block(ch, uid),
    "text": lambda sim, ch, uid, a: sim.send_text(ch, uid, a["text"]),
    "sticker": lambda sim, ch, uid, a: sim.send_sticker(
        ch, uid, str(a.get("packageId", "446")), str(a.get("stickerId", "1988"))
    ),
    "postback": lambda sim, ch, uid, a: sim.tap_postback(
        ch, uid, a["data"], a.get("displayText"), a.get("params")
    ),
    "quick_reply": lambda sim, ch, uid, a: sim.tap_quick_reply(
        ch, uid, int(a.get("entryIndex", -1)), int(a.get("itemIndex", 0))
    ),
    "open_link": lambda sim, ch, uid, a: sim.open_link(ch, uid, a["url"]),
    "account_link": lambda sim, ch, uid, a: sim.account_link(ch, uid, a["linkToken"], a["nonce"]),
    "beacon": lambda sim, ch, uid, a: sim.enter_beacon(
        ch, uid, a.get("hwid", "d41d8cd98f"), a.get("beaconType", "enter")
    ),
    "purchase": lambda sim, ch, uid, a: sim.purchase(ch, uid, a.get("amount"), a.get("items")),
}


@control
async def friend_action(request: Request) -> dict:
    """Make one virtual friend do one thing, e.g. {"action": "text", "text": "こんにちは"}."""
    emulator = _emulator(request)
    channel = _channel(request)
    friend = _friend(request, channel)
    body = await _body(request)
    action = ACTIONS.get(body.get("action", ""))
    if action is None:
        raise ControlError(400, f"action must be one of {sorted(ACTIONS)}")
    result = await action(emulator.simulator, channel, friend.user_id, body)
    if body.get("wait", True):
        await emulator.webhooks.drain()
    return {"result": result}


@control
async def webhook_log(request: Request) -> dict:
    channel = _channel(request)
    offset, limit = _page(request)
    log = channel.webhook_log
    return {
        "total": len(log),
        "pendingRedeliveries": _emulator(request).webhooks.pending_redeliveries(),
        "attempts": [dataclasses.asdict(a) for a in log[offset : offset + limit]],
    }


@control
async def counters(request: Request) -> dict:
    channel = _channel(request)
    return {"counters": channel.counters, "usageByMonth": channel.usage_by_month}


@control
async def set_faults(request: Request) -> dict:
    """{"push": {"error_rate": 0.05, "latency_ms": 200}, "*": {...}} replaces all rules."""
    channel = _channel(request)
    body = await _body(request)
    fields = {f.name for f in dataclasses.fields(FaultRule)}
    rules = {}
    for operation, spec in body.items():
        if not isinstance(spec, dict) or set(spec) - fields:
            raise ControlError(400, f"fault rule for {operation}: allowed keys {sorted(fields)}")
        rules[operation] = FaultRule(**spec)
    channel.faults = rules
    return {"faults": {op: dataclasses.asdict(r) for op, r in rules.items()}}


@control
async def get_faults(request: Request) -> dict:
    channel = _channel(request)
    return {"faults": {op: dataclasses.asdict(r) for op, r in channel.faults.items()}}


@control
async def clock(request: Request) -> dict:
    """GET: the clock. POST {"advance": seconds} lives through that time; {"speed": x}."""
    emulator = _emulator(request)
    sim_clock = emulator.state.clock
    result: dict[str, Any] = {}
    if request.method == "POST":
        body = await _body(request)
        if "speed" in body:
            sim_clock.set_speed(float(body["speed"]))
        if "advance" in body:
            seconds = float(body["advance"])
            if seconds < 0:
                raise ControlError(400, "advance must be >= 0")
            result["happened"] = await emulator.simulator.advance(seconds)
            await emulator.webhooks.drain()
    result.update(
        {"now": sim_clock.now(), "iso": sim_clock.now_dt().isoformat(), "speed": sim_clock.speed}
    )
    return result


@control
async def backfill(request: Request) -> dict:
    emulator = _emulator(request)
    channel = _channel(request)
    body = await _body(request)
    days = float(body.get("days", 90))
    new_friends = int(body.get("newFriends", 0))
    if not 0 < days <= 400 or new_friends < 0:
        raise ControlError(400, "days must be in (0, 400], newFriends >= 0")
    happened = await emulator.simulator.backfill(channel, days, new_friends)
    await emulator.webhooks.drain(timeout=600)
    return {"happened": happened}


@control
async def orders(request: Request) -> dict:
    channel = _channel(request)
    offset, limit = _page(request)
    all_orders = channel.orders
    return {"total": len(all_orders), "orders": all_orders[offset : offset + limit]}


@control
async def drain(request: Request) -> dict:
    await _emulator(request).webhooks.drain()
    return {"drained": True}


@control
async def save(request: Request) -> dict:
    emulator = _emulator(request)
    if emulator.state_file is None:
        raise ControlError(400, "the emulator was started without --state-file")
    emulator.save()
    return {"saved": str(emulator.state_file)}


@control
async def reset_rate_limits(request: Request) -> dict:
    _emulator(request).limiter.reset()
    return {"reset": True}


P = "/_emulator"
C = P + "/channels/{channel_id}"
F = C + "/friends/{user_id}"
routes = [
    Route(P, overview, methods=["GET"]),
    Route(P + "/channels", create_channel, methods=["POST"]),
    Route(C, get_channel, methods=["GET"]),
    Route(C, update_channel, methods=["PATCH"]),
    Route(C + "/friends", list_friends, methods=["GET"]),
    Route(C + "/friends", add_friends, methods=["POST"]),
    Route(F, get_friend, methods=["GET"]),
    Route(F + "/inbox", inbox, methods=["GET"]),
    Route(F + "/richmenu", friend_rich_menu, methods=["GET"]),
    Route(F + "/actions", friend_action, methods=["POST"]),
    Route(C + "/webhooks", webhook_log, methods=["GET"]),
    Route(C + "/counters", counters, methods=["GET"]),
    Route(C + "/faults", get_faults, methods=["GET"]),
    Route(C + "/faults", set_faults, methods=["PUT"]),
    Route(C + "/backfill", backfill, methods=["POST"]),
    Route(C + "/orders", orders, methods=["GET"]),
    Route(P + "/clock", clock, methods=["GET", "POST"]),
    Route(P + "/webhooks/drain", drain, methods=["POST"]),
    Route(P + "/save", save, methods=["POST"]),
    Route(P + "/rate-limits/reset", reset_rate_limits, methods=["POST"]),
]
