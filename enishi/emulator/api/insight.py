"""Insight: message events of broadcasts and narrowcasts, delivery counts, followers
(LINE_PLATFORM.md §5; insight.yml).

Impressions are inbox entries of the request that the virtual friend has read; clicks come
from `channel.link_clicks[request_id][url]`, which the simulator fills when a friend opens a
link. Like LINE, interaction figures under 20 are answered as null.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from enishi.emulator.api.base import Call, JSONResponse, line_api, require
from enishi.emulator.clock import JST, is_date, jst_date
from enishi.emulator.errors import LineError, not_found
from enishi.emulator.state import Channel, Friend

PRIVACY_FLOOR = 20  # LINE hides interaction counts below this
DELIVERIES_COUNTED_SINCE = "20170301"  # earlier dates answer out_of_service
FOLLOWERS_COUNTED_SINCE = "20161101"
DELIVERY_FIELDS = {  # insight field -> delivery kind counted in channel.delivery_counts
    "apiBroadcast": "broadcast",
    "apiPush": "push",
    "apiMulticast": "multicast",
    "apiNarrowcast": "narrowcast",
    "apiReply": "reply",
}
MEDIA_FIELDS = (
    "mediaPlayed",
    "mediaPlayed25Percent",
    "mediaPlayed50Percent",
    "mediaPlayed75Percent",
    "mediaPlayed100Percent",
    "uniqueMediaPlayed",
    "uniqueMediaPlayed25Percent",
    "uniqueMediaPlayed50Percent",
    "uniqueMediaPlayed75Percent",
    "uniqueMediaPlayed100Percent",
)


def hidden_under_floor(n: int) -> int | None:
    return n if n >= PRIVACY_FLOOR else None


def has_demographics(friend: Friend) -> bool:
    """Counted in the target reach: LINE knows the user's attributes with confidence."""
    return friend.traits.gender in ("male", "female")


def targeted_reach(channel: Channel) -> int:
    """Friends a demographic narrowcast could reach now (the 'target reach')."""
    return sum(1 for f in channel.friends.values() if f.is_friend and has_demographics(f))


def sent_request(channel: Channel, request_id: str) -> dict[str, Any] | None:
    """A broadcast or narrowcast by request ID: {kind, at, delivered, messages, recipients}.

    `recipients` is None for a broadcast (every follower at the time)."""
    broadcast = channel.broadcast_requests.get(request_id)
    if broadcast is not None:
        return {
            "kind": "broadcast",
            "at": broadcast["at"],
            "delivered": broadcast["delivered"],
            "messages": broadcast["messages"],
            "recipients": None,
        }
    narrowcast = channel.narrowcasts.get(request_id)
    if narrowcast is not None:
        finished = narrowcast["phase"] in ("succeeded", "failed")
        return {
            "kind": "narrowcast",
            "at": narrowcast.get("sentAt") or narrowcast["acceptedAt"],
            "delivered": narrowcast["successCount"] if finished else None,
            "messages": narrowcast["messages"],
            "recipients": narrowcast["recipients"],
        }
    return None


def impressed_users(channel: Channel, request_id: str) -> set[str]:
    """Users who have read (displayed) their copy of the request's messages."""
    sent = sent_request(channel, request_id)
    if sent is None:
        return set()
    inboxes = channel.inboxes
    users = sent["recipients"] if sent["recipients"] is not None else list(inboxes)
    since = sent["at"]
    out = set()
    for user_id in users:
        for entry in reversed(inboxes.get(user_id, ())):
            if entry.sent_at < since:
                break
            if entry.request_id == request_id:
                if entry.read:
                    out.add(user_id)
                break
    return out


def clicked_users(channel: Channel, request_id: str, url: str | None = None) -> set[str]:
    """Users who opened `url` (any link when None) in the request's messages."""
    clicks = channel.link_clicks.get(request_id, {})
    if url is not None:
        return set(clicks.get(url, ()))
    return set().union(*clicks.values()) if clicks else set()


def _url_seq(messages: list[dict[str, Any]], url: str) -> int:
    """1-based position of the first message that contains the URL."""
    needle = json.dumps(url)[1:-1]
    for seq, message in enumerate(messages, start=1):
        if needle in json.dumps(message, ensure_ascii=False):
            return seq
    return 1


@line_api("insight_message_event", limit="hourly60")
async def message_event(request: Request, call: Call) -> Response:
    request_id = request.query_params.get("requestId", "")
    if not request_id:
        require([("requestId", "must be specified")])
    channel = call.channel
    sent = sent_request(channel, request_id)
    if sent is None:
        raise not_found()
    impressed = impressed_users(channel, request_id)
    clicks = channel.link_clicks.get(request_id, {})
    clickers = clicked_users(channel, request_id)
    null_media = dict.fromkeys(MEDIA_FIELDS)
    overview = {
        "requestId": request_id,
        "timestamp": int(sent["at"]),
        "delivered": sent["delivered"],
        "uniqueImpression": hidden_under_floor(len(impressed)),
        "uniqueClick": hidden_under_floor(len(clickers)),
        "uniqueMediaPlayed": None,
        "uniqueMediaPlayed100Percent": None,
    }
    if overview["delivered"] is None:
        # LINE: null until every message is sent; insight.yml does not let it be null, so
        # the emulator leaves it out (clients read both as "no value")
        del overview["delivered"]
    # a read displays every bubble once; rows whose figures are all hidden are left out,
    # so under the floor both arrays are empty, as LINE answers
    impressions = hidden_under_floor(len(impressed))
    messages = [
        {"seq": seq, "impression": impressions, **null_media}
        for seq in range(1, len(sent["messages"]) + 1)
        if impressions is not None
    ]
    click_rows = [
        {
            "seq": _url_seq(sent["messages"], url),
            "url": url,
            "click": len(users),
            "uniqueClick": len(users),
            "uniqueClickOfRequest": len(users),
        }
        for url, users in clicks.items()
        if hidden_under_floor(len(users)) is not None
    ]
    return JSONResponse({"overview": overview, "messages": messages, "clicks": click_rows})


def _date_param(request: Request, call: Call, *, required: bool) -> str:
    """The `date` (yyyyMMdd, JST); insight answers a bad one with a bare 'Bad Request'."""
    date = request.query_params.get("date")
    if date is None and not required:
        return jst_date(call.now - 86400)  # yesterday
    if date is None:
        raise LineError(400, "date is required")
    if not is_date(date):
        raise LineError(400, "Bad Request")
    return date


def _end_of_day(date: str) -> float:
    """Epoch seconds of the midnight (JST) that ends `date`."""
    day = datetime.strptime(date, "%Y%m%d").replace(tzinfo=JST)
    return (day + timedelta(days=1)).timestamp()


@line_api("insight_message_delivery", limit="hourly60")
async def message_delivery(request: Request, call: Call) -> Response:
    date = _date_param(request, call, required=True)
    if date < DELIVERIES_COUNTED_SINCE:
        return JSONResponse({"status": "out_of_service"})
    if date >= jst_date(call.now):  # counted after the day ends
        return JSONResponse({"status": "unready"})
    counts = call.channel.delivery_counts
    body: dict[str, Any] = {"status": "ready"}
    for name, kind in DELIVERY_FIELDS.items():
        n = counts.get((kind, date), 0)
        if n:  # LINE leaves out kinds with no deliveries that day
            body[name] = n
    return JSONResponse(body)


@line_api("insight_followers", limit="hourly60")
async def followers(request: Request, call: Call) -> Response:
    date = _date_param(request, call, required=False)
    if date < FOLLOWERS_COUNTED_SINCE:
        return JSONResponse({"status": "out_of_service"})
    if date >= jst_date(call.now):
        return JSONResponse({"status": "unready"})
    end = _end_of_day(date)
    added = blocks = reach = 0
    for friend in call.channel.friends.values():
        first = friend.first_followed_at or friend.followed_at
        if first is None or first >= end:
            continue
        added += 1  # first-time adds never decrease
        blocked_then = friend.blocked and friend.blocked_at is not None and friend.blocked_at < end
        if blocked_then:
            blocks += 1
            continue
        following_then = (friend.is_friend or friend.blocked) and (
            friend.followed_at is not None and friend.followed_at < end
        )
        if following_then and has_demographics(friend):
            reach += 1
    return JSONResponse(
        {"status": "ready", "followers": added, "targetedReaches": reach, "blocks": blocks}
    )


routes = [
    Route("/v2/bot/insight/message/event", message_event, methods=["GET"]),
    Route("/v2/bot/insight/message/delivery", message_delivery, methods=["GET"]),
    Route("/v2/bot/insight/followers", followers, methods=["GET"]),
]
