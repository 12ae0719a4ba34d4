"""接続テスト: ask LINE for the bot's info with the account's stored access token."""

from __future__ import annotations

from enishi.accounts.models import Account
from enishi.deps import AppState
from enishi.line.errors import LineError

TIMEOUT_SECONDS = 10


def check_connection(state: AppState, account: Account) -> dict[str, str]:
    """{"ok": "yes", "name", "basic_id"} or {"ok": "", "reason", "status", "error"}: a
    stable reason (settings.CONNECTION_ERRORS words it) and the detail (LINE's message)."""
    try:
        info = state.line_for(account).bot_info(timeout=TIMEOUT_SECONDS)
    except LineError as error:
        if not error.reached:
            return {
                "ok": "",
                "reason": "unreachable",
                "status": "",
                "error": f"LINE unreachable: {error.message}",
            }
        reason = "token_refused" if error.status in (401, 403) else "line_error"
        return {"ok": "", "reason": reason, "status": str(error.status), "error": error.message}
    except ValueError as error:  # the sealed token cannot be opened
        return {"ok": "", "reason": "unsealable", "status": "", "error": str(error)}
    return {"ok": "yes", "name": info.display_name, "basic_id": info.basic_id}
