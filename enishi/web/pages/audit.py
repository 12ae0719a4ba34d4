"""監査ログ The audit log of an account (admins and owners) and the installation's own
entries, which belong to no account (installation owners), newest first, in local time."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from enishi.accounts.models import Account
from enishi.deps import db_session
from enishi.operators.audit import entries_for_account, installation_entries
from enishi.operators.roles import Role
from enishi.web.context import AccountPage, Viewer, account_page, signed_in
from enishi.web.errors import PageError
from enishi.web.i18n import N_
from enishi.web.localtime import local_time
from enishi.web.render import render

router = APIRouter()

PAGE_SIZE = 50

# actions recorded without an account (the filter of /settings/audit) → label
INSTALLATION_ACTIONS = {
    "operator.login": N_("ログイン"),
    "operator.logout_everywhere": N_("すべての端末からログアウト"),
    "operator.password_changed": N_("パスワードの変更"),
    "operator.password_reset": N_("パスワード再発行（CLI）"),
    "operator.created": N_("オペレーター作成（CLI）"),
    # the account's operators page records these on its account, the CLI on none
    "operator.disabled": N_("オペレーター利用停止"),
    "operator.enabled": N_("オペレーター利用再開"),
}

# action → label; an action without a label is shown as its name
ACTION_LABELS = {
    "settings.updated": N_("設定変更"),
    "settings.channel_updated": N_("LINEチャネル認証情報の変更"),
    "api_key.created": N_("APIキー発行"),
    "api_key.revoked": N_("APIキー無効化"),
    "operator.added": N_("オペレーター追加"),
    "operator.role_changed": N_("権限変更"),
    "operator.removed": N_("オペレーター削除"),
    "route.created": N_("流入経路作成"),
    "route.updated": N_("流入経路変更"),
    "route.deleted": N_("流入経路削除"),
    "segment.created": N_("セグメント作成"),
    "segment.updated": N_("セグメント変更"),
    "segment.deleted": N_("セグメント削除"),
    "friend.updated": N_("友だち情報の変更"),
    "friends.exported": N_("友だちCSVエクスポート"),
    "delivery.created": N_("配信の下書き作成"),
    "delivery.updated": N_("配信の下書き変更"),
    "delivery.scheduled": N_("配信予約"),
    "delivery.paused": N_("配信一時停止"),
    "delivery.resumed": N_("配信再開"),
    "delivery.cancelled": N_("配信キャンセル"),
    "delivery.deleted": N_("配信削除"),
    "friends.imported": N_("友だちCSVインポート"),
    **INSTALLATION_ACTIONS,
}


@router.get("/accounts/{account_id}/settings/audit")
def audit_page(
    request: Request,
    before: int | None = None,
    page: AccountPage = Depends(account_page(Role.ADMIN)),
    session: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    entries = entries_for_account(session, page.account.id, before_id=before, limit=PAGE_SIZE)
    older = entries[-1][0].id if len(entries) == PAGE_SIZE else None
    timezone = page.account.timezone
    return render(
        request,
        "audit/list.html",
        page,
        {
            "tab": "audit",
            "entries": entries,
            "older": older,
            "older_link": f"?before={older}",
            "labels": ACTION_LABELS,
            "timezone": timezone,
            "when": local_time(timezone, seconds=True),
        },
    )


@router.get("/settings/audit")
def installation_audit_page(
    request: Request,
    action: str = "",
    before: int | None = None,
    viewer: Viewer = Depends(signed_in),
    session: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    """Logins and other entries of no account, for installation owners. The installation
    has no time zone of its own: times are in the first account's (Asia/Tokyo without one)."""
    if not viewer.operator.is_owner:
        raise PageError(403, N_("このページはインストールのオーナーだけが見られます。"))
    entries = installation_entries(
        session, action=action or None, before_id=before, limit=PAGE_SIZE
    )
    older = entries[-1][0].id if len(entries) == PAGE_SIZE else None
    timezone = (
        session.scalar(select(Account.timezone).order_by(Account.id).limit(1)) or "Asia/Tokyo"
    )
    query = "?" + urlencode({"action": action, "before": older} if action else {"before": older})
    return render(
        request,
        "audit/installation.html",
        viewer,
        {
            "entries": entries,
            "older": older,
            "older_link": query,
            "labels": ACTION_LABELS,
            "actions": INSTALLATION_ACTIONS,
            "action": action,
            "timezone": timezone,
            "when": local_time(timezone, seconds=True),
        },
    )
