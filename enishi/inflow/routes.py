"""Public route pages: `GET /r/{code}` (what the QR code encodes), `POST /r/{code}/visit`
(the page's ID token → a RouteVisit → the add-friend URL) and `GET /r/{code}/qr.png`.

The page needs nothing from a CDN to work: in a normal browser it is a button that counts
an anonymous visit and forwards to the add-friend URL. When the account has a LIFF ID the
page also loads LINE's LIFF SDK and, inside LINE, sends `liff.getIDToken()` so the visit is
tied to the verified user."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from enishi.accounts.models import Account
from enishi.deps import AppState, app_state, db_session
from enishi.inflow.schemas import VisitIn, VisitOut
from enishi.inflow.service import (
    add_friend_url,
    bot_info_if_unknown,
    qr_png,
    record_anonymous_visit,
    record_visit,
    route_by_code,
    route_url,
    verify_visitor,
)
from enishi.kit.errors import ApiError

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")

LIFF_SDK_URL = "https://static.line-scdn.net/liff/edge/2/sdk.js"


def _headers(nonce: str | None = None, liff: bool = False) -> dict[str, str]:
    script = f"'nonce-{nonce}'" if nonce else "'none'"
    if liff:  # the SDK talks to LINE's hosts
        script += " https://*.line-scdn.net"
    return {
        "cache-control": "no-store",
        "referrer-policy": "no-referrer",
        "x-content-type-options": "nosniff",
        "content-security-policy": (
            f"default-src 'none'; script-src {script}; style-src 'unsafe-inline'; "
            f"img-src 'self' data:; connect-src 'self'{' https:' if liff else ''}; "
            "form-action 'self' https://line.me; base-uri 'none'; frame-ancestors 'none'"
        ),
    }


def _message(
    request: Request,
    status: int,
    title: str,
    title_en: str,
    body: str,
    body_en: str,
    link: str | None = None,
) -> Response:
    return templates.TemplateResponse(
        request,
        "inflow/message.html",
        {"title": title, "title_en": title_en, "body": body, "body_en": body_en, "link": link},
        status_code=status,
        headers=_headers(),
    )


def _not_found(request: Request) -> Response:
    return _message(
        request,
        404,
        "ページが見つかりません",
        "Page not found",
        "このQRコード・URLは無効になったか、入力に誤りがあります。",
        "This QR code or URL is no longer valid, or it was mistyped.",
    )


def _unavailable(request: Request) -> Response:
    return _message(
        request,
        503,
        "ただいま表示できません",
        "Temporarily unavailable",
        "しばらくしてから、もう一度お試しください。",
        "Please try again in a few minutes.",
    )


def _route_and_account(session: Session, code: str):
    route = route_by_code(session, code)
    account = session.get(Account, route.account_id) if route is not None else None
    return (route, account) if account is not None else (None, None)


@router.get("/r/{code}")
def route_page(
    code: str,
    request: Request,
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    route, account = _route_and_account(session, code)
    if route is None:
        return _not_found(request)
    try:
        bot = bot_info_if_unknown(account=account, line=state.line_for(account))
    except ApiError:
        return _unavailable(request)
    friend_url = add_friend_url(session, account=account, bot=bot)
    nonce = secrets.token_urlsafe(16)
    context = {
        "account_name": account.name,
        "code": route.code,
        "add_friend_url": friend_url,
        "liff_id": account.liff_id,
        "liff_sdk_url": LIFF_SDK_URL,
        "nonce": nonce,
    }
    return templates.TemplateResponse(
        request,
        "inflow/route.html",
        context,
        headers=_headers(nonce, liff=bool(account.liff_id)),
    )


@router.get("/r/{code}/qr.png")
def route_page_qr(
    code: str,
    request: Request,
    scale: int = Query(8),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    route = route_by_code(session, code)
    if route is None:
        return _not_found(request)
    return Response(
        qr_png(route_url(state.settings, route.code), scale),
        media_type="image/png",
        headers={"cache-control": "public, max-age=3600"},
    )


@router.post("/r/{code}/visit")
async def route_visit(
    code: str,
    request: Request,
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """JSON {id_token} from the page's script → JSON {add_friend_url}; a plain form POST →
    303 to the add-friend URL. Without an ID token the visit is counted as anonymous."""
    as_json = request.headers.get("content-type", "").startswith("application/json")
    if as_json:
        try:
            id_token = VisitIn.model_validate_json(await request.body()).id_token
        except ValidationError:
            raise ApiError(
                422, "invalid", "expected a JSON object {id_token}", "id_token"
            ) from None
    else:
        id_token = str((await request.form()).get("id_token") or "") or None
    at = None
    sim_time = request.headers.get("x-emulator-sim-time")
    if state.settings.trust_emulator_headers and sim_time:
        try:
            at = datetime.fromtimestamp(float(sim_time), UTC)
        except (ValueError, OverflowError):
            at = None
    return await run_in_threadpool(_visit, code, request, state, session, id_token, as_json, at)


def _visit(
    code: str,
    request: Request,
    state: AppState,
    session: Session,
    id_token: str | None,
    as_json: bool,
    at: datetime | None,
) -> Response:
    route, account = _route_and_account(session, code)
    if route is None:
        if as_json:
            raise ApiError(404, "not_found", "route not found")
        return _not_found(request)
    line = state.line_for(account)
    bot = None
    try:  # LINE first: nothing is written while LINE answers
        bot = bot_info_if_unknown(account=account, line=line)
        visitor = (
            verify_visitor(account=account, line=line, id_token=id_token) if id_token else None
        )
    except ApiError as error:
        if as_json:
            raise
        if error.status == 400:  # a rejected ID token: nothing is recorded, adding still works
            return _message(
                request,
                400,
                "ログイン情報を確認できませんでした",
                "Your LINE login could not be verified",
                "下のボタンから友だち追加できます。",
                "You can still add the account below.",
                link=add_friend_url(session, account=account, bot=bot),
            )
        return _unavailable(request)
    friend_url = add_friend_url(session, account=account, bot=bot)
    if visitor is not None:
        record_visit(session, route=route, line_user_id=visitor, at=at)
    else:
        record_anonymous_visit(session, route)
    if as_json:
        out = VisitOut(add_friend_url=friend_url, identified=bool(id_token))
        return JSONResponse(out.model_dump(), headers={"cache-control": "no-store"})
    return RedirectResponse(friend_url, status_code=303, headers={"cache-control": "no-store"})
