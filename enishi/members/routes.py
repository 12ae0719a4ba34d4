"""The built-in member-link page, for brands without their own account-link integration:
`GET /members/link/{token}` shows a form (member ID), `POST` starts LINE's account-link
flow and redirects to LINE's dialog. The token is a signed, expiring (account, LINE user)
from `link_page_url`; the form carries a per-form CSRF token bound to a cookie."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from enishi.accounts.models import Account
from enishi.deps import AppState, app_state, db_session
from enishi.kit.crypto import Signer
from enishi.kit.errors import ApiError
from enishi.members.service import clean_member_id, create_link_session, read_link_page_token

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")

CSRF_COOKIE = "enishi_link_csrf"
COOKIE_PATH = "/members/link"
PAGE_HEADERS = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",  # the token in our URL must not reach other sites
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self' https: http:; frame-ancestors 'none'; base-uri 'none'",
}


def _page(request: Request, name: str, status: int = 200, **context) -> Response:
    return templates.TemplateResponse(
        request, f"members/{name}", context, status_code=status, headers=PAGE_HEADERS
    )


def _message(
    request: Request, status: int, title: str, title_en: str, body: str, body_en: str
) -> Response:
    return _page(
        request, "message.html", status, title=title, title_en=title_en, body=body, body_en=body_en
    )


def _invalid_link(request: Request) -> Response:
    return _message(
        request,
        404,
        "リンクが無効です",
        "This link is not valid",
        "このリンクは無効か、有効期限が切れています。LINEのトーク画面からもう一度開いてください。",
        "The link is invalid or has expired. Please open it again from the LINE chat.",
    )


def _csrf_signer(state: AppState) -> Signer:
    return Signer(state.secret_key, "member-link-csrf", size=16)


def _form_token(state: AppState, cookie: str, token: str) -> str:
    mac = _csrf_signer(state).sign(f"{cookie}|{token}".encode())
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _csrf_ok(state: AppState, request: Request, token: str, sent: str) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not sent:
        return False
    return secrets.compare_digest(_form_token(state, cookie, token), sent)


def _account(session: Session, account_id: int) -> Account | None:
    return session.get(Account, account_id)


def _start(
    request: Request,
    session: Session,
    state: AppState,
    account: Account,
    line_user_id: str,
    member_id: str,
) -> Response:
    """Create the link session and send the browser to LINE's account-link dialog (the only
    place this page ever redirects to: built from ENISHI_LINE_ACCESS_BASE, not the request)."""
    try:
        link = create_link_session(
            session,
            line=state.line_for(account),
            account=account,
            line_user_id=line_user_id,
            member_id=member_id,
        )
    except ApiError as error:
        if error.code == "line_rejected":
            return _message(
                request,
                409,
                "連携を開始できませんでした",
                "Linking could not start",
                f"{account.name} のLINE公式アカウントを友だち追加してから、もう一度お試しください。",
                "Please add the LINE Official Account as a friend, then try again.",
            )
        return _message(
            request,
            502,
            "ただいま連携できません",
            "Linking is unavailable right now",
            "しばらくしてから、もう一度お試しください。",
            "Please try again in a few minutes.",
        )
    return RedirectResponse(link.redirect_url, status_code=303, headers=PAGE_HEADERS)


@router.get("/members/link/{token}")
def link_page(
    token: str,
    request: Request,
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    found = read_link_page_token(state.secret_key, token)
    account = _account(session, found[0]) if found else None
    if found is None or account is None:
        return _invalid_link(request)
    member_header = request.headers.get("x-emulator-member-id")
    if state.settings.trust_emulator_headers and member_header:
        # the emulator's virtual friends cannot type: the header is what they would enter
        return _start(request, session, state, account, found[1], member_header)
    cookie = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(16)
    response = _page(
        request,
        "link_form.html",
        account_name=account.name,
        member_id="",
        csrf=_form_token(state, cookie, token),
        error=None,
    )
    response.set_cookie(
        CSRF_COOKIE,
        cookie,
        max_age=3600,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=state.settings.public_base_url.startswith("https://"),
    )
    return response


@router.post("/members/link/{token}")
async def link_submit(
    token: str,
    request: Request,
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    form = await request.form()
    fields = {key: str(form.get(key, "")) for key in ("csrf", "member_id")}
    # the database and the LINE call block: off the event loop, like the sync routes
    return await run_in_threadpool(_submit, token, request, state, session, fields)


def _submit(
    token: str, request: Request, state: AppState, session: Session, fields: dict[str, str]
) -> Response:
    found = read_link_page_token(state.secret_key, token)
    if found is None:
        return _invalid_link(request)
    if not _csrf_ok(state, request, token, fields["csrf"]):
        return _message(
            request,
            403,
            "もう一度お試しください",
            "Please try again",
            "フォームの有効期限が切れたか、不正な送信です。リンクを開き直してください。",
            "The form expired or the request was not sent from it. Please reopen the link.",
        )
    account = _account(session, found[0])
    if account is None:
        return _invalid_link(request)
    try:
        member_id = clean_member_id(fields["member_id"])
    except ApiError:
        return _page(
            request,
            "link_form.html",
            422,
            account_name=account.name,
            member_id=fields["member_id"][:200],
            csrf=fields["csrf"],
            error="会員IDを入力してください(200文字まで) / Enter your member ID",
        )
    return _start(request, session, state, account, found[1], member_id)
