"""Narrowcast: audiences, redelivery and demographic filters, sent in the background, and its
progress (LINE_PLATFORM.md §2, §8; messaging-api.yml NarrowcastRequest/ProgressResponse).

The request is checked and answered 202; a background task then filters the recipients
(phase `waiting`), delivers (`sending`) and ends `succeeded` or `failed` with LINE's error
codes. The job record lives in `channel.narrowcasts[request_id]`; its `recipients` are what
a later redelivery object and the insight endpoints read.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from enishi.emulator.api.audience import status_of
from enishi.emulator.api.base import (
    Call,
    JSONResponse,
    json_object,
    line_api,
    progress_request_id,
    require,
)
from enishi.emulator.api.insight import targeted_reach
from enishi.emulator.clock import iso_ms
from enishi.emulator.delivery import deliver, reachable, remaining_quota
from enishi.emulator.errors import MONTHLY_LIMIT, LineError, not_found
from enishi.emulator.runtime import Emulator
from enishi.emulator.state import Channel, Friend
from enishi.emulator.validation import validate_narrowcast

log = logging.getLogger(__name__)

RECIPIENTS_MIN = 50  # final recipients with attributes, redelivery or others' audiences
AUDIENCE_MIN = 50  # each audience that is not an upload audience of this account
TARGET_REACH_MIN = 100  # target reach needed to use attributes at all
PROGRESS_TTL_S = 14 * 86400  # progress readable, and redelivery allowed, for 14 days
PHASE_DELAY_S = 0.05  # real seconds spent in `waiting` and before `sending`; tests raise it
SEND_CHUNK = 2000  # recipients delivered between yields to the event loop
DAY = 86400.0

FORBID_PARTIAL_NEEDS_QUOTA = (
    "The option forbidPartialDelivery must be used with upToRemainingQuota."
)
NOT_ENOUGH_FRIENDS = "Your account does not have enough friends"
# errorCode -> failedDescription (LINE's exact descriptions are not documented)
FAILURES = {
    1: "An internal error occurred.",
    2: "There weren't enough recipients.",
    4: "An audience of less than 50 recipients is included as a condition of sending.",
    5: "Message delivery has been canceled to prevent partial delivery.",
}


# --- checks at request time ---


def _leaves(node: dict[str, Any]) -> list[dict[str, Any]]:
    kind = node.get("type")
    if kind in ("audience", "redelivery"):
        return [node]
    if kind != "operator":
        return []
    if isinstance(node.get("not"), dict):
        return _leaves(node["not"])
    return [
        leaf for key in ("and", "or") for child in node.get(key) or () for leaf in _leaves(child)
    ]


def _check_references(channel: Channel, recipient: dict[str, Any] | None, now: float) -> None:
    """Every audience must be READY and every redelivery a finished narrowcast < 14 days."""
    for leaf in _leaves(recipient) if recipient else ():
        if leaf["type"] == "audience":
            audience_group_id = leaf["audienceGroupId"]
            audience = channel.audiences.get(audience_group_id)
            if audience is None or status_of(audience, now) != "READY":
                raise LineError(400, f"Invalid audience group id: {audience_group_id}")
        else:
            request_id = leaf["requestId"]
            earlier = channel.narrowcasts.get(request_id)
            if (
                earlier is None
                or earlier["phase"] != "succeeded"
                or now - earlier["acceptedAt"] >= PROGRESS_TTL_S
            ):
                raise LineError(400, f"Invalid request id: {request_id}")


@line_api("narrowcast", limit="hourly60", retry_key=True)
async def narrowcast(request: Request, call: Call) -> Response:
    body = await json_object(request)
    limit = body.get("limit")
    if (
        isinstance(limit, dict)
        and limit.get("forbidPartialDelivery") is True
        and limit.get("upToRemainingQuota") is not True
    ):
        raise LineError(400, FORBID_PARTIAL_NEEDS_QUOTA)
    require(validate_narrowcast(body))
    channel, now = call.channel, call.now
    recipient = body.get("recipient")
    demographic = (body.get("filter") or {}).get("demographic")
    _check_references(channel, recipient, now)
    if demographic is not None and targeted_reach(channel) < TARGET_REACH_MIN:
        raise LineError(403, NOT_ENOUGH_FRIENDS)
    if remaining_quota(channel, now) == 0:
        raise LineError(429, MONTHLY_LIMIT)
    channel.narrowcasts[call.request_id] = {
        "requestId": call.request_id,
        "phase": "waiting",
        "acceptedAt": now,
        "sentAt": None,
        "completedAt": None,
        "messages": body["messages"],
        "recipient": recipient,
        "demographic": demographic,
        "limit": limit or {},
        "retryKey": call.retry_key,
        "targetCount": None,
        "successCount": 0,
        "failureCount": 0,
        "errorCode": None,
        "failedDescription": None,
        "recipients": [],
    }
    call.accept_retry_key()
    _start(call.emulator, channel, call.request_id)
    return JSONResponse({}, status_code=202)


# --- the background job ---


def _task_name(channel: Channel, request_id: str) -> str:
    return f"narrowcast:{channel.channel_id}:{request_id}"


def _start(emulator: Emulator, channel: Channel, request_id: str) -> None:
    task = asyncio.get_running_loop().create_task(
        _run(emulator, channel, request_id), name=_task_name(channel, request_id)
    )
    emulator.background.append(task)

    def forget(done: asyncio.Task) -> None:
        if done in emulator.background:
            emulator.background.remove(done)

    task.add_done_callback(forget)


def _resume_if_orphaned(emulator: Emulator, channel: Channel, record: dict[str, Any]) -> None:
    """A job accepted before a restart (state file) picks up where it was."""
    if record["phase"] in ("succeeded", "failed"):
        return
    name = _task_name(channel, record["requestId"])
    if not any(isinstance(t, asyncio.Task) and t.get_name() == name for t in emulator.background):
        _start(emulator, channel, record["requestId"])


def _finish(record: dict[str, Any], now: float, error_code: int | None = None) -> None:
    record["completedAt"] = now
    if error_code is None:
        record["phase"] = "succeeded"
    else:
        record.update(phase="failed", errorCode=error_code, failedDescription=FAILURES[error_code])


async def _run(emulator: Emulator, channel: Channel, request_id: str) -> None:
    record = channel.narrowcasts[request_id]
    clock = emulator.state.clock
    try:
        if record["phase"] == "waiting":
            await asyncio.sleep(PHASE_DELAY_S)
            targets, error_code = select_targets(channel, record, clock.now())
            if error_code is not None:
                _finish(record, clock.now(), error_code)
                return
            record.update(
                phase="sending", targetCount=len(targets), sentAt=clock.now(), recipients=targets
            )
        await asyncio.sleep(PHASE_DELAY_S)
        await _send(emulator, channel, record)
    except Exception:
        log.exception("narrowcast %s failed", request_id)
        _finish(record, clock.now(), 1)


async def _send(emulator: Emulator, channel: Channel, record: dict[str, Any]) -> None:
    state = emulator.state
    targets = record["recipients"]
    delivered: list[str] = []
    for start in range(record["successCount"] + record["failureCount"], len(targets), SEND_CHUNK):
        chunk = targets[start : start + SEND_CHUNK]
        ready = reachable(channel, chunk)  # friends who blocked since are failures
        deliver(
            state,
            channel,
            ready,
            record["messages"],
            "narrowcast",
            record["requestId"],
            retry_key=record["retryKey"],
        )
        delivered.extend(ready)
        record["successCount"] += len(ready)
        record["failureCount"] += len(chunk) - len(ready)
        await asyncio.sleep(0)
    if record["failureCount"]:
        received = set(delivered)
        record["recipients"] = [uid for uid in targets if uid in received]
    _finish(record, state.clock.now())


def select_targets(
    channel: Channel, record: dict[str, Any], now: float
) -> tuple[list[str], int | None]:
    """Recipients after audiences, redelivery, filter, LINE's minimums, limit and quota;
    or the errorCode the job fails with."""
    following = {uid for uid, f in channel.friends.items() if f.is_friend}
    recipient, demographic = record["recipient"], record["demographic"]
    candidates = following
    minimum_applies = demographic is not None
    if recipient is not None:
        for leaf in _leaves(recipient):
            if leaf["type"] == "redelivery":
                minimum_applies = True
                continue
            audience = channel.audiences.get(leaf["audienceGroupId"])
            if audience is None:
                return [], 1  # deleted after the request was accepted
            if audience["type"] != "UPLOAD":  # only own upload audiences are exempt
                minimum_applies = True
                if len(audience["members"] & following) < AUDIENCE_MIN:
                    return [], 4
        candidates = _resolve(channel, recipient, following) & following
    if demographic is not None:
        friends = channel.friends
        candidates = {uid for uid in candidates if matches(friends[uid], demographic, now)}
    if minimum_applies and len(candidates) < RECIPIENTS_MIN:
        return [], 2
    ordered = sorted(candidates)
    limit = record["limit"]
    caps = []
    if isinstance(limit.get("max"), int):
        caps.append(limit["max"])
    remaining = remaining_quota(channel, now)
    if limit.get("upToRemainingQuota") and remaining is not None:
        caps.append(remaining)
    cap = min(caps) if caps else None
    if cap is not None and len(ordered) > cap:
        if limit.get("forbidPartialDelivery"):
            return [], 5
        ordered = sorted(random.Random(record["requestId"]).sample(ordered, cap))
    if remaining is not None and len(ordered) > remaining:
        return [], 1  # the quota could not be reserved when delivery started
    return ordered, None


def _resolve(channel: Channel, node: dict[str, Any], universe: set[str]) -> set[str]:
    kind = node["type"]
    if kind == "audience":
        return set(channel.audiences[node["audienceGroupId"]]["members"])
    if kind == "redelivery":
        earlier = channel.narrowcasts.get(node["requestId"])
        return set(earlier["recipients"]) if earlier else set()
    if node.get("not") is not None:
        return universe - _resolve(channel, node["not"], universe)
    children = [_resolve(channel, child, universe) for child in node.get("and") or ()]
    if children:
        return set.intersection(*children)
    return set().union(*(_resolve(channel, child, universe) for child in node.get("or") or ()))


def _code_number(code: str) -> int:
    return int(code.rpartition("_")[2])


def matches(friend: Friend, node: dict[str, Any], now: float) -> bool:
    """Does the friend meet a demographic filter object (attributes as of now)?"""
    kind = node["type"]
    traits = friend.traits
    if kind == "operator":
        if node.get("not") is not None:
            return not matches(friend, node["not"], now)
        if node.get("and") is not None:
            return all(matches(friend, child, now) for child in node["and"])
        return any(matches(friend, child, now) for child in node.get("or") or ())
    if kind in ("gender", "appType", "area"):
        value = {"gender": traits.gender, "appType": traits.app_type, "area": traits.prefecture}[
            kind
        ]
        return value in node["oneOf"]
    if kind == "age":
        if not traits.age_band.startswith("age_"):
            return False
        value = float(_code_number(traits.age_band))
    else:  # subscriptionPeriod: days since the friend first added the account
        since = friend.first_followed_at or friend.followed_at
        if since is None:
            return False
        value = (now - since) / DAY
    gte, lt = node.get("gte"), node.get("lt")
    return (gte is None or value >= _code_number(gte)) and (lt is None or value < _code_number(lt))


# --- progress ---


@line_api("narrowcast_progress")
async def progress(request: Request, call: Call) -> Response:
    request_id = progress_request_id(request)
    record = call.channel.narrowcasts.get(request_id)
    if record is None or call.now - record["acceptedAt"] >= PROGRESS_TTL_S:
        raise not_found()
    _resume_if_orphaned(call.emulator, call.channel, record)
    body: dict[str, Any] = {"phase": record["phase"], "acceptedTime": iso_ms(record["acceptedAt"])}
    if record["targetCount"] is not None:
        body.update(
            successCount=record["successCount"],
            failureCount=record["failureCount"],
            targetCount=record["targetCount"],
        )
    if record["phase"] == "failed":
        body.update(errorCode=record["errorCode"], failedDescription=record["failedDescription"])
    if record["completedAt"] is not None:
        body["completedTime"] = iso_ms(record["completedAt"])
    return JSONResponse(body)


routes = [
    Route("/v2/bot/message/narrowcast", narrowcast, methods=["POST"]),
    Route("/v2/bot/message/progress/narrowcast", progress, methods=["GET"]),
]
