"""Profiles, followers, bot info, link tokens and the webhook endpoint settings."""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from enishi.emulator.api.base import Call, JSONResponse, json_object, line_api, require
from enishi.emulator.errors import LineError, invalid_parameter, not_found
from enishi.emulator.validation import validate_user_id

FOLLOWERS_DEFAULT_LIMIT = 300
FOLLOWERS_MAX_LIMIT = 1000
FOLLOWERS_TOKEN_TTL_S = 24 * 3600
LINK_TOKEN_TTL_S = 10 * 60
WEBHOOK_URL_MAX = 500
WEBHOOK_NOT_FOUND = "Webhook endpoint not found"
INVALID_WEBHOOK_URL = "Invalid webhook endpoint URL"


@line_api("profile")
async def profile(request: Request, call: Call) -> Response:
    user_id = request.path_params["user_id"]
    if not validate_user_id(user_id):
        raise invalid_parameter("userId")
    friend = call.channel.friends.get(user_id)
    if friend is None or not friend.is_friend:
        raise not_found()
    body: dict[str, Any] = {
        "displayName": friend.display_name,
        "userId": friend.user_id,
        "language": friend.language,
    }
    if friend.picture_url:
        body["pictureUrl"] = friend.picture_url
    if friend.status_message:
        body["statusMessage"] = friend.status_message
    return JSONResponse(body)


@line_api("followers_ids")
async def followers_ids(request: Request, call: Call) -> Response:
    """Pages of followers; `next` is an opaque token (position + expiry) valid 24 h."""
    channel = call.channel
    if not channel.premium:
        raise LineError(403, "Access to this API is not available for your account")
    try:
        limit = int(request.query_params.get("limit", FOLLOWERS_DEFAULT_LIMIT))
    except ValueError:
        limit = -1
    if not 1 <= limit <= FOLLOWERS_MAX_LIMIT:
        require([("limit", f"must be between 1 and {FOLLOWERS_MAX_LIMIT}")])
    start = _decode_start(request.query_params.get("start"))
    ids = call.emulator.follower_order(channel)
    page: list[str] = []
    position = start
    friends = channel.friends
    while position < len(ids) and len(page) < limit:
        friend = friends[ids[position]]
        if friend.is_friend:
            page.append(friend.user_id)
        position += 1
    body: dict[str, Any] = {"userIds": page}
    if position < len(ids):
        body["next"] = _encode_start(position)
    return JSONResponse(body)


def _encode_start(position: int) -> str:
    raw = f"{position}:{int(time.time()) + FOLLOWERS_TOKEN_TTL_S}:{secrets.token_hex(4)}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_start(token: str | None) -> int:
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        position, expires, _ = raw.split(":")
        if int(expires) < time.time():
            raise ValueError("expired")
        return int(position)
    except ValueError:
        raise LineError(400, "Invalid start param") from None


@line_api("bot_info")
async def bot_info(request: Request, call: Call) -> Response:
    channel = call.channel
    body: dict[str, Any] = {
        "userId": channel.bot_user_id,
        "basicId": channel.basic_id,
        "displayName": channel.display_name,
        "chatMode": "bot",
        "markAsReadMode": "auto",
    }
    if channel.picture_url:
        body["pictureUrl"] = channel.picture_url
    return JSONResponse(body)


@line_api("link_token")
async def link_token(request: Request, call: Call) -> Response:
    user_id = request.path_params["user_id"]
    friend = call.channel.friends.get(user_id)
    if friend is None or not friend.is_friend:
        raise LineError(400, "The user hasn't added the LINE Official Account as a friend")
    token = secrets.token_urlsafe(24)
    call.channel.link_tokens[token] = (user_id, call.now + LINK_TOKEN_TTL_S)
    return JSONResponse({"linkToken": token})


@line_api("get_webhook_endpoint", limit="webhook_endpoint")
async def get_webhook_endpoint(request: Request, call: Call) -> Response:
    if not call.channel.webhook_url:
        raise not_found(WEBHOOK_NOT_FOUND)
    return JSONResponse(
        {"endpoint": call.channel.webhook_url, "active": call.channel.webhook_active}
    )


@line_api("set_webhook_endpoint", limit="webhook_endpoint")
async def set_webhook_endpoint(request: Request, call: Call) -> Response:
    body = await json_object(request)
    endpoint = body.get("endpoint")
    _check_endpoint(endpoint)
    call.channel.webhook_url = endpoint
    return JSONResponse({})


@line_api("test_webhook_endpoint", limit="hourly60")
async def test_webhook_endpoint(request: Request, call: Call) -> Response:
    raw = await request.body()
    body = await json_object(request) if raw.strip() else {}
    endpoint = body.get("endpoint")
    if endpoint is not None:
        _check_endpoint(endpoint)
    else:
        endpoint = call.channel.webhook_url
    if not endpoint:
        raise not_found(WEBHOOK_NOT_FOUND)
    result = await call.emulator.webhooks.send_test(call.channel, endpoint)
    return JSONResponse(result)


def _check_endpoint(endpoint: Any) -> None:
    """A missing endpoint is a body error; a bad URL (LINE: not HTTPS, over 500 characters)
    is LINE's plain 400. The emulator also takes http so local CRMs can be tested."""
    if not isinstance(endpoint, str) or not endpoint:
        require([("endpoint", "must be specified")])
    parts = urlsplit(endpoint)
    if len(endpoint) > WEBHOOK_URL_MAX or parts.scheme not in ("https", "http") or not parts.netloc:
        raise LineError(400, INVALID_WEBHOOK_URL)


routes = [
    Route("/v2/bot/profile/{user_id}", profile, methods=["GET"]),
    Route("/v2/bot/followers/ids", followers_ids, methods=["GET"]),
    Route("/v2/bot/info", bot_info, methods=["GET"]),
    Route("/v2/bot/user/{user_id}/linkToken", link_token, methods=["POST"]),
    Route("/v2/bot/channel/webhook/endpoint", get_webhook_endpoint, methods=["GET"]),
    Route("/v2/bot/channel/webhook/endpoint", set_webhook_endpoint, methods=["PUT"]),
    Route("/v2/bot/channel/webhook/test", test_webhook_endpoint, methods=["POST"]),
]
