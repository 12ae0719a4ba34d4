"""Rich menus: objects, images, the default menu, per-user links and aliases (batch control
is in richmenu_batch.py).

LINE_PLATFORM.md §7. Images are served on the same paths as api-data.line.me. Bulk link and
bulk unlink answer 202 like LINE and take effect before the answer, a valid instance of
"finishes asynchronously".
"""

from __future__ import annotations

import re
import secrets
import struct
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from enishi.emulator.api.base import (
    Call,
    JSONResponse,
    json_object,
    line_api,
    require,
)
from enishi.emulator.errors import LineError, invalid_parameter, invalid_property, not_found
from enishi.emulator.state import Channel
from enishi.emulator.validation import validate_rich_menu, validate_user_id

RICH_MENUS_MAX = 1000
ALIASES_MAX = 1000
IMAGE_MAX_BYTES = 1024 * 1024
BULK_USERS_MAX = 500
ALIAS_ID = re.compile(r"^[a-z0-9_-]{1,32}$")
RICH_MENU_ID = re.compile(r"^richmenu-[0-9a-f]{32}$")
IMAGE_TYPES = {"image/jpeg": "jpeg", "image/png": "png"}

NEEDS_IMAGE = "must upload richmenu image before applying it to user"
IMAGE_UPLOADED = "An image has already been uploaded to the richmenu"
IMAGE_SIZE_NOT_ALLOWED = "The image size is not allowed for richmenu"
INVALID_RICH_MENU_ID = "invalid richMenuId"
INVALID_USER_ID = "The value for the 'userId' parameter is invalid"
NO_DEFAULT = "no default richmenu"
USER_HAS_NONE = "the user has no richmenu"
ALIAS_NOT_FOUND = "richmenu alias not found"
ALIAS_CONFLICT = "conflict richmenu alias id"
RICH_MENU_NOT_FOUND = "richmenu not found"


def new_rich_menu_id() -> str:
    return "richmenu-" + secrets.token_hex(16)


def _menu(call: Call, rich_menu_id: str) -> dict[str, Any]:
    menu = call.channel.rich_menus.get(rich_menu_id)
    if menu is None:
        raise not_found()
    return menu


def _applicable(call: Call, rich_menu_id: str) -> dict[str, Any]:
    """A menu that can be shown to users: it exists and has its image."""
    menu = _menu(call, rich_menu_id)
    if rich_menu_id not in call.channel.rich_menu_images:
        raise LineError(400, NEEDS_IMAGE)
    return menu


def _check_user_id(user_id: str) -> None:
    if not validate_user_id(user_id):
        raise LineError(400, INVALID_USER_ID)


def clear_rich_menu(channel: Channel, rich_menu_id: str) -> None:
    """Forget a deleted menu: its image, the default and per-user links that point at it.
    Aliases stay and dangle, as on LINE (a switch to one answers RICHMENU_NOTFOUND)."""
    channel.rich_menus.pop(rich_menu_id, None)
    channel.rich_menu_images.pop(rich_menu_id, None)
    if channel.default_rich_menu_id == rich_menu_id:
        channel.default_rich_menu_id = None
    for friend in channel.friends.values():
        if friend.rich_menu_id == rich_menu_id:
            friend.rich_menu_id = None


# --- rich menu objects ---


async def _rich_menu_body(request: Request) -> dict[str, Any]:
    body = await json_object(request)
    require(validate_rich_menu(body))
    return body


@line_api("create_rich_menu", limit="hourly100")
async def create(request: Request, call: Call) -> Response:
    body = await _rich_menu_body(request)
    menus = call.channel.rich_menus
    if len(menus) >= RICH_MENUS_MAX:
        raise LineError(400, f"The number of rich menus exceeds the limit ({RICH_MENUS_MAX})")
    rich_menu_id = new_rich_menu_id()
    menus[rich_menu_id] = {
        "richMenuId": rich_menu_id,
        "size": {"width": body["size"]["width"], "height": body["size"]["height"]},
        "selected": body["selected"],
        "name": body["name"],
        "chatBarText": body["chatBarText"],
        "areas": body["areas"],
    }
    return JSONResponse({"richMenuId": rich_menu_id})


@line_api("validate_rich_menu")
async def validate(request: Request, call: Call) -> Response:
    await _rich_menu_body(request)
    return JSONResponse({})


@line_api("get_rich_menu")
async def get(request: Request, call: Call) -> Response:
    return JSONResponse(_menu(call, request.path_params["rich_menu_id"]))


@line_api("list_rich_menus")
async def list_menus(request: Request, call: Call) -> Response:
    return JSONResponse({"richmenus": list(call.channel.rich_menus.values())})


@line_api("delete_rich_menu", limit="hourly100")
async def delete(request: Request, call: Call) -> Response:
    rich_menu_id = request.path_params["rich_menu_id"]
    _menu(call, rich_menu_id)
    clear_rich_menu(call.channel, rich_menu_id)
    return JSONResponse({})


# --- images (api-data.line.me) ---


def image_size(data: bytes, kind: str) -> tuple[int, int] | None:
    """(width, height) from a PNG IHDR or a JPEG SOF header; None if the bytes are not a
    well-formed image of that kind."""
    if kind == "png":
        if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
            return None
        return struct.unpack(">II", data[16:24])
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # standalone markers
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        if marker in (0xD9, 0xDA) or length < 2:  # end of image / start of scan: no SOF
            return None
        i += 2 + length
    return None


@line_api("upload_rich_menu_image")
async def upload_image(request: Request, call: Call) -> Response:
    rich_menu_id = request.path_params["rich_menu_id"]
    menu = _menu(call, rich_menu_id)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    kind = IMAGE_TYPES.get(content_type)
    if kind is None:
        raise LineError(415, "Unsupported media type")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > IMAGE_MAX_BYTES:
        raise LineError(413, "Request Entity Too Large")
    data = await request.body()
    if len(data) > IMAGE_MAX_BYTES:
        raise LineError(413, "Request Entity Too Large")
    if rich_menu_id in call.channel.rich_menu_images:
        raise LineError(400, IMAGE_UPLOADED)
    size = image_size(data, kind)
    if size is None:
        raise LineError(400, f"The image is not a valid {kind.upper()} image")
    if size != (menu["size"]["width"], menu["size"]["height"]):
        raise LineError(400, IMAGE_SIZE_NOT_ALLOWED)
    call.channel.rich_menu_images[rich_menu_id] = (content_type, data)
    return JSONResponse({})


@line_api("download_rich_menu_image")
async def download_image(request: Request, call: Call) -> Response:
    rich_menu_id = request.path_params["rich_menu_id"]
    _menu(call, rich_menu_id)
    image = call.channel.rich_menu_images.get(rich_menu_id)
    if image is None:
        raise not_found()
    content_type, data = image
    return Response(data, media_type=content_type)


# --- default rich menu ---


@line_api("set_default_rich_menu")
async def set_default(request: Request, call: Call) -> Response:
    rich_menu_id = request.path_params["rich_menu_id"]
    _applicable(call, rich_menu_id)
    call.channel.default_rich_menu_id = rich_menu_id
    return JSONResponse({})


@line_api("get_default_rich_menu")
async def get_default(request: Request, call: Call) -> Response:
    rich_menu_id = call.channel.default_rich_menu_id
    if rich_menu_id is None:
        raise not_found(NO_DEFAULT)
    return JSONResponse({"richMenuId": rich_menu_id})


@line_api("cancel_default_rich_menu")
async def cancel_default(request: Request, call: Call) -> Response:
    call.channel.default_rich_menu_id = None
    return JSONResponse({})


# --- per-user links ---


@line_api("link_rich_menu")
async def link(request: Request, call: Call) -> Response:
    user_id = request.path_params["user_id"]
    _check_user_id(user_id)
    rich_menu_id = request.path_params["rich_menu_id"]
    _applicable(call, rich_menu_id)
    friend = call.channel.friends.get(user_id)
    if friend is not None and friend.is_friend:  # 200 for anyone, linked for friends only
        friend.rich_menu_id = rich_menu_id
    return JSONResponse({})


@line_api("unlink_rich_menu")
async def unlink(request: Request, call: Call) -> Response:
    user_id = request.path_params["user_id"]
    _check_user_id(user_id)
    friend = call.channel.friends.get(user_id)
    if friend is not None:
        friend.rich_menu_id = None
    return JSONResponse({})


@line_api("get_user_rich_menu")
async def get_user_menu(request: Request, call: Call) -> Response:
    user_id = request.path_params["user_id"]
    _check_user_id(user_id)
    friend = call.channel.friends.get(user_id)
    if friend is None or not friend.is_friend or friend.rich_menu_id is None:
        raise not_found(USER_HAS_NONE)
    return JSONResponse({"richMenuId": friend.rich_menu_id})


def _user_ids(body: dict[str, Any]) -> list[tuple[str, str]]:
    """Problems with `userIds`; a malformed ID is LINE's property error, raised at once."""
    user_ids = body.get("userIds")
    if user_ids is None:
        return [("userIds", "must be specified")]
    if not isinstance(user_ids, list) or not 1 <= len(user_ids) <= BULK_USERS_MAX:
        return [("userIds", f"Size must be between 1 and {BULK_USERS_MAX}")]
    for i, uid in enumerate(user_ids):
        if not validate_user_id(uid):
            raise invalid_property(f"'userIds[{i}]'")
    return []


def rich_menu_id_problems(value: Any, prop: str) -> list[tuple[str, str]]:
    if not isinstance(value, str) or not value:
        return [(prop, "must be specified")]
    if not RICH_MENU_ID.match(value):
        return [(prop, INVALID_RICH_MENU_ID)]
    return []


@line_api("bulk_link_rich_menu")
async def bulk_link(request: Request, call: Call) -> Response:
    body = await json_object(request)
    problems = _user_ids(body)
    rich_menu_id = body.get("richMenuId")
    require(rich_menu_id_problems(rich_menu_id, "richMenuId") + problems)
    if rich_menu_id not in call.channel.rich_menus:
        raise not_found(RICH_MENU_NOT_FOUND)
    _applicable(call, rich_menu_id)
    friends = call.channel.friends
    for user_id in body["userIds"]:
        friend = friends.get(user_id)
        if friend is not None and friend.is_friend:
            friend.rich_menu_id = rich_menu_id
    return JSONResponse({}, status_code=202)


@line_api("bulk_unlink_rich_menu")
async def bulk_unlink(request: Request, call: Call) -> Response:
    body = await json_object(request)
    require(_user_ids(body))
    friends = call.channel.friends
    for user_id in body["userIds"]:
        friend = friends.get(user_id)
        if friend is not None:
            friend.rich_menu_id = None
    return JSONResponse({}, status_code=202)


# --- aliases ---


def _alias_target(call: Call, body: dict[str, Any]) -> str:
    """The menu an alias points at; LINE answers 'richmenu not found' both for a missing
    menu and for one without its image."""
    rich_menu_id = body.get("richMenuId")
    require(rich_menu_id_problems(rich_menu_id, "richMenuId"))
    if (
        rich_menu_id not in call.channel.rich_menus
        or rich_menu_id not in call.channel.rich_menu_images
    ):
        raise LineError(400, RICH_MENU_NOT_FOUND)
    return rich_menu_id


@line_api("create_rich_menu_alias")
async def create_alias(request: Request, call: Call) -> Response:
    body = await json_object(request)
    alias_id = body.get("richMenuAliasId")
    if not isinstance(alias_id, str) or not alias_id:
        require([("richMenuAliasId", "must be specified")])
    if not ALIAS_ID.match(alias_id):
        require([("richMenuAliasId", f'Must match "{ALIAS_ID.pattern}"')])
    rich_menu_id = _alias_target(call, body)
    aliases = call.channel.rich_menu_aliases
    if alias_id in aliases:
        raise LineError(400, ALIAS_CONFLICT)
    if len(aliases) >= ALIASES_MAX:
        raise LineError(400, f"The number of rich menu aliases exceeds the limit ({ALIASES_MAX})")
    aliases[alias_id] = rich_menu_id
    return JSONResponse({})


def _alias(call: Call, alias_id: str) -> str:
    if not ALIAS_ID.match(alias_id):
        raise invalid_parameter("richMenuAliasId")
    rich_menu_id = call.channel.rich_menu_aliases.get(alias_id)
    if rich_menu_id is None:
        raise not_found(ALIAS_NOT_FOUND)
    return rich_menu_id


@line_api("get_rich_menu_alias")
async def get_alias(request: Request, call: Call) -> Response:
    alias_id = request.path_params["alias_id"]
    return JSONResponse({"richMenuAliasId": alias_id, "richMenuId": _alias(call, alias_id)})


@line_api("update_rich_menu_alias")
async def update_alias(request: Request, call: Call) -> Response:
    alias_id = request.path_params["alias_id"]
    _alias(call, alias_id)
    body = await json_object(request)
    call.channel.rich_menu_aliases[alias_id] = _alias_target(call, body)
    return JSONResponse({})


@line_api("delete_rich_menu_alias", limit="hourly100")
async def delete_alias(request: Request, call: Call) -> Response:
    alias_id = request.path_params["alias_id"]
    _alias(call, alias_id)
    del call.channel.rich_menu_aliases[alias_id]
    return JSONResponse({})


@line_api("list_rich_menu_aliases")
async def list_aliases(request: Request, call: Call) -> Response:
    aliases = call.channel.rich_menu_aliases
    return JSONResponse(
        {"aliases": [{"richMenuAliasId": a, "richMenuId": r} for a, r in aliases.items()]}
    )


R = "/v2/bot/richmenu"
routes = [
    # literal paths before the templated ones they would otherwise match
    Route(R, create, methods=["POST"]),
    Route(R + "/validate", validate, methods=["POST"]),
    Route(R + "/list", list_menus, methods=["GET"]),
    Route(R + "/bulk/link", bulk_link, methods=["POST"]),
    Route(R + "/bulk/unlink", bulk_unlink, methods=["POST"]),
    Route(R + "/alias", create_alias, methods=["POST"]),
    Route(R + "/alias/list", list_aliases, methods=["GET"]),
    Route(R + "/alias/{alias_id}", get_alias, methods=["GET"]),
    Route(R + "/alias/{alias_id}", update_alias, methods=["POST"]),
    Route(R + "/alias/{alias_id}", delete_alias, methods=["DELETE"]),
    Route(R + "/{rich_menu_id}/content", upload_image, methods=["POST"]),
    Route(R + "/{rich_menu_id}/content", download_image, methods=["GET"]),
    Route(R + "/{rich_menu_id}", get, methods=["GET"]),
    Route(R + "/{rich_menu_id}", delete, methods=["DELETE"]),
    Route("/v2/bot/user/all/richmenu/{rich_menu_id}", set_default, methods=["POST"]),
    Route("/v2/bot/user/all/richmenu", get_default, methods=["GET"]),
    Route("/v2/bot/user/all/richmenu", cancel_default, methods=["DELETE"]),
    Route("/v2/bot/user/{user_id}/richmenu/{rich_menu_id}", link, methods=["POST"]),
    Route("/v2/bot/user/{user_id}/richmenu", get_user_menu, methods=["GET"]),
    Route("/v2/bot/user/{user_id}/richmenu", unlink, methods=["DELETE"]),
]
