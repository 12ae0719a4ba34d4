"""接続テスト: ask LINE for the bot's info with the account's stored access token."""

from __future__ import annotations

import json

from linebot.v3.messaging.exceptions import ApiException
from urllib3.exceptions import HTTPError

from enishi.accounts.models import Account
from enishi.deps import AppState

TIMEOUT_SECONDS = 10


def check_connection(state: AppState, account: Account) -> dict[str, str]:
    """{"ok": "yes", "name", "basic_id"} or {"ok": "", "reason", "status", "error"}: a
    stable reason (settings.CONNECTION_ERRORS words it) and the detail (LINE's message)."""
    try:
        client = state.line_for(account)
        info = client.messaging.get_bot_info(_request_timeout=TIMEOUT_SECONDS)
    except ApiException as error:
        reason = "token_refused" if error.status in (401, 403) else "line_error"
        return {
            "ok": "",
            "reason": reason,
            "status": str(error.status),
            "error": _line_message(error),
        }
    except (HTTPError, OSError) as error:
        return {
            "ok": "",
            "reason": "unreachable",
            "status": "",
            "error": f"LINE unreachable: {type(error).__name__}",
        }
    except ValueError as error:  # the sealed token cannot be opened
        return {"ok": "", "reason": "unsealable", "status": "", "error": str(error)}
    return {"ok": "yes", "name": info.display_name, "basic_id": info.basic_id}


def _line_message(error: ApiException) -> str:
    """LINE answers errors as {"message": "..."}; fall back to the HTTP reason."""
    try:
        body = json.loads(error.body or b"{}")
    except ValueError:
        body = {}
    return str(body.get("message") or error.reason or "error")
