"""Rendering a page: templates, the language, the CSRF field, notices, security headers."""

from __future__ import annotations

import functools
import importlib.metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from enishi.operators.roles import Role
from enishi.web.context import ROLE_LABELS, AccountPage, Viewer
from enishi.web.csrf import FORM_FIELD, PRE_LOGIN_COOKIE, token_for_request
from enishi.web.i18n import LANG_COOKIE, N_, request_language, translate

TEMPLATES = Path(__file__).resolve().parent / "templates"
templates = Jinja2Templates(directory=TEMPLATES)

PLOTLY_URL = "/static/vendor/plotly.min.js"

# (key, label, path under /accounts/{id}); the key is what a page passes as `nav`.
NAVIGATION = [
    ("overview", N_("概要"), "overview"),
    ("friends", N_("友だち"), "friends"),
    ("segments", N_("セグメント"), "segments"),
    ("deliveries", N_("配信"), "deliveries"),
    ("clicks", N_("クリック分析"), "analysis/clicks"),
    ("routes", N_("流入経路"), "routes"),
    ("settings", N_("設定"), "settings"),
]

# ?notice=<key> after a redirect → the message the layout shows
NOTICES = {
    "saved": N_("保存しました。"),
    "revoked": N_("APIキーを無効にしました。"),
    "removed": N_("オペレーターを外しました。"),
    "logged_out_everywhere": N_("すべての端末からログアウトしました。"),
    "deleted": N_("削除しました。"),
    "created": N_("作成しました。"),
}


def register_notice(key: str, message: str) -> None:
    """A page module's own notice for `redirect_to(..., notice=key)`; mark it with N_."""
    if NOTICES.setdefault(key, message) != message:
        raise ValueError(f"notice {key!r} is registered already with another text")


SECURITY_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
}


@functools.cache
def _static_version() -> str:
    return importlib.metadata.version("plotly")


def _nav_from_path(path: str) -> str | None:
    parts = path.split("/")
    section = "/".join(parts[3:]) if len(parts) > 3 and parts[1] == "accounts" else ""
    for key, _label, sub in NAVIGATION:
        if section == sub or section.startswith(sub + "/"):
            return key
    return None


def render(
    request: Request,
    template: str,
    page: AccountPage | Viewer | None = None,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    pre_login: str | None = None,
) -> HTMLResponse:
    """The template with the layout's context. `page` is the AccountPage of an account
    page, the Viewer of a page outside accounts, or None before login. `pre_login` is a
    pre-login CSRF cookie value this response sets."""
    lang = request_language(request)
    viewer = page.viewer if isinstance(page, AccountPage) else page
    token = token_for_request(request, pre_login)

    def gettext(text: str, **values: object) -> str:
        return translate(lang, text, **values)

    def csrf_field() -> Markup:
        return Markup('<input type="hidden" name="{}" value="{}">').format(FORM_FIELD, token)

    def plotly_script() -> Markup:
        """plotly.js and the helper that draws every `data-chart` element of the page."""
        return Markup(
            '<script src="{}?v={}"></script><script src="/static/charts.js"></script>'
        ).format(PLOTLY_URL, _static_version())

    notice = NOTICES.get(request.query_params.get("notice", ""))
    values = {
        "_": gettext,
        "lang": lang,
        "csrf_token": token,
        "csrf_field": csrf_field,
        "plotly_script": plotly_script,
        "page": page if isinstance(page, AccountPage) else None,
        "viewer": viewer,
        "Role": Role,
        "navigation": NAVIGATION,
        "nav_paths": {key: sub for key, _label, sub in NAVIGATION},
        "nav": _nav_from_path(request.url.path),
        "notice": gettext(notice) if notice else None,
        "current_path": request.url.path,
        "role_label": lambda role: gettext(ROLE_LABELS[Role(role)]),
    }
    values.update(context or {})
    response = templates.TemplateResponse(request, template, values, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    if request.query_params.get("lang") in ("ja", "en"):
        remember_language(request, response, request.query_params["lang"])
    if pre_login:
        response.set_cookie(
            PRE_LOGIN_COOKIE, pre_login, httponly=True, samesite="lax", secure=secure(request)
        )
    return response


def secure(request: Request) -> bool:
    """Cookies are Secure when enishi is served over https."""
    return request.app.state.enishi.settings.public_base_url.startswith("https://")


def remember_language(request: Request, response, lang: str) -> None:
    response.set_cookie(
        LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", secure=secure(request)
    )


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go to after login, never another site (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ord(ch) < 32 or ch == "\\" for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def redirect_to(request: Request, path: str, *, notice: str | None = None) -> RedirectResponse:
    """303 to a local path after a successful POST, with a notice the layout shows."""
    if notice is not None:
        assert notice in NOTICES, f"unknown notice {notice!r}"
        path = f"{path}{'&' if '?' in path else '?'}{urlencode({'notice': notice})}"
    return RedirectResponse(safe_next(path), status_code=303)
