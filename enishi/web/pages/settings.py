"""設定 Settings of an account: LINE channel connection, general settings, API keys
(operators: pages/operators.py). Every change writes the audit log (in the services)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from enishi.accounts.models import ApiKey
from enishi.accounts.schemas import AccountPatch
from enishi.accounts.service import (
    CREDENTIALS,
    create_api_key,
    revoke_api_key,
    update_settings,
)
from enishi.deps import AppState, app_state, db_session
from enishi.operators.roles import Role
from enishi.web.context import AccountPage, account_page
from enishi.web.i18n import N_
from enishi.web.line_check import check_connection
from enishi.web.render import redirect_to, render

router = APIRouter()


BASE = "/accounts/{account_id}/settings"

GENERAL_FIELDS = (
    "name",
    "timezone",
    "cost_per_message_jpy",
    "monthly_quota",
    "attribution_window_days",
)
FIELD_ERRORS = {
    "name": N_("アカウント名を1〜200文字で入力してください。"),
    "timezone": N_("タイムゾーンが正しくありません（例: Asia/Tokyo）。"),
    "cost_per_message_jpy": N_("1通あたりの費用は0〜1000の数値で入力してください。"),
    "monthly_quota": N_("月間上限は0以上の整数で入力してください（空欄は上限なし）。"),
    "attribution_window_days": N_("アトリビューション期間は1〜90日で入力してください。"),
    "channel_secret": N_("チャネルシークレットが長すぎます。"),
    "access_token": N_("アクセストークンが長すぎます。"),
}
CONNECTION_ERRORS = {  # line_check's reasons; LINE's own message follows as the detail
    "token_refused": N_(
        "LINEがアクセストークンを受け付けませんでした。LINE Developersで発行したチャネルアクセストークンを設定し直してください。"
    ),
    "line_error": N_("LINEがエラーを返しました。"),
    "unreachable": N_(
        "LINEに接続できません。ネットワークと、enishiに設定したLINE APIのURLを確認してください。"
    ),
    "unsealable": N_(
        "保存されている認証情報を復号できません（ENISHI_SECRET_KEYが変わった可能性があります）。チャネルシークレットとアクセストークンを設定し直してください。"
    ),
}


def webhook_url(state: AppState, channel_id: str) -> str:
    return f"{state.settings.public_base_url.rstrip('/')}/webhooks/line/{channel_id}"


def _general_page(
    request: Request,
    page: AccountPage,
    state: AppState,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    connection: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    account = page.account
    shown = {field: getattr(account, field) for field in GENERAL_FIELDS}
    shown.update(values or {})
    return render(
        request,
        "settings/general.html",
        page,
        {
            "tab": "general",
            "values": shown,
            "errors": errors or {},
            "webhook_url": webhook_url(state, account.channel_id),
            "connection": connection,
            "connection_errors": CONNECTION_ERRORS,
        },
        status=status,
    )


@router.get(BASE)
def settings_page(
    request: Request,
    page: AccountPage = Depends(account_page(Role.VIEWER)),
    state: AppState = Depends(app_state),
) -> HTMLResponse:
    return _general_page(request, page, state)


def _validate(raw: dict[str, str]) -> tuple[AccountPatch | None, dict[str, str]]:
    try:
        return AccountPatch(**{k: v for k, v in raw.items()}), {}
    except ValidationError as error:
        fields = {str(e["loc"][0]) for e in error.errors() if e["loc"]}
        return None, {
            field: FIELD_ERRORS.get(field, N_("入力が正しくありません。")) for field in fields
        }


@router.post(BASE + "/general")
def save_general(
    request: Request,
    name: str = Form(""),
    timezone: str = Form(""),
    cost_per_message_jpy: str = Form(""),
    monthly_quota: str = Form(""),
    attribution_window_days: str = Form(""),
    page: AccountPage = Depends(account_page(Role.ADMIN)),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    form = {
        "name": name.strip(),
        "timezone": timezone.strip(),
        "cost_per_message_jpy": cost_per_message_jpy.strip(),
        "monthly_quota": monthly_quota.strip() or None,
        "attribution_window_days": attribution_window_days.strip(),
    }
    errors: dict[str, str] = {}
    try:
        Decimal(form["cost_per_message_jpy"])
    except InvalidOperation:
        errors["cost_per_message_jpy"] = FIELD_ERRORS["cost_per_message_jpy"]
    patch, invalid = _validate({k: v for k, v in form.items() if k not in errors})
    errors.update(invalid)
    if errors or patch is None:
        return _general_page(request, page, state, values=form, errors=errors, status=422)
    values = {
        field: value
        for field, value in patch.model_dump(include=set(GENERAL_FIELDS)).items()
        if field == "monthly_quota" or value is not None  # no quota is a value
    }
    update_settings(session, page.account, values=values, box=state.box, actor=page.actor)
    return redirect_to(request, BASE.format(account_id=page.account.id), notice="saved")


@router.post(BASE + "/channel")
def save_channel(
    request: Request,
    channel_secret: str = Form(""),
    access_token: str = Form(""),
    page: AccountPage = Depends(account_page(Role.ADMIN)),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """Write-only: empty fields keep the stored value; nothing is ever shown back."""
    given = {
        k: v.strip()
        for k, v in (("channel_secret", channel_secret), ("access_token", access_token))
        if v.strip()
    }
    patch, errors = _validate(given)
    if errors or patch is None:
        return _general_page(request, page, state, errors=errors, status=422)
    values = patch.model_dump(include=set(CREDENTIALS))
    update_settings(session, page.account, values=values, box=state.box, actor=page.actor)
    return redirect_to(request, BASE.format(account_id=page.account.id), notice="saved")


@router.post(BASE + "/channel/test")
async def test_channel(
    request: Request,
    page: AccountPage = Depends(account_page(Role.ADMIN)),
    state: AppState = Depends(app_state),
) -> HTMLResponse:
    """接続テスト: LINE's bot info endpoint with the stored token; the bot's name or LINE's
    error. Changes nothing, so it is not audited."""
    connection = await run_in_threadpool(check_connection, state, page.account)
    return _general_page(request, page, state, connection=connection)


# API keys ---------------------------------------------------------------------------------


def _api_keys_page(
    request: Request,
    page: AccountPage,
    session: Session,
    *,
    created: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    keys = session.scalars(
        select(ApiKey).where(ApiKey.account_id == page.account.id).order_by(ApiKey.id.desc())
    ).all()
    return render(
        request,
        "settings/api_keys.html",
        page,
        {"tab": "api_keys", "keys": keys, "created": created, "error": error},
        status=status,
    )


@router.get(BASE + "/api-keys")
def api_keys_page(
    request: Request,
    page: AccountPage = Depends(account_page(Role.ADMIN)),
    session: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    return _api_keys_page(request, page, session)


@router.post(BASE + "/api-keys")
def create_key(
    request: Request,
    name: str = Form(""),
    page: AccountPage = Depends(account_page(Role.ADMIN)),
    session: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    name = name.strip()
    if not 1 <= len(name) <= 100:
        return _api_keys_page(
            request,
            page,
            session,
            status=422,
            error=N_("キーの名前を1〜100文字で入力してください。"),
        )
    _, full = create_api_key(session, page.account, name, actor=page.actor)
    return _api_keys_page(request, page, session, created=full, status=201)


@router.post(BASE + "/api-keys/{key_id}/revoke")
def revoke_key(
    request: Request,
    key_id: int,
    page: AccountPage = Depends(account_page(Role.ADMIN)),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    revoke_api_key(session, page.owned(session, ApiKey, key_id), actor=page.actor)
    return redirect_to(
        request, BASE.format(account_id=page.account.id) + "/api-keys", notice="revoked"
    )
