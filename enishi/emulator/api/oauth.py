"""LINE Login's ID token verification (`POST /oauth2/v2.1/verify`, LINE_PLATFORM.md §6), and
a control route that issues ID tokens for virtual friends, as `liff.getIDToken()` would.

Tokens are JWTs signed HS256 with the channel secret (what LINE does for web login),
`aud` is the channel's `login_channel_id` or, when it has none, its channel ID. Expiry is
judged on the emulator's clock, so a test can move time past `exp`.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl

import jwt
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from enishi.emulator.api.base import JSONResponse
from enishi.emulator.api.control import ControlError, _body, _channel, _friend, control
from enishi.emulator.idtokens import (
    DEFAULT_EXPIRES_IN,
    ISSUER,
    issue_id_token,
    login_channel_id,
)
from enishi.emulator.runtime import Emulator

MAX_EXPIRES_IN = 30 * 86400

INVALID = "Invalid IdToken."
INVALID_ISSUER = "Invalid IdToken Issuer."
EXPIRED = "IdToken expired."
INVALID_AUDIENCE = "Invalid IdToken Audience."
INVALID_NONCE = "Invalid IdToken Nonce."
INVALID_SUBJECT = "Invalid IdToken Subject Identifier."


class VerifyError(Exception):
    def __init__(self, description: str) -> None:
        self.description = description


def verify_id_token(emulator: Emulator, form: dict[str, str]) -> dict[str, Any]:
    """The token's claims, or VerifyError with LINE's error_description."""
    token = form.get("id_token", "")
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise VerifyError(INVALID) from None
    if header.get("alg") != "HS256":
        raise VerifyError(INVALID)
    claims = None
    for channel in emulator.state.channels.values():
        if login_channel_id(channel) != str(unverified.get("aud")):
            continue
        try:
            claims = jwt.decode(
                token,
                channel.channel_secret,
                algorithms=["HS256"],
                options={
                    "verify_exp": False,
                    "verify_aud": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_iss": False,
                },
            )
            break
        except jwt.PyJWTError:
            continue
    if claims is None:
        raise VerifyError(INVALID)
    if claims.get("iss") != ISSUER:
        raise VerifyError(INVALID_ISSUER)
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp <= emulator.state.clock.now():
        raise VerifyError(EXPIRED)
    if str(claims.get("aud")) != form.get("client_id"):
        raise VerifyError(INVALID_AUDIENCE)
    nonce = form.get("nonce")
    if nonce and claims.get("nonce") != nonce:
        raise VerifyError(INVALID_NONCE)
    user_id = form.get("user_id")
    if user_id and claims.get("sub") != user_id:
        raise VerifyError(INVALID_SUBJECT)
    return claims


async def verify(request: Request) -> Response:
    """POST /oauth2/v2.1/verify: form fields id_token, client_id, nonce?, user_id?.

    No Bearer token (LINE Login's endpoint is public); every answer has a request id."""
    emulator: Emulator = request.app.state.emulator
    raw = await request.body()
    form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    missing = [name for name in ("id_token", "client_id") if not form.get(name)]
    if missing:
        body = {
            "error": "invalid_request",
            "error_description": f"Required parameter is missing: {missing[0]}",
        }
        response = JSONResponse(body, status_code=400)
    else:
        try:
            response = JSONResponse(verify_id_token(emulator, form))
        except VerifyError as error:
            response = JSONResponse(
                {"error": "invalid_request", "error_description": error.description},
                status_code=400,
            )
    response.headers["x-line-request-id"] = str(uuid.uuid4())
    return response


@control
async def id_token(request: Request) -> dict:
    """Control API: an ID token for a virtual friend. Body (optional): {nonce, expiresIn}."""
    emulator: Emulator = request.app.state.emulator
    channel = _channel(request)
    friend = _friend(request, channel)
    body = await _body(request)
    nonce = body.get("nonce")
    if nonce is not None and not isinstance(nonce, str):
        raise ControlError(400, "nonce must be a string")
    expires_in = body.get("expiresIn", DEFAULT_EXPIRES_IN)
    if type(expires_in) is not int or not 1 <= expires_in <= MAX_EXPIRES_IN:
        raise ControlError(400, f"expiresIn must be an integer 1..{MAX_EXPIRES_IN}")
    token = issue_id_token(
        channel, friend, emulator.state.clock.now(), nonce=nonce, expires_in=expires_in
    )
    return {"idToken": token}


routes = [
    Route("/oauth2/v2.1/verify", verify, methods=["POST"]),
    Route(
        "/_emulator/channels/{channel_id}/friends/{user_id}/id-token", id_token, methods=["POST"]
    ),
]
