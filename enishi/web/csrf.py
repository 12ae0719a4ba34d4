"""CSRF protection: every unsafe request to a page must carry a token only our pages know.

The token is an HMAC of the session cookie (before login: of the `enishi_pre` cookie), so
it is per session, needs no storage, and another site can neither read nor compute it.
`csrf_protect` is a dependency of the whole web router, so no page can forget it."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request

from enishi.kit.crypto import derive_key
from enishi.web.errors import PageError
from enishi.web.i18n import N_

SESSION_COOKIE = "enishi_session"
PRE_LOGIN_COOKIE = "enishi_pre"
FORM_FIELD = "csrf_token"
HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def csrf_token(secret_key: str, binding: str) -> str:
    key = derive_key(secret_key, "csrf")
    return hmac.new(key, binding.encode(), hashlib.sha256).hexdigest()


def new_pre_login_value() -> str:
    return secrets.token_urlsafe(32)


def token_for_request(request: Request, pre_login: str | None = None) -> str:
    """The token the page being rendered puts in its forms."""
    binding = (
        request.cookies.get(SESSION_COOKIE) or pre_login or request.cookies.get(PRE_LOGIN_COOKIE)
    )
    if not binding:
        return ""
    return csrf_token(request.app.state.enishi.secret_key, binding)


async def csrf_protect(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(HEADER, "")
    if not sent and request.headers.get("content-type", "").startswith(_FORM_TYPES):
        sent = str((await request.form()).get(FORM_FIELD, ""))
    secret_key = request.app.state.enishi.secret_key
    for cookie in (SESSION_COOKIE, PRE_LOGIN_COOKIE):
        binding = request.cookies.get(cookie)
        if binding and sent and hmac.compare_digest(csrf_token(secret_key, binding), sent):
            return
    raise PageError(
        403,
        N_(
            "フォームの有効期限が切れたか、不正な送信です。ページを再読み込みしてやり直してください。"
        ),
    )
