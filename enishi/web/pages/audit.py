"""監査ログ The audit log of an account, for admins and owners, newest first."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from enishi.deps import db_session
from enishi.operators.audit import entries_for_account
from enishi.operators.roles import Role
from enishi.web.context import AccountPage, account_page
from enishi.web.i18n import N_
from enishi.web.render import render

router = APIRouter()

PAGE_SIZE = 50

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
    return render(
        request,
        "audit/list.html",
        page,
        {"tab": "audit", "entries": entries, "older": older, "labels": ACTION_LABELS},
    )
