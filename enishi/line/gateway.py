"""The LINE gateway: every LINE endpoint enishi calls outside the delivery sender, as typed
methods that answer plain results and raise one error type (LineError).

It wraps the official line-bot-sdk, pointed at LINE or the emulator: only the host differs
(ENISHI_LINE_API_BASE), so the same paths, headers and bodies reach both. It refuses to
call LINE from a thread that holds an open write transaction (docs/decisions/0101).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
from linebot.v3.messaging import ApiClient, Configuration, MessagingApi, ValidateMessageRequest
from linebot.v3.messaging.exceptions import ApiException
from urllib3.exceptions import HTTPError

from enishi.config import Settings
from enishi.db.writes import holds_write_transaction
from enishi.line.errors import LineError

log = logging.getLogger(__name__)

T = TypeVar("T")
REQUEST_ID = "x-line-request-id"
LOGIN_TIMEOUT_S = 10


class LineCallInWriteTransaction(RuntimeError):
    """A LINE call from a thread holding an open write transaction: call LINE before the
    transaction writes, or after it commits."""


@dataclass(frozen=True)
class BotInfo:
    user_id: str
    basic_id: str
    display_name: str
    premium_id: str | None = None
    picture_url: str | None = None


@dataclass(frozen=True)
class Profile:
    user_id: str
    display_name: str
    picture_url: str | None = None
    status_message: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class MessageQuota:
    type: str  # none | limited
    value: int | None  # the monthly limit when limited


class LineGateway:
    """One account's channel: the Messaging API with its access token, and LINE Login."""

    def __init__(self, settings: Settings, access_token: str) -> None:
        self._settings = settings
        self._api_client = ApiClient(
            Configuration(host=settings.line_api_base, access_token=access_token)
        )
        self._messaging = MessagingApi(self._api_client)

    def close(self) -> None:
        self._api_client.close()

    # --- Messaging API -----------------------------------------------------------------------
    def bot_info(self, *, timeout: float | None = None) -> BotInfo:
        """GET /v2/bot/info."""
        info = self._call(lambda: self._messaging.get_bot_info(**_timeout(timeout)))
        return BotInfo(
            user_id=info.user_id,
            basic_id=info.basic_id,
            display_name=info.display_name,
            premium_id=info.premium_id,
            picture_url=info.picture_url,
        )

    def profile(self, user_id: str, *, timeout: float | None = None) -> Profile:
        """GET /v2/bot/profile/{userId}; LINE answers 404 for a user who is not a friend."""
        found = self._call(lambda: self._messaging.get_profile(user_id, **_timeout(timeout)))
        return Profile(
            user_id=found.user_id,
            display_name=found.display_name,
            picture_url=found.picture_url or None,
            status_message=found.status_message or None,
            language=found.language or None,
        )

    def issue_link_token(self, user_id: str) -> str:
        """POST /v2/bot/user/{userId}/linkToken: a token for LINE's account-link dialog."""
        return self._call(lambda: self._messaging.issue_link_token(user_id)).link_token

    def account_link_url(self, *, link_token: str, nonce: str) -> str:
        """LINE's account-link dialog for a link token (the user's browser opens it)."""
        query = urlencode({"linkToken": link_token, "nonce": nonce})
        return f"{self._settings.line_access_base.rstrip('/')}/dialog/bot/accountLink?{query}"

    def validate_push(self, messages: list[dict[str, Any]]) -> None:
        """POST /v2/bot/message/validate/push. ValueError or TypeError when the SDK itself
        refuses the messages (LINE is not asked)."""
        request = ValidateMessageRequest.from_dict({"messages": messages})
        self._call(lambda: self._messaging.validate_push(request))

    def validate_multicast(self, messages: list[dict[str, Any]]) -> None:
        """POST /v2/bot/message/validate/multicast; as validate_push."""
        request = ValidateMessageRequest.from_dict({"messages": messages})
        self._call(lambda: self._messaging.validate_multicast(request))

    def message_quota(self) -> MessageQuota:
        """GET /v2/bot/message/quota."""
        quota = self._call(self._messaging.get_message_quota)
        kind = str(getattr(quota.type, "value", quota.type))
        return MessageQuota(type=kind, value=quota.value if kind == "limited" else None)

    def quota_consumption(self) -> int:
        """GET /v2/bot/message/quota/consumption: messages LINE counted this month."""
        return int(self._call(self._messaging.get_message_quota_consumption).total_usage or 0)

    # --- LINE Login --------------------------------------------------------------------------
    def verify_id_token(
        self, id_token: str, *, client_id: str, nonce: str | None = None
    ) -> dict[str, Any]:
        """POST /oauth2/v2.1/verify: the token's claims (`sub` is the user ID)."""
        self._refuse_in_write_transaction()
        data = {"id_token": id_token, "client_id": client_id}
        if nonce:
            data["nonce"] = nonce
        url = f"{self._settings.line_api_base}/oauth2/v2.1/verify"
        try:
            response = _login_http().post(url, data=data)
        except httpx.HTTPError as error:
            raise LineError.unreachable(error) from None
        if response.status_code != 200:
            raise LineError.from_answer(
                response.status_code,
                response.content,
                reason=response.text or response.reason_phrase,
                request_id=response.headers.get(REQUEST_ID),
            )
        return response.json()

    # --- one way to call ---------------------------------------------------------------------
    def _call(self, call: Callable[[], T]) -> T:
        self._refuse_in_write_transaction()
        try:
            return call()
        except ApiException as error:
            headers = error.headers or {}
            raise LineError.from_answer(
                error.status,
                error.body,
                reason=error.reason,
                request_id=headers.get(REQUEST_ID),
            ) from None
        except (HTTPError, OSError) as error:
            raise LineError.unreachable(error) from None

    def _refuse_in_write_transaction(self) -> None:
        if not holds_write_transaction():
            return
        if self._settings.line_in_write_transaction == "raise":
            raise LineCallInWriteTransaction(LineCallInWriteTransaction.__doc__)
        log.error("LINE called inside a write transaction", stack_info=True)


def _timeout(seconds: float | None) -> dict[str, Any]:
    return {} if seconds is None else {"_request_timeout": seconds}


@functools.cache
def _login_http() -> httpx.Client:
    """One pooled client for LINE Login calls (a new client per call costs ~40 ms)."""
    return httpx.Client(timeout=LOGIN_TIMEOUT_S)
