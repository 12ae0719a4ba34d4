"""パスワード変更 An operator changes their own password: the current one first, the same
rule as `enishi operator create`, every other session ended, audited. Operators with a
one-time password are sent here until they have changed it (context.signed_in)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from enishi.audit.actor import Actor, client_ip
from enishi.audit.service import record
from enishi.deps import db_session
from enishi.operators.passwords import MAX_LENGTH, MIN_LENGTH, verify_password
from enishi.operators.service import OperatorError, change_password
from enishi.operators.sessions import start_session
from enishi.operators.throttle import is_throttled, record_failure
from enishi.web.context import Viewer, signed_in_with_any_password
from enishi.web.errors import PageError
from enishi.web.i18n import N_
from enishi.web.pages.auth import set_session_cookie
from enishi.web.render import redirect_to, register_notice, render, safe_next

router = APIRouter()

register_notice(
    "password_changed", N_("パスワードを変更しました。他の端末はログアウトされました。")
)


def _form(
    request: Request,
    viewer: Viewer,
    *,
    next_path: str,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "auth/password.html",
        viewer,
        {
            "next": next_path,
            "error": error,
            "forced": viewer.operator.must_change_password,
            "min_length": MIN_LENGTH,
            "max_length": MAX_LENGTH,
        },
        status=status,
    )


@router.get("/password")
def password_page(
    request: Request, next: str = "/", viewer: Viewer = Depends(signed_in_with_any_password)
) -> HTMLResponse:
    return _form(request, viewer, next_path=safe_next(next))


@router.post("/password")
def submit_password(
    request: Request,
    current_password: str = Form(""),
    new_password: str = Form(""),
    new_password_again: str = Form(""),
    next: str = Form("/"),
    viewer: Viewer = Depends(signed_in_with_any_password),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    operator, ip, next_path = viewer.operator, client_ip(request), safe_next(next)
    # Wrong current passwords count as failed logins: a stolen session cannot guess it.
    if is_throttled(session, operator.email, ip):
        raise PageError(
            429,
            N_(
                "ログインの失敗が続いたため、しばらくログインできません。15分ほど待ってからやり直してください。"
            ),
        )
    if not verify_password(operator.password_hash, current_password):
        record_failure(session, operator.email, ip)
        return _form(
            request,
            viewer,
            next_path=next_path,
            error=N_("現在のパスワードが違います。"),
            status=422,
        )
    if new_password != new_password_again:
        return _form(
            request,
            viewer,
            next_path=next_path,
            error=N_("新しいパスワードが確認用と一致しません。"),
            status=422,
        )
    forced = operator.must_change_password
    try:
        ended = change_password(session, operator, new_password)
    except OperatorError as error:
        return _form(request, viewer, next_path=next_path, error=str(error), status=422)
    # every session ended, this one too: this browser continues on a fresh one
    token = start_session(session, operator, ip=ip, user_agent=request.headers.get("user-agent"))
    record(
        session,
        actor=Actor.operator(operator.id, ip),
        action="operator.password_changed",
        target=f"operator:{operator.id}",
        details={"other_sessions_ended": max(ended - 1, 0), "one_time": forced},
    )
    response = redirect_to(request, next_path, notice="password_changed")
    set_session_cookie(request, response, token)
    return response
