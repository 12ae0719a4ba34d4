"""Audiences: upload (JSON), click- and impression-based retargeting, get, list, rename and
delete (LINE_PLATFORM.md §8; manage-audience.yml).

Audiences live in `channel.audiences[audienceGroupId]` as plain dicts; the user IDs are in
their `members` set, which narrowcast reads. Upload jobs finish before the 202 is answered,
so `jobStatus` is FINISHED at once and the 10-concurrent-jobs limit is never reached.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from enishi.emulator.api.base import Call, JSONResponse, json_object, line_api, require
from enishi.emulator.api.insight import clicked_users, impressed_users, sent_request
from enishi.emulator.errors import LineError
from enishi.emulator.state import Channel
from enishi.emulator.validation import validate_user_id

AUDIENCES_MAX = 1000
UPLOAD_IDS_MAX = 10_000
DESCRIPTION_MAX = 120
UPLOAD_DESCRIPTION_MAX = 300
RETENTION_S = 180 * 86400
RETARGETING_WINDOW_S = 60 * 86400
RETARGETING_MIN = 50
JOBS_SHOWN = 50
LIST_SIZE_DEFAULT, LIST_SIZE_MAX = 20, 40
STATUSES = ("IN_PROGRESS", "READY", "FAILED", "EXPIRED", "INACTIVE", "ACTIVATING")
CREATE_ROUTES = ("OA_MANAGER", "MESSAGING_API", "POINT_AD", "AD_MANAGER")
_IFA = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# error code -> LINE's message, where the reference shows it (others answer with the code)
MESSAGES = {
    "AUDIENCE_GROUP_NOT_FOUND": "audience group not found",
    "AUDIENCE_GROUP_NAME_SIZE_OVER": "size over audienceGroupName",
    "UPLOAD_AUDIENCE_GROUP_INVALID_AUDIENCE_ID_FORMAT": "Invalid audience id format",
}


def audience_error(code: str, prop: str | None = None, message: str | None = None) -> LineError:
    """LINE's audience errors carry a code such as AUDIENCE_GROUP_NOT_FOUND in details."""
    message = message or MESSAGES.get(code)
    detail = {"message": code}
    if prop is not None:
        detail["property"] = prop
    return LineError(400, message or code, [detail])


def not_found() -> LineError:
    return audience_error("AUDIENCE_GROUP_NOT_FOUND")


def status_of(audience: dict[str, Any], now: float) -> str:
    if audience.get("failedType"):
        return "FAILED"
    if now >= audience["expireTimestamp"]:
        return "EXPIRED"
    return "READY" if audience["members"] else "IN_PROGRESS"


def audience_members(channel: Channel, audience_group_id: int) -> set[str] | None:
    audience = channel.audiences.get(audience_group_id)
    return None if audience is None else audience["members"]


def summary(audience: dict[str, Any], now: float) -> dict[str, Any]:
    """The AudienceGroup object of get and list."""
    out = {
        "audienceGroupId": audience["audienceGroupId"],
        "type": audience["type"],
        "description": audience["description"],
        "status": status_of(audience, now),
        "audienceCount": len(audience["members"]),
        "created": audience["created"],
        "permission": "READ_WRITE",
        "isIfaAudience": audience["isIfaAudience"],
        "expireTimestamp": audience["expireTimestamp"],
        "createRoute": "MESSAGING_API",
    }
    if audience.get("failedType"):
        out["failedType"] = audience["failedType"]
    for key in ("requestId", "clickUrl"):
        if audience.get(key):
            out[key] = audience[key]
    return out


def _check_description(body: dict[str, Any], key: str = "description") -> str:
    description = body.get(key)
    if description is not None and not isinstance(description, str):
        require([(key, "Must be a string")])
    if not description or not description.strip():
        raise audience_error("AUDIENCE_GROUP_NAME_EMPTY")
    if len(description) > DESCRIPTION_MAX:
        raise audience_error("AUDIENCE_GROUP_NAME_SIZE_OVER")
    if _CONTROL.search(description):
        raise audience_error("AUDIENCE_GROUP_NAME_WRONG")
    return description


def _upload_description(body: dict[str, Any]) -> str | None:
    """The job's optional `uploadDescription`, at most 300 characters."""
    value = body.get("uploadDescription")
    if value is not None and (not isinstance(value, str) or len(value) > UPLOAD_DESCRIPTION_MAX):
        require([("uploadDescription", f"size must be between 0 and {UPLOAD_DESCRIPTION_MAX}")])
    return value


def _check_ids(body: dict[str, Any], ifa: bool, *, required: bool) -> list[str]:
    """The `audiences[].id` list; one bad ID fails the whole request."""
    audiences = body.get("audiences")
    if audiences is None:
        audiences = []
    if not isinstance(audiences, list):
        require([("audiences", "Must be an array")])
    if len(audiences) > UPLOAD_IDS_MAX:
        raise audience_error("UPLOAD_AUDIENCE_GROUP_TOO_MANY_AUDIENCE_IDS", "audiences")
    if required and not audiences:
        raise audience_error("UPLOAD_AUDIENCE_GROUP_NO_VALID_AUDIENCE_IDS", "audiences")
    ids = []
    for item in audiences:
        uid = item.get("id") if isinstance(item, dict) else None
        valid = isinstance(uid, str) and (_IFA.match(uid) if ifa else validate_user_id(uid))
        if not valid:
            raise audience_error("UPLOAD_AUDIENCE_GROUP_INVALID_AUDIENCE_ID_FORMAT", "audiences")
        ids.append(uid)
    return ids


def _new_audience(call: Call, kind: str, description: str, **extra: Any) -> dict[str, Any]:
    audiences = call.channel.audiences
    if len(audiences) >= AUDIENCES_MAX:
        raise audience_error("AUDIENCE_GROUP_COUNT_MAX_OVER")
    audience_group_id = 10**12 + secrets.randbelow(9 * 10**12)
    while audience_group_id in audiences:
        audience_group_id += 1
    created = int(call.now)
    audience = {
        "audienceGroupId": audience_group_id,
        "type": kind,
        "description": description,
        "created": created,
        "expireTimestamp": created + RETENTION_S,
        "isIfaAudience": False,
        "members": set(),
        "jobs": [],
        "failedType": None,
        **extra,
    }
    audiences[audience_group_id] = audience
    return audience


def _add_job(call: Call, audience: dict[str, Any], ids: list[str], description: str | None) -> None:
    members = audience["members"]
    before = len(members)
    members.update(ids)
    job_id = call.channel.next_audience_job_id
    call.channel.next_audience_job_id += 1
    job = {
        "audienceGroupJobId": job_id,
        "audienceGroupId": audience["audienceGroupId"],
        "type": "DIFF_ADD",
        "jobStatus": "FINISHED",
        "audienceCount": len(members) - before,
        "created": int(call.now),
    }
    if description:
        job["description"] = description
    audience["jobs"].append(job)


def _created_body(audience: dict[str, Any]) -> dict[str, Any]:
    body = {
        "audienceGroupId": audience["audienceGroupId"],
        "createRoute": "MESSAGING_API",
        "type": audience["type"],
        "description": audience["description"],
        "created": audience["created"],
        "permission": "READ_WRITE",
        "expireTimestamp": audience["expireTimestamp"],
        "isIfaAudience": audience["isIfaAudience"],
    }
    for key in ("requestId", "clickUrl"):
        if audience.get(key):
            body[key] = audience[key]
    return body


@line_api("create_audience", limit="audience")
async def create_upload(request: Request, call: Call) -> Response:
    body = await json_object(request)
    description = _check_description(body)
    ifa = body.get("isIfaAudience", False)
    if not isinstance(ifa, bool):
        require([("isIfaAudience", "Must be a boolean")])
    upload_description = _upload_description(body)
    ids = _check_ids(body, ifa, required=False)
    audience = _new_audience(call, "UPLOAD", description, isIfaAudience=ifa)
    if ids:
        _add_job(call, audience, ids, upload_description)
    return JSONResponse(_created_body(audience), status_code=202)


@line_api("add_audience", limit="audience")
async def add_upload(request: Request, call: Call) -> Response:
    body = await json_object(request)
    audience_group_id = body.get("audienceGroupId")
    if type(audience_group_id) is not int:
        require([("audienceGroupId", "must be specified")])
    audience = call.channel.audiences.get(audience_group_id)
    if audience is None or audience["type"] != "UPLOAD":
        raise not_found()
    if status_of(audience, call.now) == "EXPIRED":
        raise audience_error("AUDIENCE_GROUP_CAN_NOT_UPLOAD_STATUS_EXPIRED")
    upload_description = _upload_description(body)
    ids = _check_ids(body, audience["isIfaAudience"], required=True)
    _add_job(call, audience, ids, upload_description)
    return JSONResponse({}, status_code=202)


def _retargeting_source(call: Call, body: dict[str, Any]) -> tuple[str, float]:
    request_id = body.get("requestId")
    if not isinstance(request_id, str) or not request_id:
        require([("requestId", "must be specified")])
    sent = sent_request(call.channel, request_id)
    if sent is None:
        raise audience_error("REQUEST_NOT_FOUND", "requestId")
    if call.now - sent["at"] > RETARGETING_WINDOW_S:
        raise audience_error("TOO_OLD_MESSAGES", "requestId")
    return request_id, sent["at"]


def _settle_retargeting(audience: dict[str, Any], users: set[str]) -> None:
    """Click and impression audiences need 50 users, otherwise they fail."""
    if len(users) < RETARGETING_MIN:
        audience["failedType"] = "AUDIENCE_GROUP_AUDIENCE_INSUFFICIENT"
    else:
        audience["members"] = set(users)


@line_api("create_click_audience", limit="audience")
async def create_click(request: Request, call: Call) -> Response:
    body = await json_object(request)
    description = _check_description(body)
    request_id, _ = _retargeting_source(call, body)
    click_url = body.get("clickUrl")
    if click_url is not None and (not isinstance(click_url, str) or len(click_url) > 2000):
        require([("clickUrl", "Length must be between 0 and 2000")])
    audience = _new_audience(
        call, "CLICK", description, requestId=request_id, clickUrl=click_url or None
    )
    _settle_retargeting(audience, clicked_users(call.channel, request_id, click_url or None))
    return JSONResponse(_created_body(audience), status_code=202)


@line_api("create_imp_audience", limit="audience")
async def create_imp(request: Request, call: Call) -> Response:
    body = await json_object(request)
    description = _check_description(body)
    request_id, _ = _retargeting_source(call, body)
    audience = _new_audience(call, "IMP", description, requestId=request_id)
    _settle_retargeting(audience, impressed_users(call.channel, request_id))
    return JSONResponse(_created_body(audience), status_code=202)


def _audience_from_path(request: Request, call: Call) -> dict[str, Any]:
    raw = request.path_params["audience_group_id"]
    audience = call.channel.audiences.get(int(raw)) if raw.isdigit() else None
    if audience is None:
        raise not_found()
    return audience


@line_api("get_audience", limit="audience")
async def get(request: Request, call: Call) -> Response:
    audience = _audience_from_path(request, call)
    return JSONResponse(
        {"audienceGroup": summary(audience, call.now), "jobs": audience["jobs"][-JOBS_SHOWN:][::-1]}
    )


@line_api("delete_audience", limit="audience")
async def delete(request: Request, call: Call) -> Response:
    audience = _audience_from_path(request, call)
    del call.channel.audiences[audience["audienceGroupId"]]
    return JSONResponse({})


@line_api("rename_audience", limit="audience")
async def rename(request: Request, call: Call) -> Response:
    audience = _audience_from_path(request, call)
    body = await json_object(request)
    audience["description"] = _check_description(body)
    return JSONResponse({})


def _int_param(request: Request, name: str, default: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        if default is None:
            require([(name, "must be specified")])
        return default
    if not raw.isdigit():
        require([(name, "Must be an integer")])
    return int(raw)


def _check_range(name: str, value: int, low: int, high: int | None) -> None:
    """LINE's answer to an out-of-range list parameter: `size: must be ...` with a code."""
    if value < low:
        raise LineError(
            400, f"{name}: must be greater than or equal to {low}", [{"message": "TOO_LOW"}]
        )
    if high is not None and value > high:
        raise LineError(
            400, f"{name}: must be less than or equal to {high}", [{"message": "TOO_HIGH"}]
        )


@line_api("list_audiences", limit="audience")
async def list_audiences(request: Request, call: Call) -> Response:
    page = _int_param(request, "page", None)
    size = _int_param(request, "size", LIST_SIZE_DEFAULT)
    _check_range("page", page, 1, None)
    _check_range("size", size, 1, LIST_SIZE_MAX)
    problems = []
    status = request.query_params.get("status")
    if status is not None and status not in STATUSES:
        problems.append(("status", f"Must be one of the following values: [{', '.join(STATUSES)}]"))
    route = request.query_params.get("createRoute")
    if route is not None and route not in CREATE_ROUTES:
        problems.append(
            ("createRoute", f"Must be one of the following values: [{', '.join(CREATE_ROUTES)}]")
        )
    require(problems)
    description = (request.query_params.get("description") or "").lower()
    now = call.now
    matching = []
    for audience in sorted(
        call.channel.audiences.values(),
        key=lambda a: (a["created"], a["audienceGroupId"]),
        reverse=True,
    ):
        if description and description not in audience["description"].lower():
            continue
        if route is not None and route != "MESSAGING_API":
            continue
        item = summary(audience, now)
        if status is None or item["status"] == status:
            matching.append(item)
    start = (page - 1) * size
    return JSONResponse(
        {
            "audienceGroups": matching[start : start + size],
            "hasNextPage": start + size < len(matching),
            "totalCount": len(matching),
            "readWriteAudienceGroupTotalCount": len(matching),
            "page": page,
            "size": size,
        }
    )


A = "/v2/bot/audienceGroup"
routes = [
    Route(A + "/upload", create_upload, methods=["POST"]),
    Route(A + "/upload", add_upload, methods=["PUT"]),
    Route(A + "/click", create_click, methods=["POST"]),
    Route(A + "/imp", create_imp, methods=["POST"]),
    Route(A + "/list", list_audiences, methods=["GET"]),
    Route(A + "/{audience_group_id}/updateDescription", rename, methods=["PUT"]),
    Route(A + "/{audience_group_id}", get, methods=["GET"]),
    Route(A + "/{audience_group_id}", delete, methods=["DELETE"]),
]
