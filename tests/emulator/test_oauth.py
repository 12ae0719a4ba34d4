"""LINE Login ID tokens: issued for a virtual friend by the control API (as a LIFF page gets
one), verified by POST /oauth2/v2.1/verify with LINE's claims and error descriptions.

line-bot-sdk has no client for /oauth2/v2.1/verify (linebot.v3.oauth only covers channel
access tokens), so these requests are plain form posts, as LINE documents them.
"""

from __future__ import annotations

import httpx
import jwt
import pytest


def friend(running):
    return next(f for f in running.channel.friends.values() if f.is_friend)


def id_token(running, user_id: str, **body) -> str:
    answer = httpx.post(
        f"{running.base_url}/_emulator/channels/{running.channel.channel_id}/friends/"
        f"{user_id}/id-token",
        json=body,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["idToken"]


def verify(running, **form) -> httpx.Response:
    # no Authorization header: the endpoint is public
    return httpx.post(f"{running.base_url}/oauth2/v2.1/verify", data=form, timeout=10)


def error(answer: httpx.Response) -> str:
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"
    assert answer.headers["x-line-request-id"]
    return answer.json()["error_description"]


def test_verify_returns_the_claims(checked_emulator):
    user = friend(checked_emulator)
    token = id_token(checked_emulator, user.user_id, nonce="n-0123456789abcdef")
    channel_id = checked_emulator.channel.channel_id
    answer = verify(
        checked_emulator,
        id_token=token,
        client_id=channel_id,
        nonce="n-0123456789abcdef",
        user_id=user.user_id,
    )
    assert answer.status_code == 200 and answer.headers["x-line-request-id"]
    claims = answer.json()
    now = checked_emulator.emulator.state.clock.now()
    assert claims["iss"] == "https://access.line.me"
    assert (claims["sub"], claims["aud"], claims["nonce"]) == (
        user.user_id,
        channel_id,
        "n-0123456789abcdef",
    )
    assert claims["amr"] == ["pwd"] and claims["name"] == user.display_name
    assert claims.get("picture") == user.picture_url
    assert abs(claims["iat"] - now) < 2 and claims["exp"] - claims["iat"] == 3600
    header = jwt.get_unverified_header(token)
    assert (header["alg"], header["typ"]) == ("HS256", "JWT")
    # without the optional fields, and without a nonce in the token
    plain = id_token(checked_emulator, user.user_id)
    answer = verify(checked_emulator, id_token=plain, client_id=channel_id)
    assert answer.status_code == 200 and "nonce" not in answer.json()


def test_verify_errors(checked_emulator):
    user = friend(checked_emulator)
    channel = checked_emulator.channel
    token = id_token(checked_emulator, user.user_id, nonce="abc")
    ok = {"id_token": token, "client_id": channel.channel_id}
    assert error(verify(checked_emulator, **{**ok, "client_id": "1999999999"})) == (
        "Invalid IdToken Audience."
    )
    assert error(verify(checked_emulator, **ok, nonce="other")) == "Invalid IdToken Nonce."
    assert error(verify(checked_emulator, **ok, user_id="U" + "0" * 32)) == (
        "Invalid IdToken Subject Identifier."
    )
    head, payload, signature = token.split(".")
    tampered = f"{head}.{payload}.{signature[:-4]}AAAA"
    assert error(verify(checked_emulator, **{**ok, "id_token": tampered})) == "Invalid IdToken."
    assert error(verify(checked_emulator, **{**ok, "id_token": "garbage"})) == "Invalid IdToken."
    forged = jwt.encode(
        {
            "iss": "https://access.line.me",
            "sub": user.user_id,
            "aud": channel.channel_id,
            "exp": 2**40,
            "iat": 0,
        },
        "not-the-channel-secret-0123456789",
        algorithm="HS256",
    )
    assert error(verify(checked_emulator, **{**ok, "id_token": forged})) == "Invalid IdToken."
    elsewhere = jwt.encode(
        {
            "iss": "https://example.com",
            "sub": user.user_id,
            "aud": channel.channel_id,
            "exp": 2**40,
            "iat": 0,
        },
        channel.channel_secret,
        algorithm="HS256",
    )
    assert error(verify(checked_emulator, **{**ok, "id_token": elsewhere})) == (
        "Invalid IdToken Issuer."
    )
    assert error(verify(checked_emulator, client_id=channel.channel_id)).endswith("id_token")


def test_expiry_follows_the_emulator_clock(checked_emulator):
    user = friend(checked_emulator)
    token = id_token(checked_emulator, user.user_id, expiresIn=600)
    form = {"id_token": token, "client_id": checked_emulator.channel.channel_id}
    assert verify(checked_emulator, **form).status_code == 200

    async def later():
        checked_emulator.emulator.state.clock.advance(601)

    checked_emulator.call(later())
    assert error(verify(checked_emulator, **form)) == "IdToken expired."


def test_login_channel_id_is_the_audience(start_checked_emulator):
    running = start_checked_emulator(friends=5, login_channel_id="1657000000")
    user = friend(running)
    token = id_token(running, user.user_id)
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == "1657000000"
    assert verify(running, id_token=token, client_id="1657000000").status_code == 200
    assert error(verify(running, id_token=token, client_id=running.channel.channel_id)) == (
        "Invalid IdToken Audience."
    )


@pytest.mark.parametrize("body, status", [({"expiresIn": 0}, 400), ({"nonce": 5}, 400)])
def test_control_route_errors(checked_emulator, body, status):
    base = f"{checked_emulator.base_url}/_emulator/channels/{checked_emulator.channel.channel_id}"
    user = friend(checked_emulator)
    assert httpx.post(f"{base}/friends/{user.user_id}/id-token", json=body).status_code == status
    unknown = httpx.post(f"{base}/friends/U{'f' * 32}/id-token")
    assert unknown.status_code == 404
    no_channel = httpx.post(
        f"{checked_emulator.base_url}/_emulator/channels/1/friends/{user.user_id}/id-token"
    )
    assert no_channel.status_code == 404
