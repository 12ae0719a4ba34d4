"""Login, logout, logout everywhere, the home redirect and the language switch."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from enishi.audit.actor import Actor, client_ip
from enishi.audit.service import record
from enishi.deps import db_session
from enishi.operators.service import authenticate, normalize_email
from enishi.operators.sessions import (
    LIFETIME,
    end_all_sessions,
    end_session,
    operator_for_token,
    purge_expired,
    start_session,
)
from enishi.operators.throttle import clear_failures, is_throttled, record_failure
from enishi.web.context import Viewer, signed_in, signed_in_with_any_password
from enishi.web.csrf import PRE_LOGIN_COOKIE, SESSION_COOKIE, new_pre_login_value
from enishi.web.errors import PageError
from enishi.web.i18n import LANGUAGES, N_
from enishi.web.render import (
    NOTICES,
    redirect_to,
    remember_language,
    render,
    safe_next,
    secure,
)

router = APIRouter()


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=secure(request),
    )


def _login_form(
    request: Request,
    *,
    next_path: str,
    email: str = "",
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    pre_login = None if request.cookies.get(PRE_LOGIN_COOKIE) else new_pre_login_value()
    return render(
        request,
        "auth/login.html",
        None,
        {"next": next_path, "email": email, "error": error},
        status=status,
        pre_login=pre_login,
    )


@router.get("/login")
def login_page(
    request: Request, next: str = "/", session: Session = Depends(db_session, scope="function")
) -> Response:
    if operator_for_token(session, request.cookies.get(SESSION_COOKIE, "")) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_form(request, next_path=safe_next(next))


@router.post("/login")
def login(
    request: Request,
    email: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    email = normalize_email(email)
    ip = client_ip(request)
    if is_throttled(session, email, ip):
        raise PageError(
            429,
            N_(
                "ログインの失敗が続いたため、しばらくログインできません。15分ほど待ってからやり直してください。"
            ),
        )
    operator = authenticate(session, email, password)
    if operator is None:
        record_failure(session, email, ip)
        return _login_form(
            request,
            next_path=safe_next(next),
            email=email,
            error=N_("メールアドレスまたはパスワードが違います。"),
            status=401,
        )
    clear_failures(session, email)
    if old := request.cookies.get(SESSION_COOKIE):
        end_session(session, old)  # a fresh session id on every login (no fixation)
    purge_expired(session)
    token = start_session(session, operator, ip=ip, user_agent=request.headers.get("user-agent"))
    record(
        session,
        actor=Actor.operator(operator.id, ip),
        action="operator.login",
        details={"ip": ip},
    )
    target = safe_next(next)
    if operator.must_change_password:  # a one-time password: replace it before anything else
        target = f"/password?{urlencode({'next': target})}"
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, token)
    response.delete_cookie(PRE_LOGIN_COOKIE)
    return response


def _signed_out(request: Request, notice: str | None = None) -> Response:
    response = redirect_to(request, "/login", notice=notice)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax", secure=secure(request))
    return response


@router.post("/logout")
def logout(request: Request, session: Session = Depends(db_session, scope="function")) -> Response:
    end_session(session, request.cookies.get(SESSION_COOKIE, ""))
    return _signed_out(request)


@router.post("/logout/all")
def logout_everywhere(
    request: Request,
    viewer: Viewer = Depends(signed_in_with_any_password),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    ended = end_all_sessions(session, viewer.operator.id)
    record(
        session,
        actor=Actor.operator(viewer.operator.id, client_ip(request)),
        action="operator.logout_everywhere",
        details={"sessions": ended},
    )
    return _signed_out(request, notice="logged_out_everywhere")


@router.get("/")
def home(request: Request, viewer: Viewer = Depends(signed_in)) -> Response:
    """The first account's overview; a short explanation when there is no account yet."""
    if viewer.accounts:
        target = f"/accounts/{viewer.accounts[0].id}/overview"
        if (notice := request.query_params.get("notice")) in NOTICES:  # e.g. after /password
            target += f"?{urlencode({'notice': notice})}"
        return RedirectResponse(target, status_code=303)
    return render(request, "home.html", viewer)


@router.get("/lang/{lang}")
def switch_language(request: Request, lang: str, next: str = "/") -> Response:
    response = RedirectResponse(safe_next(next), status_code=303)
    if lang in LANGUAGES:
        remember_language(request, response, lang)
    return response
