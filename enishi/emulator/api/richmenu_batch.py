"""Rich menu batch control: replace or unlink the menus of every user linked to a menu, and
its progress (LINE_PLATFORM.md §7). The batch takes effect before the 202 is answered, so
its progress reads `succeeded` at once.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from enishi.emulator.api.base import (
    Call,
    JSONResponse,
    json_object,
    line_api,
    progress_request_id,
    require,
)
from enishi.emulator.api.richmenu import (
    NEEDS_IMAGE,
    RICH_MENU_NOT_FOUND,
    R,
    rich_menu_id_problems,
)
from enishi.emulator.clock import iso_ms
from enishi.emulator.errors import LineError, not_found
from enishi.emulator.state import Channel

BATCH_OPERATIONS_MAX = 1000
BATCH_TTL_S = 14 * 86400
RESUME_KEY = re.compile(r"^[a-zA-Z0-9_-]{1,100}$")


def _batch_operations(call: Call, body: dict[str, Any]) -> list[dict[str, Any]]:
    operations = body.get("operations")
    if operations is None:
        require([("operations", "must be specified")])
    if not isinstance(operations, list) or not 1 <= len(operations) <= BATCH_OPERATIONS_MAX:
        require([("operations", f"Size must be between 1 and {BATCH_OPERATIONS_MAX}")])
    problems: list[tuple[str, str]] = []
    kinds, sources = set(), set()
    for i, op in enumerate(operations):
        path = f"operations[{i}]"
        if not isinstance(op, dict):
            problems.append((path, "Must be an object"))
            continue
        kind = op.get("type")
        if kind not in ("link", "unlink", "unlinkAll"):
            problems.append(
                (f"{path}.type", "Must be one of the following values: [link, unlink, unlinkAll]")
            )
            continue
        kinds.add(kind)
        for key in {"link": ("from", "to"), "unlink": ("from",), "unlinkAll": ()}[kind]:
            problems += rich_menu_id_problems(op.get(key), f"{path}.{key}")
        source = op.get("from")
        if kind != "unlinkAll" and isinstance(source, str) and source in sources:
            problems.append(("operations[].from", f"from richmenu ({source}) is duplicated"))
        sources.add(source)
    if "unlinkAll" in kinds and len(kinds) > 1:
        problems.append(("operations[].type", "'unlinkAll' type can't be combined with other type"))
    key = body.get("resumeRequestKey")
    if key is not None and (not isinstance(key, str) or not RESUME_KEY.match(key)):
        problems.append(("resumeRequestKey", f'Must match "{RESUME_KEY.pattern}"'))
    require(problems)
    channel = call.channel
    for op in operations:  # well-formed IDs: now they must exist, and a new menu be shown
        for key in ("from", "to") if op["type"] != "unlinkAll" else ():
            if key in op and op[key] not in channel.rich_menus:
                raise not_found(RICH_MENU_NOT_FOUND)
        if op["type"] == "link" and op["to"] not in channel.rich_menu_images:
            raise LineError(400, NEEDS_IMAGE)
    return operations


def apply_batch(channel: Channel, operations: list[dict[str, Any]]) -> None:
    for op in operations:
        for friend in channel.friends.values():
            current = friend.rich_menu_id
            if current is None:
                continue
            if op["type"] == "unlinkAll" or current == op["from"]:
                friend.rich_menu_id = op["to"] if op["type"] == "link" else None


@line_api("rich_menu_batch", limit="richmenu_batch")
async def batch(request: Request, call: Call) -> Response:
    body = await json_object(request)
    operations = _batch_operations(call, body)
    batches = call.channel.rich_menu_batches
    for request_id in [r for r, b in batches.items() if call.now - b["acceptedAt"] > BATCH_TTL_S]:
        del batches[request_id]
    apply_batch(call.channel, operations)
    batches[call.request_id] = {
        "phase": "succeeded",
        "acceptedAt": call.now,
        "completedAt": call.now,
        "resumeRequestKey": body.get("resumeRequestKey"),
    }
    return JSONResponse({}, status_code=202)


@line_api("validate_rich_menu_batch")
async def validate_batch(request: Request, call: Call) -> Response:
    _batch_operations(call, await json_object(request))
    return JSONResponse({})


@line_api("rich_menu_batch_progress", limit="hourly100")
async def batch_progress(request: Request, call: Call) -> Response:
    request_id = progress_request_id(request)
    record = call.channel.rich_menu_batches.get(request_id)
    if record is None or call.now - record["acceptedAt"] > BATCH_TTL_S:
        raise not_found()
    body = {"phase": record["phase"], "acceptedTime": iso_ms(record["acceptedAt"])}
    if record["completedAt"] is not None:
        body["completedTime"] = iso_ms(record["completedAt"])
    return JSONResponse(body)


routes = [
    Route(R + "/batch", batch, methods=["POST"]),
    Route(R + "/validate/batch", validate_batch, methods=["POST"]),
    Route(R + "/progress/batch", batch_progress, methods=["GET"]),
]
