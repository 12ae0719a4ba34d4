"""LINE Login ID tokens for virtual friends, as `liff.getIDToken()` gives them: JWTs signed
HS256 with the channel secret, `aud` the channel's login channel. Issued by the control API
and by friends who open a LIFF page (a route page before they add the account)."""

from __future__ import annotations

from typing import Any

import jwt

from enishi.emulator.state import Channel, Friend

ISSUER = "https://access.line.me"
DEFAULT_EXPIRES_IN = 3600


def login_channel_id(channel: Channel) -> str:
    return str(channel.login_channel_id or channel.channel_id)


def issue_id_token(
    channel: Channel,
    friend: Friend,
    now: float,
    *,
    nonce: str | None = None,
    expires_in: int = DEFAULT_EXPIRES_IN,
) -> str:
    """An ID token for `friend`, with the claims in the order LINE's example shows them."""
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": friend.user_id,
        "aud": login_channel_id(channel),
        "exp": int(now) + expires_in,
        "iat": int(now),
    }
    if nonce:
        claims["nonce"] = nonce
    claims["amr"] = ["pwd"]
    claims["name"] = friend.display_name
    if friend.picture_url:
        claims["picture"] = friend.picture_url
    return jwt.encode(claims, channel.channel_secret, algorithm="HS256", headers={"typ": "JWT"})
