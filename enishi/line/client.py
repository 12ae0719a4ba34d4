"""The LINE client enishi uses: the official line-bot-sdk, pointed at LINE or the emulator.

Only the host differs between production and tests (ENISHI_LINE_API_BASE), so everything
that works against the emulator sends the same paths, headers and bodies to LINE.
"""

from __future__ import annotations

import functools
from typing import Any

import httpx
from linebot.v3.messaging import ApiClient, Configuration, MessagingApi, MessagingApiBlob

from enishi.config import Settings


class LineClient:
    """One account's channel: the SDK's APIs plus the LINE Login verify call."""

    def __init__(self, settings: Settings, access_token: str) -> None:
        self._settings = settings
        self._api_client = ApiClient(
            Configuration(host=settings.line_api_base, access_token=access_token)
        )
        self._blob_client = ApiClient(
            Configuration(host=settings.line_data_api_base, access_token=access_token)
        )
        self.messaging = MessagingApi(self._api_client)
        self.blob = MessagingApiBlob(self._blob_client)

    def close(self) -> None:
        self._api_client.close()
        self._blob_client.close()


class IdTokenError(ValueError):
    pass


@functools.cache
def _login_http() -> httpx.Client:
    """One pooled client for LINE Login calls (a new client per call costs ~40 ms)."""
    return httpx.Client(timeout=10)


def verify_id_token(
    settings: Settings, id_token: str, client_id: str, nonce: str | None = None
) -> dict[str, Any]:
    """LINE Login's POST /oauth2/v2.1/verify; the claims (`sub` is the user ID) or an error."""
    data = {"id_token": id_token, "client_id": client_id}
    if nonce:
        data["nonce"] = nonce
    try:
        response = _login_http().post(f"{settings.line_api_base}/oauth2/v2.1/verify", data=data)
    except httpx.HTTPError as error:
        raise IdTokenError(f"LINE could not be reached: {type(error).__name__}") from None
    if response.status_code != 200:
        try:
            detail = response.json().get("error_description", response.text)
        except ValueError:
            detail = response.text
        raise IdTokenError(detail)
    return response.json()
